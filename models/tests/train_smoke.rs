//! The generic trainer on generated seed models (fixture sizes): a few epochs of the reference's
//! protocol on random data run end to end, the losses stay finite, the reports are written, and a
//! run resumed from a mid-run checkpoint ends exactly where the uninterrupted run does.

use drg_core::data::{Dataset, Matrix, SeqSet, Split};
use drg_core::model::DrgModel;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, ReportOptions, TrainConfig};
use drg_core::dfdx::prelude::*;
use drg_models::*;
use rand::{Rng, SeedableRng};

/// Random one-hot inputs and random targets of the shapes `M` declares.
fn random_data<M: DrgModel<Cpu>>(n: usize) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let genes: Vec<String> = (0..n).map(|i| format!("g{i:03}")).collect();
    let inputs = M::SPEC
        .inputs
        .iter()
        .map(|s| {
            let mut data = vec![0f32; n * 4 * s.length];
            for i in 0..n {
                for p in 0..s.length {
                    data[(i * 4 + rng.gen_range(0..4)) * s.length + p] = 1.0;
                }
            }
            SeqSet { source: format!("{}.npz", s.name).into(), names: genes.clone(), length: s.length, data, reverse_complement: s.reverse_complement }
        })
        .collect();
    let outputs: Vec<Matrix> = M::SPEC
        .outputs
        .iter()
        .map(|o| Matrix {
            file: format!("{}.csv", o.name).into(),
            genes: genes.clone(),
            track_names: (0..o.width).map(|t| format!("C{t}")).collect(),
            values: (0..n * o.width).map(|_| rng.gen_range(0.0f32..3.0)).collect(),
        })
        .collect();
    Dataset {
        track_classes: outputs.iter().map(|m| vec!["0".to_string(); m.n_tracks()]).collect(),
        eval_track_names: M::SPEC.outputs.iter().zip(&outputs).map(|(o, m)| m.track_names.iter().map(|t| format!("{t}_{}", o.name)).collect()).collect(),
        split: Split { train: (0..16).collect(), val: (16..24).collect(), test: (24..n).collect() },
        genes,
        inputs,
        outputs,
    }
}

fn run<M: DrgModel<Cpu>>() {
    let data = random_data::<M>(28);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        schedule: ScheduleConfig { epochs: 3, warm_up_epochs: 1, ..ScheduleConfig::default() },
        reports: ReportOptions { save_predictions: true, ..ReportOptions::default() },
        progress: false,
        verbose: false,
        ..TrainConfig::reference(1e-4)
    };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "m");
    let whole = train::<M>(&data, &cfg, &out).unwrap();
    assert!(whole.lines.len() >= 4, "{}: {:?}", M::SPEC.name, whole.lines);
    assert!(whole.lines.iter().all(|l| l.train.is_finite() && l.orig_val.is_finite()), "{:?}", whole.lines);
    assert!(out.file("_pred.npz").exists() && out.file("_loss.txt").exists() && out.weights().exists());
    let out2 = OutputPaths::new(&format!("{}/", dir.path().display()), "cut");
    assert!(!train::<M>(&data, &TrainConfig { stop_after_passes: Some(2), ..cfg.clone() }, &out2).unwrap().completed);
    let resumed = train::<M>(&data, &TrainConfig { resume: true, ..cfg }, &out2).unwrap();
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
