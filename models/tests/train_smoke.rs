//! The generic trainer on generated seed models (fixture sizes): a few epochs of the reference's
//! protocol on random data run end to end, the losses stay finite, the reports are written, and a
//! run resumed from a mid-run checkpoint ends exactly where the uninterrupted run does.

mod common;

use common::random_data;
use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, ReportOptions, TrainConfig};
use drg_models::*;

fn run<M: DrgModel<Cpu>>() {
    let data = random_data::<M, _>(28);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        schedule: ScheduleConfig { epochs: 3, warm_up_epochs: 1, ..ScheduleConfig::default() },
        reports: ReportOptions { save_predictions: true, ..ReportOptions::default() },
        progress: false,
        verbose: false,
        ..TrainConfig::reference(1e-4)
    };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "m");
    let whole = train::<M, _>(&data, &cfg, &out).unwrap();
    assert!(whole.lines.len() >= 4, "{}: {:?}", M::SPEC.name, whole.lines);
    assert!(whole.lines.iter().all(|l| l.train.is_finite() && l.orig_val.is_finite()), "{:?}", whole.lines);
    assert!(out.file("_pred.npz").exists() && out.file("_loss.txt").exists() && out.weights().exists());
    let out2 = OutputPaths::new(&format!("{}/", dir.path().display()), "cut");
    assert!(!train::<M, _>(&data, &TrainConfig { stop_after_passes: Some(2), ..cfg.clone() }, &out2).unwrap().completed);
    let resumed = train::<M, _>(&data, &TrainConfig { resume: true, ..cfg }, &out2).unwrap();
    assert_eq!(resumed.lines, whole.lines, "{}", M::SPEC.name);
    assert_eq!(resumed.evaluation.unwrap().preds, whole.evaluation.unwrap().preds);
}

#[test]
fn single_input_model_trains_and_resumes() {
    run::<ModelAFixture>();
}

#[test]
fn two_input_three_output_model_trains_and_resumes() {
    run::<ModelDFixture>();
}
