//! One pass of a model over batches of a set: with updates (a training epoch), without gradient
//! (the epoch-0 pass, validation, prediction), and the reference's epoch losses
//! ([`super::loss::epoch_loss`]) from what a pass saw.
//!
//! Inputs are handed to the model as `(batch, channels, length)` tensors: in a training step the
//! first carries the model's gradients (`traced(grads)`) and the others empty `OwnedTape`s that
//! merge inside the model; without gradient all carry `NoneTape`. The loss is the **sum** over the
//! batch, per head through [`loss::loss_sum`], heads summed (the reference's multi-output loss).

use dfdx::prelude::*;

use super::data_fit::append_side_by_side;
use super::loss::{self, epoch_loss, summed_loss, EpochTracks, LossKind};
use super::optim::Optimizer;
use super::prefetch::for_each_prefetched;
use super::progress::Progress;
use crate::data::{Dataset, SeqSet};
use crate::device::DrgDevice;
use crate::layers::Ctx;
use crate::model::{DrgModel, InputBatch};
use crate::ops::catch_alloc_failure;

/// What a pass collected: predictions and targets of every row it saw (dropped rows excluded),
/// each `rows × ΣT` with heads concatenated, and the summed training loss of the updates.
#[derive(Debug, Clone, Default)]
pub struct PassRecord {
    pub preds: Vec<f32>,
    pub targets: Vec<f32>,
    pub summed_train_loss: f64,
}

/// The loss functions of a model's heads and the epoch-loss normalisers ([`super::loss::EpochTracks`]).
#[derive(Debug, Clone)]
pub struct HeadLosses {
    pub train: Vec<LossKind>,
    pub validation: Vec<LossKind>,
    pub widths: Vec<usize>,
    pub tracks: EpochTracks,
}

impl HeadLosses {
    /// The losses of model `M` with `widths` tracks per output (the data's): the declaration's,
    /// or `loss` for training and `validation[i]` for output `i` when given (the reference's
    /// `loss_function` / `validation_loss` at run time).
    pub fn of<M: DrgModel<D>, D: DrgDevice>(
        widths: &[usize],
        loss: Option<LossKind>,
        validation: Option<&[LossKind]>,
    ) -> anyhow::Result<Self> {
        let spec = M::SPEC;
        let validation: Vec<LossKind> = match validation {
            Some(v) => {
                anyhow::ensure!(
                    v.len() == spec.outputs.len(),
                    "validation_loss: {} losses for the {} outputs of model {}",
                    v.len(),
                    spec.outputs.len(),
                    spec.name
                );
                v.to_vec()
            }
            None => spec.outputs.iter().map(|o| o.validation).collect(),
        };
        anyhow::ensure!(validation.iter().any(|l| l.counts()), "validation_loss: every output is None, so nothing drives early stopping");
        let train = loss.unwrap_or(spec.loss);
        anyhow::ensure!(train.counts(), "loss_function=None: the training loss must be a loss");
        Ok(Self { train: vec![train; widths.len()], tracks: EpochTracks::new(widths, &validation), validation, widths: widths.to_vec() })
    }

    /// `(training loss function, validation loss function)` of the collected predictions, each
    /// divided by `n` (the full set size) times the tracks it counts.
    pub fn epoch_losses(&self, record: &PassRecord, n: usize) -> anyhow::Result<(f64, f64)> {
        let orig = summed_loss(&self.train, &record.preds, &record.targets, &self.widths)?;
        let val = summed_loss(&self.validation, &record.preds, &record.targets, &self.widths)?;
        Ok((epoch_loss(orig, n, self.tracks.all), epoch_loss(val, n, self.tracks.valid)))
    }

    /// The training loss of the updates divided by `n · ΣT`.
    pub fn train_loss(&self, record: &PassRecord, n: usize) -> f64 {
        epoch_loss(record.summed_train_loss, n, self.tracks.all)
    }
}

/// A model returning another number of heads than its spec declares is a bug in the model.
fn check_heads<M: DrgModel<D>, D: DrgDevice>(got: usize) -> anyhow::Result<()> {
    let want = M::SPEC.outputs.len();
    anyhow::ensure!(got == want && want > 0, "model {} returned {got} outputs, its spec declares {want}", M::SPEC.name);
    Ok(())
}

/// Runs a pass whose largest batch has `rows` sequences. Memory that one of its allocations could
/// not get (see [`crate::ops::AllocFailure`]) becomes one error line naming the batch size and the
/// memory. The prefetch thread's scope is inside, so it is joined before the error is returned.
fn run_batch<R>(rows: usize, batch: impl FnOnce() -> anyhow::Result<R>) -> anyhow::Result<R> {
    catch_alloc_failure(batch).map_err(|failure| {
        anyhow::anyhow!(
            "a batch of {rows} sequences needs more memory than this machine gives: {failure}; choose a smaller batch size (--batchsize, or batchsize= in --cnn)"
        )
    })?
}

/// The gathered inputs of `rows` as tensors on `dev` with tape `T` (`NoneTape`, or empty
/// `OwnedTape`s).
fn input_tensors<D: DrgDevice, T: Tape<f32, D> + Default>(
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    host: Vec<Vec<f32>>,
) -> Vec<InputBatch<D, T>> {
    data.inputs.iter().zip(host).map(|(x, buf)| dev.tensor_from_vec(buf, (rows.len(), 4, x.length)).retaped::<T>()).collect()
}

/// A pass without gradient over `batches` in the mode of `ctx_for(batch index)` (eval for
/// validation and prediction; train for the reference's epoch-0 pass). `dev` is the model's
/// device.
#[allow(clippy::too_many_arguments)]
pub fn pass_without_gradient<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    batches: &[Vec<usize>],
    mut ctx_for: impl FnMut(usize) -> Ctx,
    progress: &Progress,
    label: &str,
) -> anyhow::Result<PassRecord> {
    let widths = data.n_tracks();
    let mut rec = PassRecord::default();
    progress.start_pass(label, batches.iter().map(Vec::len).sum());
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    run_batch(largest, || {
        for_each_prefetched(
            data,
            batches,
            |n| dev.host_buffer(n),
            |b, rows, batch| {
                let mut ctx = ctx_for(b);
                let heads = model.forward(input_tensors::<D, NoneTape>(dev, data, rows, batch.inputs), &mut ctx);
                check_heads::<M, D>(heads.len())?;
                let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
                append_side_by_side(&host, &widths, rows.len(), &mut rec.preds);
                append_side_by_side(&batch.targets, &widths, rows.len(), &mut rec.targets);
                progress.batch_done(rows.len(), None);
                Ok(())
            },
        )
    })?;
    dev.end_pass();
    Ok(rec)
}

/// A training pass: for every batch a forward pass in train mode (`ctx_for(batch index)`), the
/// summed loss, backward, and one optimizer step. `grads` is reused between batches.
#[allow(clippy::too_many_arguments)]
pub fn training_pass<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    opt: &mut Optimizer<D>,
    grads: &mut Option<Gradients<f32, D>>,
    data: &Dataset,
    batches: &[Vec<usize>],
    mut ctx_for: impl FnMut(usize) -> Ctx,
    losses: &HeadLosses,
    progress: &Progress,
) -> anyhow::Result<PassRecord> {
    let mut rec = PassRecord::default();
    let per_value = (losses.tracks.all.max(1)) as f64;
    let mut seen = 0usize;
    progress.start_pass("train", batches.iter().map(Vec::len).sum());
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    run_batch(largest, || {
        for_each_prefetched(
            data,
            batches,
            |n| dev.host_buffer(n),
            |b, rows, batch| {
                let mut ctx = ctx_for(b);
                let g = grads.take().unwrap_or_else(|| model.alloc_grads());
                let mut inputs = input_tensors::<D, OwnedTape<f32, D>>(dev, data, rows, batch.inputs);
                inputs[0] = inputs[0].retaped::<NoneTape>().traced(g);
                let heads = model.forward(inputs, &mut ctx);
                check_heads::<M, D>(heads.len())?;
                let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
                let targets = batch.targets;
                let mut total: Option<Tensor<Rank0, f32, D, OwnedTape<f32, D>>> = None;
                for (h, head) in heads.into_iter().enumerate() {
                    let l = loss::loss_sum(losses.train[h], head, &targets[h])?;
                    total = Some(match total {
                        None => l,
                        Some(t) => t + l,
                    });
                }
                let total = total.ok_or_else(|| anyhow::anyhow!("model {} has no outputs", M::SPEC.name))?;
                let value = total.as_vec()[0] as f64;
                let mut g = total.backward();
                opt.update(model, &mut g)?;
                model.zero_grads(&mut g);
                *grads = Some(g);
                rec.summed_train_loss += value;
                append_side_by_side(&host, &losses.widths, rows.len(), &mut rec.preds);
                append_side_by_side(&targets, &losses.widths, rows.len(), &mut rec.targets);
                seen += rows.len();
                progress.batch_done(rows.len(), Some(rec.summed_train_loss / (seen as f64 * per_value)));
                Ok(())
            },
        )
    })?;
    dev.end_pass();
    Ok(rec)
}

/// Predictions for `rows` in eval mode, in sequential batches of `batch_size` (the reference's
/// `batched_predict`), `rows × ΣT` with heads concatenated.
pub fn predict<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    batch_size: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<f32>> {
    let batches: Vec<Vec<usize>> = rows.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect();
    Ok(pass_without_gradient(model, dev, data, &batches, |_| Ctx::eval(), progress, "predict")?.preds)
}

/// Predictions of `model` for `rows` of `inputs` (sequences alone, no measured values), in eval
/// mode and sequential batches of `batch_size` as [`predict`]: `rows × ΣT`, heads side by side,
/// with the model's own track counts.
pub fn predict_inputs<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    inputs: &[SeqSet],
    rows: &[usize],
    batch_size: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<f32>> {
    let widths = model.output_widths();
    let mut preds = Vec::with_capacity(rows.len() * widths.iter().sum::<usize>());
    progress.start_pass("predict", rows.len());
    run_batch(batch_size, || {
        for batch in rows.chunks(batch_size.max(1)) {
            let tensors: Vec<InputBatch<D, NoneTape>> = inputs
                .iter()
                .map(|s| {
                    let w = 4 * s.length;
                    let mut buf = dev.host_buffer(batch.len() * w);
                    for (&i, dst) in batch.iter().zip(buf.chunks_exact_mut(w.max(1))) {
                        s.bases.expand_row(i, dst);
                    }
                    dev.tensor_from_vec(buf, (batch.len(), 4, s.length))
                })
                .collect();
            let heads = model.forward(tensors, &mut Ctx::eval());
            check_heads::<M, D>(heads.len())?;
            let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
            append_side_by_side(&host, &widths, batch.len(), &mut preds);
            progress.batch_done(batch.len(), None);
        }
        Ok(())
    })?;
    dev.end_pass();
    Ok(preds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_whose_memory_cannot_be_had_is_one_error_line() {
        let dev: dfdx::tensor::Cpu = Default::default();
        // More values than the address space holds: refused on any machine, without touching memory.
        let n = usize::MAX / 8;
        let err = run_batch(4096, || Ok(dev.host_buffer(n).len())).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "a batch of 4096 sequences needs more memory than this machine gives: cannot allocate 8.0 EiB for one buffer of {n} values; choose a smaller batch size (--batchsize, or batchsize= in --cnn)"
            )
        );
        assert!(!err.contains('\n'));
        // The same through a host kernel's own scratch buffers.
        let err = run_batch(2, || Ok(crate::ops::host::Scratch::for_overwrite(n).len())).unwrap_err().to_string();
        assert!(err.starts_with("a batch of 2 sequences needs more memory"), "{err}");
        // A batch that fits runs as it is.
        assert_eq!(run_batch(2, || Ok(dev.host_buffer(3))).unwrap(), vec![0.0; 3]);
        // Other panics are not swallowed.
        let other = std::panic::catch_unwind(|| run_batch(1, || -> anyhow::Result<()> { panic!("a bug") }));
        assert!(other.is_err());
    }
}
