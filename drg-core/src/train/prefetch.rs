//! Prefetch: the host side of the next batch (inputs expanded from the packed bases into their
//! `(B, 4, L)` buffers, targets gathered) is prepared on a second thread while the current
//! batch trains, so the data path is off the step's critical path.
//!
//! The buffers themselves are taken on the calling thread (`alloc`, the device's
//! [`crate::device::DrgDevice::host_buffer`], which recycles dfdx's buffer cache and so must stay
//! balanced with what the step frees), handed to the worker, filled there and handed back in
//! batch order. Filling is a pure function of the rows, so what a pass computes does not depend
//! on the thread: loss lines are bit for bit those of a pass that gathers in line.

use std::sync::mpsc;

use crate::data::Dataset;

/// The host values of one batch: every input `(B, 4, L_k)` and every output file's targets
/// `(B, T_i)`, row-major.
#[derive(Debug)]
pub struct HostBatch {
    pub inputs: Vec<Vec<f32>>,
    pub targets: Vec<Vec<f32>>,
}

/// Runs `step(b, rows, host batch)` for every batch in order, with batch `b + 1` gathered on a
/// worker thread while `step` works on batch `b`. Stops at the first error of `step`.
pub fn for_each_prefetched(
    data: &Dataset,
    batches: &[Vec<usize>],
    mut alloc: impl FnMut(usize) -> Vec<f32>,
    mut step: impl FnMut(usize, &[usize], HostBatch) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut empty_buffers = |rows: &[usize]| -> Vec<Vec<f32>> { data.inputs.iter().map(|x| alloc(rows.len() * 4 * x.length)).collect() };
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::channel::<(usize, Vec<Vec<f32>>)>();
        let (done_tx, done_rx) = mpsc::channel::<HostBatch>();
        scope.spawn(move || {
            for (b, mut inputs) in job_rx {
                for (k, buf) in inputs.iter_mut().enumerate() {
                    data.gather_input_into(k, &batches[b], buf);
                }
                let targets = data.gather_targets(&batches[b]);
                if done_tx.send(HostBatch { inputs, targets }).is_err() {
                    return;
                }
            }
        });
        if let Some(first) = batches.first() {
            job_tx.send((0, empty_buffers(first))).expect("the prefetch thread ended early");
        }
        for (b, rows) in batches.iter().enumerate() {
            let host = done_rx.recv().expect("the prefetch thread ended early");
            if let Some(next) = batches.get(b + 1) {
                job_tx.send((b + 1, empty_buffers(next))).expect("the prefetch thread ended early");
            }
            step(b, rows, host)?;
        }
        Ok(())
        // Dropping `job_tx` here ends the worker's loop; the scope joins it.
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::test_model::synthetic;

    #[test]
    fn batches_arrive_in_order_with_the_gathered_values() {
        let data = synthetic(40);
        let batches: Vec<Vec<usize>> = vec![vec![3, 1, 4], vec![15, 9], vec![2, 6, 5, 35]];
        let mut seen = Vec::new();
        for_each_prefetched(
            &data,
            &batches,
            |n| vec![f32::NAN; n],
            |b, rows, host| {
                assert_eq!(host.inputs, data.gather_inputs(rows), "batch {b}");
                assert_eq!(host.targets, data.gather_targets(rows), "batch {b}");
                seen.push(b);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn an_error_of_a_step_ends_the_pass() {
        let data = synthetic(40);
        let batches: Vec<Vec<usize>> = (0..5).map(|b| vec![b, b + 5]).collect();
        let mut steps = 0;
        let err = for_each_prefetched(
            &data,
            &batches,
            |n| vec![0.0; n],
            |b, _, _| {
                steps += 1;
                anyhow::ensure!(b < 2, "stop at batch {b}");
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!((err.to_string().as_str(), steps), ("stop at batch 2", 3));
    }
}
