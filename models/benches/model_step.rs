//! What users run: the generated models A and D through the trainer's own code path.
//!
//! For each model and size (`demo`: 2 kb, 64 kernels; `full`: 40 kb, 300 kernels), on random
//! one-hot inputs and random targets, batch 8, on the CPU device:
//!
//! * **train step**: `training_pass` over one batch (inputs expanded from the packed bases,
//!   forward in train mode with the tape, the summed loss, backward, the reference's SGD update,
//!   gradients zeroed), the median over the timed repetitions;
//! * **eval forward**: `pass_without_gradient` over one batch in eval mode (no tape), the same;
//! * **stages**: forwards in train mode (tape on, as in a step) and in eval mode with a
//!   [`StageClock`] in the context: the time from one stage's record point to the next, i.e.
//!   which layer takes the time (medians over the timed repetitions); "backward + update" is the
//!   step's median minus the forward's.
//!
//! Run: `cargo bench -p drg-models --bench model_step` (arguments pick what runs: `demo`,
//! `full`, `a`, `d`; default everything). Full size takes a few GB and about a minute per model.

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::layers::{Ctx, StageClock};
use drg_core::model::DrgModel;
use drg_core::train::optim::{Optimizer, OptimizerKind};
use drg_core::train::passes::{pass_without_gradient, training_pass, HeadLosses};
use drg_core::train::progress::Progress;
use drg_models::{ModelADemo, ModelAFull, ModelDDemo, ModelDFull};

const BATCH: usize = 8;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Median forward-stage times over repeated passes (every pass records the same stages in the
/// same order), and the median total.
fn print_stages(label: &str, clocks: &[StageClock], totals: Vec<Duration>) -> Duration {
    let total = median(totals);
    println!("    {label}: forward {} s (median of {})", secs(total), clocks.len());
    for (i, (name, _)) in clocks[0].stages.iter().enumerate() {
        let t = median(clocks.iter().map(|c| c.stages[i].1).collect());
        let share = 100.0 * t.as_secs_f64() / total.as_secs_f64().max(1e-12);
        if share >= 1.0 {
            println!("      {name:<28} {:>8} s {share:>5.1} %", secs(t));
        }
    }
    total
}

/// One model at one size: `reps` timed repetitions after one untimed.
fn bench<M: DrgModel<Cpu>>(name: &str, reps: usize, large_eval_batch: Option<usize>) {
    let dev = <Cpu as DrgDevice>::open(0, 1).unwrap();
    let mut data = common::random_data::<M, Cpu>(2 * BATCH);
    data.split.train = (0..BATCH).collect();
    data.split.val = (BATCH..2 * BATCH).collect();
    let widths = data.n_tracks();
    let mut model = M::new(&dev, &widths);
    let losses = HeadLosses::of::<M, Cpu>(&widths, None, None, None).unwrap();
    let mut opt = Optimizer::<Cpu>::new(OptimizerKind::reference_sgd(), 1e-6);
    let progress = Progress::new(0, false);
    let mut grads = None;
    let train_batch = vec![data.split.train.clone()];
    let eval_batch = vec![data.split.val.clone()];
    let (mut steps, mut evals) = (Vec::new(), Vec::new());
    for rep in 0..=reps {
        let t = Instant::now();
        training_pass(&mut model, &dev, &mut opt, &mut grads, &data, &train_batch, |b| Ctx::train(b as u64), &losses, &progress).unwrap();
        let step = t.elapsed();
        let t = Instant::now();
        pass_without_gradient(&mut model, &dev, &data, &eval_batch, |_| Ctx::eval(), &progress, "valid").unwrap();
        let eval = t.elapsed();
        if rep > 0 {
            steps.push(step);
            evals.push(eval);
        }
    }
    let (step, eval) = (median(steps), median(evals));
    println!("{name}: train step {} s, eval forward {} s (batch {BATCH}, median of {reps})", secs(step), secs(eval));

    // Stage times: the same inputs, forward only, once with the tape (train mode) and once without.
    let rows = &data.split.train;
    let inputs = |dev: &Cpu| -> Vec<Tensor<(usize, usize, usize), f32, Cpu>> {
        data.inputs.iter().enumerate().map(|(k, x)| dev.tensor_from_vec(data.gather_input(k, rows), (rows.len(), 4, x.length))).collect()
    };
    let (mut clocks, mut totals) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let g = grads.take().unwrap_or_else(|| model.alloc_grads());
        let mut taped: Vec<_> = inputs(&dev).into_iter().map(|x| x.retaped::<OwnedTape<f32, Cpu>>()).collect();
        taped[0] = taped[0].retaped::<NoneTape>().traced(g);
        let mut ctx = Ctx::train(1).with_clock();
        let t = Instant::now();
        let heads = model.forward(taped, &mut ctx);
        totals.push(t.elapsed());
        drop(heads);
        clocks.push(ctx.clock.unwrap());
        dev.end_pass();
    }
    let forward = print_stages("train mode, tape", &clocks, totals);
    println!("    backward + update (step median − forward median): {} s", secs(step.saturating_sub(forward)));
    let (mut clocks, mut totals) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let mut ctx = Ctx::eval().with_clock();
        let t = Instant::now();
        let heads = model.forward(inputs(&dev), &mut ctx);
        totals.push(t.elapsed());
        drop(heads);
        clocks.push(ctx.clock.unwrap());
        dev.end_pass();
    }
    print_stages("eval mode, no tape", &clocks, totals);
    dev.end_pass();
    if let Some(rows) = large_eval_batch {
        // Evaluation in larger batches: the same rows in batches of 8 and in one batch.
        let mut data = common::random_data::<M, Cpu>(rows);
        data.split.val = (0..rows).collect();
        let by_8: Vec<Vec<usize>> = data.split.val.chunks(BATCH).map(<[usize]>::to_vec).collect();
        let whole = vec![data.split.val.clone()];
        let time = |model: &mut M, batches: &[Vec<usize>]| {
            let t = Instant::now();
            let rec = pass_without_gradient(model, &dev, &data, batches, |_| Ctx::eval(), &progress, "valid").unwrap();
            (t.elapsed(), rec.preds)
        };
        let _ = time(&mut model, &whole);
        let (t8, p8) = time(&mut model, &by_8);
        let (t_all, p_all) = time(&mut model, &whole);
        let diff = p8.iter().zip(&p_all).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!(
            "    eval of {rows} rows: {} s in batches of {BATCH}, {} s in one batch; largest prediction difference {diff:.1e}",
            secs(t8),
            secs(t_all)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |what: &str| {
        let sizes = ["demo", "full"];
        let models = ["a", "d"];
        let (size_args, model_args): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| sizes.contains(&a.as_str()));
        let model_args: Vec<&String> = model_args.into_iter().filter(|a| models.contains(&a.as_str())).collect();
        let (model, size) = what.split_once(' ').unwrap();
        (size_args.is_empty() || size_args.iter().any(|s| *s == size)) && (model_args.is_empty() || model_args.iter().any(|m| *m == model))
    };
    println!("CPU threads available: {}", std::thread::available_parallelism().map_or(1, |n| n.get()));
    if wants("a demo") {
        bench::<ModelADemo>("model A demo (2 kb, 64 kernels)", 10, Some(64));
    }
    if wants("d demo") {
        bench::<ModelDDemo>("model D demo (2 kb, 64 kernels)", 10, Some(64));
    }
    if wants("a full") {
        bench::<ModelAFull>("model A full (40 kb, 300 kernels)", 2, Some(16));
    }
    if wants("d full") {
        bench::<ModelDFull>("model D full (40 kb, 300 kernels)", 2, None);
    }
}
