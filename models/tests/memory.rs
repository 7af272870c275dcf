//! Training memory does not grow with the number of steps.
//!
//! A counting global allocator records the peak of live heap bytes during a run. Everything a
//! step allocates must be freed or reused by the next step, so a run with 10 training steps per
//! epoch must peak no higher than one with 2 (give or take allocator noise). This caught dfdx's CPU buffer cache
//! collecting every activation our host kernels allocate (they build tensors from plain `Vec`s,
//! which the cache takes on drop but never hands back), which ran the built-in demo out of 24 GB
//! within two epochs; the trainer now empties it after every pass over a set (`DrgDevice::end_pass`).

mod common;

use std::sync::Mutex;

use common::random_data;
use drg_core::data::Split;
use drg_core::dfdx::prelude::*;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, TrainConfig};
use drg_models::ModelDFixture;
use drg_test_support::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// Tests of this binary measure one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Peak live bytes above the level before the run (the data excluded) of 3 epochs with
/// `train` training genes (batches of 8).
fn peak_of_run(n_train: usize) -> usize {
    let n = n_train + 12;
    let mut data = random_data::<ModelDFixture, Cpu>(n);
    data.split = Split { train: (0..n_train).collect(), val: (n_train..n_train + 8).collect(), test: (n_train + 8..n).collect() };
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        // No early stop, no fine-tuning: exactly 3 epochs.
        schedule: ScheduleConfig { epochs: 3, patience: 1000, warm_up_epochs: 0, finetuning: false, ..ScheduleConfig::default() },
        progress: false,
        verbose: false,
        ..TrainConfig::reference(1e-4)
    };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "m");
    let (res, peak) = HEAP.peak_during(|| train::<ModelDFixture, _>(&data, &cfg, &out).unwrap());
    assert_eq!(res.lines.len(), 4);
    peak
}

#[test]
fn memory_does_not_grow_with_the_number_of_steps() {
    let _guard = ONE_AT_A_TIME.lock().unwrap();
    // 2 and then 10 training steps per epoch
    let (short, long) = (peak_of_run(16), peak_of_run(80));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!("peak live heap: {:.1} MiB with 2 steps per epoch, {:.1} MiB with 10", mib(short), mib(long));
    assert!(long <= short + short / 10, "peak live heap: {:.1} MiB with 2 steps per epoch, {:.1} MiB with 10", mib(short), mib(long));
}

/// Peak live bytes above the level before the run (the data excluded) of a trial run
/// (`max_steps` 3) of model D on `n` genes, 90 % of them training genes.
fn peak_of_trial(n: usize) -> usize {
    let mut data = random_data::<ModelDFixture, Cpu>(n);
    let (n_train, n_val) = (n * 9 / 10, n / 20);
    data.split = Split { train: (0..n_train).collect(), val: (n_train..n_train + n_val).collect(), test: (n_train + n_val..n).collect() };
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig { max_steps: Some(3), progress: false, verbose: false, ..TrainConfig::reference(1e-4) };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "m");
    let (res, peak) = HEAP.peak_during(|| train::<ModelDFixture, _>(&data, &cfg, &out).unwrap());
    assert!(!res.completed && res.lines.len() == 2, "{:?}", res.lines);
    peak
}

/// The first steps of a run on a genome-sized set (`--max_steps`, how BENCHMARKS.md measures
/// model D at full size on 20,000 genes) hold no more than on a small set: nothing is expanded
/// or collected per gene of the set, only per batch.
#[test]
fn a_trial_run_does_not_grow_with_the_number_of_genes() {
    let _guard = ONE_AT_A_TIME.lock().unwrap();
    let (small, large) = (peak_of_trial(80), peak_of_trial(4000));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!("peak live heap of 3 steps: {:.1} MiB on 80 genes, {:.1} MiB on 4,000", mib(small), mib(large));
    assert!(large <= small + small / 10, "peak live heap of 3 steps: {:.1} MiB on 80 genes, {:.1} MiB on 4,000", mib(small), mib(large));
}
