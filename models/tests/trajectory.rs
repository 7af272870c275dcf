//! Four epochs of the reference's own training loop (`shared/fixtures/trajectory.npz`, see
//! `trajectory.md` there), reproduced with the trainer's passes and loss bookkeeping: model D at
//! its fixture size from the reference's initial weights, Adam with the fixture's learning rate
//! per epoch, batches of 8 in file order, dropout off; the epoch-0 passes in train mode without
//! gradient (batch statistics, running statistics updated), then per epoch a training pass and the
//! validation set in eval mode. Every loss line must agree to 1e-5 relative (measured: at most
//! 3e-6; the fixture's own sensitivity: 1e-6 on the weights moves the epoch-4 losses by 5e-7), the
//! running statistics and final weights as well; the validation outputs to 1e-3 (see below).
//!
//! The first test drives the passes with the fixture's learning rates; the second runs `train`
//! itself (its schedule gives the same rates), with the trainer's test settings: rows in order,
//! dropout off, given initial weights.

use drg_core::data::{Dataset, Matrix, SeqSet, Split};
use drg_core::dfdx::prelude::*;
use drg_core::import::npz::{read_npz, Npz};
use drg_core::import::{export_state_dict, load_state_dict, LoadOptions, StateDict};
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use drg_core::train::loss::LossKind;
use drg_core::train::optim::{Optimizer, OptimizerKind};
use drg_core::train::outputs::save_weights;
use drg_core::train::passes::{pass_without_gradient, training_pass, HeadLosses};
use drg_core::train::progress::Progress;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, ReportOptions, TrainConfig};
use drg_models::ModelDFixture;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/trajectory.npz");
const TRACKS: usize = 6;
const HEADS: usize = 3;

/// The training genes then the validation genes of the fixture as one data set.
fn dataset(npz: &Npz) -> Dataset {
    let (n_train, n_val) = (npz.f32("train/target/0").unwrap().0[0], npz.f32("val/target/0").unwrap().0[0]);
    let genes: Vec<String> = (0..n_train + n_val).map(|i| format!("g{i:03}")).collect();
    let inputs = (0..2)
        .map(|k| {
            let (shape, mut values) = npz.f32(&format!("train/input/{k}")).unwrap();
            values.extend(npz.f32(&format!("val/input/{k}")).unwrap().1);
            SeqSet::from_channel_first(format!("input{k}").into(), genes.clone(), shape[2], &values, k == 0).unwrap()
        })
        .collect();
    let outputs: Vec<Matrix> = (0..HEADS)
        .map(|h| {
            let mut values = npz.f32(&format!("train/target/{h}")).unwrap().1;
            values.extend(npz.f32(&format!("val/target/{h}")).unwrap().1);
            Matrix {
                file: format!("target{h}").into(),
                genes: genes.clone(),
                track_names: (0..TRACKS).map(|t| format!("C{t}")).collect(),
                values,
            }
        })
        .collect();
    Dataset {
        track_classes: vec![vec!["0".to_string(); TRACKS]; HEADS],
        eval_track_names: (0..HEADS).map(|h| (0..TRACKS).map(|t| format!("C{t}_{h}")).collect()).collect(),
        split: Split { train: (0..n_train).collect(), val: (n_train..n_train + n_val).collect(), test: Vec::new() },
        genes,
        inputs,
        outputs,
    }
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-5 * want.abs().max(1e-3), "{what}: {got} vs the reference's {want}");
}

#[test]
fn four_epochs_follow_the_reference_loss_for_loss() {
    let npz = read_npz(FIXTURE).unwrap();
    let data = dataset(&npz);
    let dev = Cpu::default();
    let mut model = ModelDFixture::new(&dev, &[TRACKS; HEADS]);
    let sd = StateDict::from_npz(FIXTURE, "param/").unwrap();
    load_state_dict(&mut model, &sd, &LoadOptions::default()).unwrap();
    let losses = HeadLosses::of::<ModelDFixture, Cpu>(&[TRACKS; HEADS], None, None, None).unwrap();
    assert_eq!(losses.validation, [LossKind::Correlationdata, LossKind::None, LossKind::None]);
    let batches = |rows: &[usize]| rows.chunks(8).filter(|c| c.len() == 8).map(<[usize]>::to_vec).collect::<Vec<_>>();
    let (train_batches, val_batches) = (batches(&data.split.train), batches(&data.split.val));
    let (n_train, n_val) = (data.split.train.len(), data.split.val.len());
    let quiet = Progress::new(0, false);
    let train_mode = |_| Ctx::train(0).without_dropout();

    // Epoch 0: validation set, then training set, train mode, no gradient.
    let val = pass_without_gradient(&mut model, &dev, &data, &val_batches, train_mode, &quiet, "valid").unwrap();
    let train = pass_without_gradient(&mut model, &dev, &data, &train_batches, train_mode, &quiet, "train").unwrap();
    let (orig_val, val_val) = losses.epoch_losses(&val, n_val).unwrap();
    let (train_train, val_train) = losses.epoch_losses(&train, n_train).unwrap();
    let want = npz.get("epoch/0/losses").unwrap().to_f64().unwrap();
    for (k, got) in [orig_val, val_val, train_train, val_train].into_iter().enumerate() {
        assert_close(&format!("epoch 0 column {k}"), got, want[k]);
    }
    // The BatchNorm running statistics the two train-mode passes left.
    let state = export_state_dict::<_, Cpu>(&model);
    let mut compared = 0;
    for (key, _) in npz.arrays.iter().filter(|(k, _)| k.starts_with("epoch/0/state/")) {
        let name = &key["epoch/0/state/".len()..];
        let want = npz.f32(key).unwrap().1;
        let got = &state.entries.get(name).unwrap_or_else(|| panic!("no {name} in the model")).values;
        // measured: at most 2.8e-6 relative
        let worst = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs() / b.abs().max(1e-3)));
        assert!(worst <= 1e-5, "epoch 0 {name}: max relative |Δ| {worst:e}");
        compared += 1;
    }
    assert_eq!(compared, 24);

    let lrs = [2.5e-4, 1e-3, 1e-3, 1e-3];
    let mut opt = Optimizer::new(OptimizerKind::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 }, lrs[0]);
    let mut grads = None;
    for (e, lr) in lrs.into_iter().enumerate().map(|(i, lr)| (i + 1, lr)) {
        opt.set_lr(lr);
        let rec = training_pass(&mut model, &dev, &mut opt, &mut grads, &data, &train_batches, train_mode, &losses, &quiet).unwrap();
        let train_train = losses.train_loss(&rec, n_train);
        let (_, val_train) = losses.epoch_losses(&rec, n_train).unwrap();
        let val = pass_without_gradient(&mut model, &dev, &data, &val_batches, |_| Ctx::eval(), &quiet, "valid").unwrap();
        let (orig_val, val_val) = losses.epoch_losses(&val, n_val).unwrap();
        let want = npz.get(&format!("epoch/{e}/losses")).unwrap().to_f64().unwrap();
        for (k, got) in [orig_val, val_val, train_train, val_train].into_iter().enumerate() {
            assert_close(&format!("epoch {e} column {k}"), got, want[k]);
        }
        // The validation outputs, heads side by side in the record. Adam moves a parameter
        // whose gradient is near 0 by about ±lr whichever way float rounding tips it, so the
        // outputs (about 0.06-0.16 in size) drift apart faster than the losses: measured max
        // |Δ| 5.7e-5 after epoch 1, 3.7e-4 after epoch 4 (mean 1.5e-4), with every loss within
        // 3e-6 relative and every final weight within 1e-5.
        for h in 0..HEADS {
            let want = npz.f32(&format!("epoch/{e}/val_output/{h}")).unwrap().1;
            let got: Vec<f32> = (0..n_val).flat_map(|r| val.preds[r * HEADS * TRACKS + h * TRACKS..][..TRACKS].to_vec()).collect();
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            let mean = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).sum::<f32>() / got.len() as f32;
            assert!(worst <= 1e-3 && mean <= 3e-4, "epoch {e} validation output {h}: max |Δ| {worst:e}, mean {mean:e} (scale {scale})");
        }
    }
    // The final weights and running statistics (PyTorch's `num_batches_tracked` counter is not
    // kept: with a fixed momentum it changes nothing).
    let state = export_state_dict::<_, Cpu>(&model);
    let mut compared = 0;
    for (key, _) in npz.arrays.iter().filter(|(k, _)| k.starts_with("final/") && !k.ends_with("num_batches_tracked")) {
        let name = &key["final/".len()..];
        let want = npz.f32(key).unwrap().1;
        let got = &state.entries.get(name).unwrap_or_else(|| panic!("no {name} in the model")).values;
        let worst = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(worst <= 1e-5 * scale.max(1.0), "final {name}: max |Δ| {worst:e} (scale {scale})");
        compared += 1;
    }
    assert_eq!(compared, 98);
}

#[test]
fn the_trainer_writes_the_reference_loss_lines() {
    // The same run through `train` itself: the reference's warm-up with `warm_up_epochs=1` at
    // lr 1e-3 gives the fixture's learning rates (2.5e-4, then 1e-3), and its lr rules leave them
    // alone on this curve; rows in order and dropout off are the trainer's test settings.
    let npz = read_npz(FIXTURE).unwrap();
    let mut data = dataset(&npz);
    // The trainer evaluates a test set at the end; the validation genes serve.
    data.split.test = data.split.val.clone();
    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::default();
    let mut initial = ModelDFixture::new(&dev, &[TRACKS; HEADS]);
    load_state_dict(&mut initial, &StateDict::from_npz(FIXTURE, "param/").unwrap(), &LoadOptions::default()).unwrap();
    let weights = dir.path().join("initial.safetensors");
    save_weights(&initial, &weights).unwrap();
    let cfg = TrainConfig {
        optimizer: OptimizerKind::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 },
        schedule: ScheduleConfig { epochs: 4, patience: 100, warm_up_epochs: 1, finetuning: false, ..ScheduleConfig::default() },
        reports: ReportOptions { plots: false, ..ReportOptions::default() },
        progress: false,
        verbose: false,
        shuffle: false,
        dropout: false,
        initial_weights: Some(weights),
        ..TrainConfig::reference(1e-3)
    };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "trajectory");
    let result = train::<ModelDFixture, Cpu>(&data, &cfg, &out).unwrap();
    assert_eq!(result.lines.iter().map(|l| l.epoch).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    for line in &result.lines {
        let want = npz.get(&format!("epoch/{}/losses", line.epoch)).unwrap().to_f64().unwrap();
        for (k, got) in [line.orig_val, line.val, line.train, line.train_val].into_iter().enumerate() {
            assert_close(&format!("trainer, epoch {} column {k}", line.epoch), got, want[k]);
        }
    }
}
