//! The generic trainer: the reference's `fit_model` (the protocol `README.md` describes) for any
//! [`DrgModel`], with a checkpoint after every epoch and `--resume`.
//!
//! One run: build the model from a device seeded with `seed`; the epoch-0 pass (validation, then
//! training set, **train mode, no gradient**: BatchNorm updates its running statistics); then
//! epochs of shuffled training batches with updates from the summed loss, a validation pass in
//! eval mode, the `_loss.txt` line and the [`Schedule`]'s decision (save the best weights, reload
//! them, stop); finally the evaluation of the test set ([`super::evaluate`]).
//!
//! Reproducibility: every shuffle and every dropout mask is drawn from a generator seeded by
//! `(seed, pass, stream, batch)`, where `pass` counts passes over the training set (epoch numbers
//! repeat in fine-tuning, passes do not). A checkpoint therefore needs no RNG state, and a run
//! resumed from any epoch's checkpoint computes bit for bit what the uninterrupted run computes
//! (on the same machine and thread count).

use std::time::Instant;

use anyhow::ensure;
use dfdx::prelude::*;
use serde_json::json;

use super::checkpoint::{Checkpoint, CheckpointState};
use super::data_fit::check_fits;
use super::evaluate::{evaluate_and_report, Evaluation, ReportOptions};
use super::loss::LossKind;
use super::optim::{Optimizer, OptimizerKind};
use super::outputs::{load_weights, save_weights, ModelDescription, OutputPaths};
use super::passes::{pass_without_gradient, training_pass, HeadLosses};
use super::progress::Progress;
use super::saved_model::LoadParameters;
use super::schedule::{EpochLosses, Event, Schedule, ScheduleConfig};
use crate::data::batch::reference_drop_last;
use crate::data::{Batcher, Dataset};
use crate::device::DrgDevice;
use crate::eval::float_text::python_repr;
use crate::eval::report_files::{EpochLine, LossLog};
use crate::layers::Ctx;
use crate::model::{DrgModel, ModelSpec};

/// Settings of a training run (the reference's defaults: [`TrainConfig::reference`]).
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimizerKind,
    /// Which device of the model's kind the run uses: the GPU index on CUDA (`cuda:1` → 1); 0
    /// on the CPU. The kind itself is the model type's (`ModelDDemo<f32, Cuda>`).
    pub device_ordinal: usize,
    pub schedule: ScheduleConfig,
    pub reports: ReportOptions,
    /// Continue from `<prefix>_checkpoint/` when it exists (a fresh run otherwise).
    pub resume: bool,
    /// Keep the checkpoint folder after a finished run (it is removed by default).
    pub keep_checkpoint: bool,
    /// Draw progress bars (still only on a terminal outside CI).
    pub progress: bool,
    /// Print the reference's stdout lines.
    pub verbose: bool,
    /// Testing hook: return (unfinished, checkpoint written) once this many passes over the
    /// training set have run, the epoch-0 pass included, as if the process had been killed.
    pub stop_after_passes: Option<u64>,
    /// The training loss of each output instead of the declaration's (the reference's
    /// `loss_function`, one name for every output or a list, switched at run time).
    pub loss: Option<Vec<LossKind>>,
    /// The weight of each output's training loss (the reference's `loss_weights`; `None`: 1 each).
    pub loss_weights: Option<Vec<f32>>,
    /// The validation loss of every output instead of the declaration's (`validation_loss`;
    /// `LossKind::None` excludes an output from validation and early stopping).
    pub validation_losses: Option<Vec<LossKind>>,
    /// Keep the best weights (`<prefix>_parameter.safetensors`) after the run: the reference's
    /// `keepmodel` (the use cases pass `True`; with `False` the file is deleted at the end).
    pub keep_model: bool,
    /// Shuffle the batches of every pass (the reference's loaders do). `false` takes the rows in
    /// order, with the same batch sizes and dropped last batch: for comparing a run step by step
    /// with a recorded one (`models/tests/trajectory.rs`).
    pub shuffle: bool,
    /// Dropout in train mode as declared; `false` switches it off everywhere (as above).
    pub dropout: bool,
    /// Start from these weights (any file [`load_weights`] reads) instead of a fresh
    /// initialisation.
    pub initial_weights: Option<std::path::PathBuf>,
    /// A trial run (`--max_steps N`): stop once this many training steps (optimizer updates) have
    /// run, and cut every pass without updates (the epoch-0 pass, validation) to as many batches,
    /// so that a look at memory and speed on a genome-sized data set takes minutes. The losses
    /// of a cut pass are averaged over the rows it saw; no test-set evaluation follows.
    pub max_steps: Option<usize>,
    /// Fine-tuning: fill the fresh model in part from a saved one (the reference's
    /// `--load_parameters`); tensors it does not load keep their fresh initialisation.
    pub load_parameters: Option<LoadParameters>,
}

impl TrainConfig {
    /// The reference's settings for learning rate `lr` (SGD, momentum 0.9, batch 8, seed 1 as
    /// in the use cases, warm-up 4, patience 10, fine-tuning).
    pub fn reference(lr: f64) -> Self {
        Self {
            lr,
            batch_size: 8,
            seed: 1,
            optimizer: OptimizerKind::reference_sgd(),
            device_ordinal: 0,
            schedule: ScheduleConfig::default(),
            reports: ReportOptions::default(),
            resume: false,
            keep_checkpoint: false,
            progress: true,
            verbose: true,
            stop_after_passes: None,
            loss: None,
            loss_weights: None,
            validation_losses: None,
            keep_model: true,
            shuffle: true,
            dropout: true,
            initial_weights: None,
            max_steps: None,
            load_parameters: None,
        }
    }

    /// What must not change between a run and its resumption: model, data (gene names and split,
    /// hashed) and settings (not the device: a run may continue on another one).
    fn fingerprint(&self, spec: &ModelSpec, data: &Dataset) -> serde_json::Value {
        let mut print = self.run_fingerprint(spec, data);
        // Only trial runs carry the key, so that the checkpoints of full runs keep their fingerprint.
        if let Some(steps) = self.max_steps {
            print["max_steps"] = json!(steps);
        }
        print
    }

    fn run_fingerprint(&self, spec: &ModelSpec, data: &Dataset) -> serde_json::Value {
        let names = data.genes.iter().flat_map(|g| g.bytes().chain([0]));
        let split = [&data.split.train, &data.split.val, &data.split.test]
            .into_iter()
            .flat_map(|s| s.iter().flat_map(|i| i.to_le_bytes()).chain([0xff; 8]));
        let mut fingerprint = json!({
            "model": spec.name, "variant": spec.variant,
            "rows": data.n_genes(), "train": data.split.train.len(), "val": data.split.val.len(), "test": data.split.test.len(),
            "genes_fnv1a": format!("{:016x}", fnv1a(names)), "split_fnv1a": format!("{:016x}", fnv1a(split)),
            "lr": self.lr, "batch_size": self.batch_size, "seed": self.seed,
            "optimizer": self.optimizer, "schedule": self.schedule,
            "loss_function": self.loss.as_deref().map(loss_names), "validation_loss": self.validation_losses.as_ref().map(|v| v.iter().map(|l| l.name()).collect::<Vec<_>>()),
            "shuffle": self.shuffle, "dropout": self.dropout, "initial_weights": self.initial_weights.as_ref().map(|p| p.display().to_string()),
        });
        if let Some(lp) = &self.load_parameters {
            fingerprint["load_parameters"] = lp.describe();
        }
        if let Some(w) = &self.loss_weights {
            fingerprint["loss_weights"] = json!(w);
        }
        fingerprint
    }

    fn description(&self, device: &str) -> serde_json::Value {
        let mut description = json!({
            "lr": self.lr, "batch_size": self.batch_size, "seed": self.seed, "optimizer": self.optimizer, "schedule": self.schedule, "device": device,
            "loss_function": self.loss.as_deref().map(loss_names), "validation_loss": self.validation_losses.as_ref().map(|v| v.iter().map(|l| l.name()).collect::<Vec<_>>()),
            "keepmodel": self.keep_model, "shuffle": self.shuffle, "dropout": self.dropout,
            "initial_weights": self.initial_weights.as_ref().map(|p| p.display().to_string()),
        });
        if let Some(lp) = &self.load_parameters {
            description["load_parameters"] = lp.describe();
        }
        if let Some(w) = &self.loss_weights {
            description["loss_weights"] = json!(w);
        }
        description
    }
}

/// The outcome of [`train`].
#[derive(Debug)]
pub struct TrainResult<M> {
    /// The final model (the best one, unless the last was not worse; see [`Schedule`]).
    pub model: M,
    /// Every `_loss.txt` line.
    pub lines: Vec<EpochLine>,
    /// False when [`TrainConfig::stop_after_passes`] interrupted the run.
    pub completed: bool,
    /// The test-set evaluation of a completed run.
    pub evaluation: Option<Evaluation>,
}

/// A `loss_function` setting as the reference writes it: one name when every output has the
/// same loss (so fingerprints of runs from before per-output losses stay equal), else the list.
fn loss_names(losses: &[LossKind]) -> serde_json::Value {
    match losses {
        [first, rest @ ..] if rest.iter().all(|l| l == first) => json!(first.name()),
        _ => json!(losses.iter().map(|l| l.name()).collect::<Vec<_>>()),
    }
}

/// The 64-bit FNV-1a hash of a byte stream (stable across Rust versions, unlike `DefaultHasher`).
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Which random stream a seed is for.
#[derive(Clone, Copy)]
enum Stream {
    TrainShuffle = 1,
    ValShuffle = 2,
    Dropout = 3,
    /// Dropout during the epoch-0 validation pass (the only validation pass in train mode).
    ValDropout = 4,
}

/// A seed for `(seed, pass, stream, batch)` (splitmix64 of a mix of the four).
fn seed_for(seed: u64, pass: u64, stream: Stream, batch: usize) -> u64 {
    let mut z = seed
        ^ pass.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
        ^ (batch as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `rows` shuffled by a generator seeded with `seed`, in batches of `min(batch, n)` with the
/// reference's `drop_last = (n mod batch < 10)` (its validation loader uses `min(8, N_val)`).
fn shuffled_batches(rows: &[usize], batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    Batcher::shuffled(rows, batch_size.min(rows.len()).max(1), seed).epoch()
}

fn line_of(epoch: usize, l: &EpochLosses) -> EpochLine {
    EpochLine { epoch, orig_val: l.orig_val, val: l.val, train: l.train, train_val: l.train_val }
}

/// The reference's wording of a schedule event, as its stdout has it.
fn event_text(e: &Event, weights: &std::path::Path) -> String {
    let f = |x: f64| python_repr(x);
    match e {
        Event::WarmUp { lr } => format!("Warming up lr {}", f(*lr)),
        Event::LrHalved { lr } => format!("Learning rate reduced because train increased: {}", f(*lr)),
        Event::EarlyStop { epoch, val, patience } => format!("{epoch} {} Loss has not decreased since {patience} steps", f(*val)),
        Event::NanStop { epoch } => format!("{epoch} Loss is nan"),
        Event::ValTrainRatioStop { epoch } => format!("{epoch} Validation loss reached the train/val ratio"),
        Event::MaxEpochs { epoch } => format!("{epoch} Maximum number of epochs reached"),
        Event::ReloadBest { steps_ago, val } => {
            format!("Loaded model from {} {steps_ago} steps ago with loss {}", weights.display(), f(*val))
        }
        Event::FineTuningStart { from_epoch, lr } => {
            format!("Fine tuning best performing model from step {from_epoch}\nLearning rate reduced for finetuning to {}", f(*lr))
        }
        Event::FineTuningRound { round, lr } => format!("Learning rate reduced for finetuning to {} in round {round}", f(*lr)),
    }
}

/// Everything that changes during a run and goes into a checkpoint.
struct RunState<M, D: DrgDevice> {
    model: M,
    best: M,
    schedule: Schedule,
    opt: Optimizer<D>,
    passes: u64,
    lines: Vec<(usize, EpochLosses)>,
    /// The checkpoint's current best-weights file (rewritten only when the best changes).
    checkpoint_best: String,
}

impl<M, D: DrgDevice> RunState<M, D> {
    fn epoch_lines(&self) -> Vec<EpochLine> {
        self.lines.iter().map(|(e, l)| line_of(*e, l)).collect()
    }
}

/// What stays fixed during a run: its device, inputs, settings and writers.
struct Run<'a, D: DrgDevice> {
    /// Opened once per run, seeded with the run's seed, before the model is built from it.
    dev: D,
    data: &'a Dataset,
    cfg: &'a TrainConfig,
    out: &'a OutputPaths,
    progress: Progress,
    losses: HeadLosses,
    checkpoint: Checkpoint,
    fingerprint: serde_json::Value,
    log: LossLog,
}

impl<D: DrgDevice> Run<'_, D> {
    /// Prints a reference stdout line (when verbose).
    fn say(&self, line: String) {
        if self.cfg.verbose {
            self.progress.println(line)
        }
    }

    fn batches(&self, rows: &[usize], pass: u64, stream: Stream) -> Vec<Vec<usize>> {
        if self.cfg.shuffle {
            shuffled_batches(rows, self.cfg.batch_size, seed_for(self.cfg.seed, pass, stream, 0))
        } else {
            let size = self.cfg.batch_size.min(rows.len()).max(1);
            Batcher::sequential(rows, size).with_drop_last(reference_drop_last(rows.len(), size)).epoch()
        }
    }

    /// `batches` of a set of `n` rows cut to at most `limit` (a trial run's passes), and what the
    /// pass's summed loss is divided by: `n` (the reference's rule, dropped rows included), or
    /// the rows a cut pass saw.
    fn trial_cut(batches: Vec<Vec<usize>>, limit: Option<usize>, n: usize) -> (Vec<Vec<usize>>, usize) {
        match limit {
            Some(k) if k < batches.len() => {
                let cut: Vec<Vec<usize>> = batches.into_iter().take(k).collect();
                let seen = cut.iter().map(Vec::len).sum();
                (cut, seen)
            }
            _ => (batches, n),
        }
    }

    /// Train-mode contexts of pass `pass`, one dropout generator per batch.
    fn train_ctx(&self, pass: u64, stream: Stream) -> impl FnMut(usize) -> Ctx {
        let (seed, dropout) = (self.cfg.seed, self.cfg.dropout);
        move |b| {
            let ctx = Ctx::train(seed_for(seed, pass, stream, b));
            if dropout {
                ctx
            } else {
                ctx.without_dropout()
            }
        }
    }

    /// Appends a `_loss.txt` line and prints it as the reference does (`e v1\tv2\tv3\tv4[\tsecs]`).
    fn record<M>(&mut self, st: &mut RunState<M, D>, epoch: usize, l: EpochLosses, secs: Option<f64>) -> anyhow::Result<()> {
        let line = line_of(epoch, &l);
        self.log.push(line)?;
        st.lines.push((epoch, l));
        let values = line.text().split_once('\t').map_or(String::new(), |(_, rest)| rest.to_string());
        self.say(match secs {
            Some(s) => format!("{epoch} {values}\t{s:.2}"),
            None => format!("{epoch} {values}"),
        });
        Ok(())
    }

    /// A new run: build, the epoch-0 pass (validation then training set, train mode, no
    /// gradient), the initial model saved as the best, the first checkpoint.
    fn start<M: DrgModel<D>>(&mut self) -> anyhow::Result<RunState<M, D>> {
        let (data, cfg) = (self.data, self.cfg);
        let mut model = M::new(&self.dev, &self.data.n_tracks());
        if let Some(weights) = &cfg.initial_weights {
            load_weights(&mut model, weights)?;
        }
        if let Some(lp) = &cfg.load_parameters {
            for (file, report) in lp.apply(&mut model)? {
                for line in &report.lines {
                    self.say(line.text());
                }
                eprintln!("{}", report.summary(&file.display().to_string()));
            }
        }
        let schedule = Schedule::new(cfg.schedule, cfg.lr);
        if cfg.schedule.warm_up_epochs > 0 {
            self.say(format!("Warm up from {}", python_repr(schedule.lr())));
        }
        self.say("Train_loss(val), Val_loss(val), Train_loss(train), Val_loss(train)".to_string());
        let (val_batches, n_val) =
            Self::trial_cut(self.batches(&data.split.val, 0, Stream::ValShuffle), cfg.max_steps, data.split.val.len());
        let val_rec = pass_without_gradient(
            &mut model,
            &self.dev,
            data,
            &val_batches,
            self.train_ctx(0, Stream::ValDropout),
            &self.progress,
            "valid",
        )?;
        let (train_batches, n_train) =
            Self::trial_cut(self.batches(&data.split.train, 0, Stream::TrainShuffle), cfg.max_steps, data.split.train.len());
        let train_rec = pass_without_gradient(
            &mut model,
            &self.dev,
            data,
            &train_batches,
            self.train_ctx(0, Stream::Dropout),
            &self.progress,
            "train",
        )?;
        let (orig_val, val) = self.losses.epoch_losses(&val_rec, n_val)?;
        let (train, train_val) = self.losses.epoch_losses(&train_rec, n_train)?;
        let e0 = EpochLosses { orig_val, val, train, train_val };
        let opt = Optimizer::new(cfg.optimizer, schedule.lr());
        let mut st = RunState { best: model.clone(), model, schedule, opt, passes: 1, lines: Vec::new(), checkpoint_best: String::new() };
        st.schedule.start(&e0);
        self.record(&mut st, 0, e0, None)?;
        save_weights(&st.best, &self.out.weights())?;
        self.write_checkpoint(&mut st, true)?;
        Ok(st)
    }

    /// Continues from the checkpoint, after checking that it belongs to this run.
    fn resume<M: DrgModel<D>>(&mut self) -> anyhow::Result<RunState<M, D>> {
        let loaded = self.checkpoint.load()?;
        ensure!(
            loaded.state.fingerprint == self.fingerprint,
            "{}: the checkpoint is of a run with other settings or data ({}); this run has {}",
            self.checkpoint.dir().display(),
            loaded.state.fingerprint,
            self.fingerprint
        );
        let mut model = M::new(&self.dev, &self.data.n_tracks());
        load_weights(&mut model, &loaded.weights)?;
        // The best model shares the model's tensor ids (a clone), so the optimizer's buffers keep
        // following the parameters when it is reloaded.
        let mut best = model.clone();
        load_weights(&mut best, &loaded.best)?;
        let mut opt = Optimizer::new(self.cfg.optimizer, loaded.state.lr);
        opt.load_state(&model, &loaded.optimizer)?;
        for (e, l) in &loaded.state.lines {
            self.log.push(line_of(*e, l))?;
        }
        save_weights(&best, &self.out.weights())?;
        self.say(format!(
            "Resuming from {} after epoch {} ({} passes)",
            self.checkpoint.dir().display(),
            loaded.state.schedule.epoch(),
            loaded.state.passes
        ));
        let state = loaded.state;
        Ok(RunState {
            model,
            best,
            schedule: state.schedule,
            opt,
            passes: state.passes,
            lines: state.lines,
            checkpoint_best: state.best_file,
        })
    }

    /// One epoch: training pass with updates, validation in eval mode, the loss line, the
    /// schedule's decision carried out, the checkpoint.
    fn epoch<M: DrgModel<D>>(&mut self, st: &mut RunState<M, D>, grads: &mut Option<Gradients<f32, D>>) -> anyhow::Result<()> {
        let (data, started, pass) = (self.data, Instant::now(), st.passes);
        st.opt.set_lr(st.schedule.lr());
        let remaining = self.cfg.max_steps.map(|k| k.saturating_sub(st.opt.steps()));
        let (batches, n_train) =
            Self::trial_cut(self.batches(&data.split.train, pass, Stream::TrainShuffle), remaining, data.split.train.len());
        let rec = training_pass(
            &mut st.model,
            &self.dev,
            &mut st.opt,
            grads,
            data,
            &batches,
            self.train_ctx(pass, Stream::Dropout),
            &self.losses,
            &self.progress,
        )?;
        let train = self.losses.train_loss(&rec, n_train);
        let (_, train_val) = self.losses.epoch_losses(&rec, n_train)?;
        let (val_batches, n_val) =
            Self::trial_cut(self.batches(&data.split.val, pass, Stream::ValShuffle), self.cfg.max_steps, data.split.val.len());
        let val_rec = pass_without_gradient(&mut st.model, &self.dev, data, &val_batches, |_| Ctx::eval(), &self.progress, "valid")?;
        let (orig_val, val) = self.losses.epoch_losses(&val_rec, n_val)?;
        let l = EpochLosses { orig_val, val, train, train_val };
        let epoch = st.schedule.epoch() + 1;
        let decision = st.schedule.end_epoch(&l);
        // The reference prints the warm-up lr before the epoch line and everything else after.
        let weights = self.out.weights();
        let (warm, other): (Vec<&Event>, Vec<&Event>) = decision.events.iter().partition(|e| matches!(e, Event::WarmUp { .. }));
        warm.into_iter().for_each(|e| self.say(event_text(e, &weights)));
        self.record(st, epoch, l, Some(started.elapsed().as_secs_f64()))?;
        other.into_iter().for_each(|e| self.say(event_text(e, &weights)));
        if decision.save_best {
            st.best = st.model.clone();
            save_weights(&st.best, &weights)?;
        }
        if decision.reload_best {
            st.model = st.best.clone();
        }
        st.passes += 1;
        self.write_checkpoint(st, decision.save_best)?;
        self.progress.epoch_done(epoch, val);
        Ok(())
    }

    fn write_checkpoint<M: DrgModel<D>>(&self, st: &mut RunState<M, D>, best_changed: bool) -> anyhow::Result<()> {
        let mut state = CheckpointState {
            format: 0,
            generation: st.passes,
            fingerprint: self.fingerprint.clone(),
            passes: st.passes,
            schedule: st.schedule.clone(),
            lr: st.schedule.lr(),
            optimizer_steps: st.opt.steps(),
            lines: st.lines.clone(),
            weights_file: String::new(),
            best_file: st.checkpoint_best.clone(),
            optim_file: String::new(),
        };
        let (model, best) = (&st.model, &st.best);
        self.checkpoint.save(&mut state, &st.opt.state(model)?, |p| save_weights(model, p), best_changed, |p| save_weights(best, p))?;
        st.checkpoint_best = state.best_file;
        Ok(())
    }

    /// The end of a trial run (`--max_steps`): the loss lines and the best weights stay; no
    /// test-set evaluation; the checkpoint is removed unless kept.
    fn stop_trial<M: DrgModel<D>>(self, st: RunState<M, D>, steps: usize) -> anyhow::Result<TrainResult<M>> {
        self.progress.finish();
        self.say(format!("Stopped after {steps} training steps (--max_steps)"));
        if !self.cfg.keep_checkpoint {
            self.checkpoint.remove()?;
        }
        Ok(TrainResult { lines: st.epoch_lines(), model: st.model, completed: false, evaluation: None })
    }

    /// After the last epoch: the final weights, the test-set evaluation and reports, the plots,
    /// the summary table; the checkpoint is removed unless kept.
    fn finish<M: DrgModel<D>>(self, mut st: RunState<M, D>) -> anyhow::Result<TrainResult<M>> {
        let (data, cfg, out) = (self.data, self.cfg, self.out);
        // The weights file holds the evaluated model from now on (the reference keeps an older
        // best on file when the last epoch was not worse; we keep what was evaluated).
        save_weights(&st.model, &out.weights())?;
        let evaluation = evaluate_and_report(
            &mut st.model,
            &self.dev,
            data,
            &data.split.test,
            Some(&data.split.train),
            &cfg.reports,
            out,
            cfg.batch_size,
            &self.progress,
        )?;
        let lines = st.epoch_lines();
        if cfg.reports.plots {
            crate::eval::plots::plot_loss_curves(&out.file("_loss.svg"), &lines)?;
        }
        self.progress.finish();
        if cfg.verbose {
            println!("{}", evaluation.summary_text);
            println!("{}", out.prefix);
        }
        if !cfg.keep_checkpoint {
            self.checkpoint.remove()?;
        }
        if !cfg.keep_model {
            let weights = out.weights();
            std::fs::remove_file(&weights).map_err(|e| anyhow::anyhow!("{}: cannot delete (keepmodel=False): {e}", weights.display()))?;
        }
        Ok(TrainResult { model: st.model, lines, completed: true, evaluation: Some(evaluation) })
    }
}

/// Trains a model of type `M` on `data` with `cfg`, writing under `out` (see the module docs):
/// resumes from `<prefix>_checkpoint/` when `cfg.resume` and it exists, else starts afresh. The
/// model type fixes the kind of device (`ModelDDemo` is `ModelDDemo<f32, Cpu>`; `M::On<Cuda>`
/// trains on a GPU), `cfg.device_ordinal` which one.
pub fn train<M: DrgModel<D>, D: DrgDevice>(data: &Dataset, cfg: &TrainConfig, out: &OutputPaths) -> anyhow::Result<TrainResult<M>> {
    check_fits(data, &M::SPEC)?;
    ensure!(cfg.batch_size > 0, "the batch size must be positive");
    ensure!(!data.split.train.is_empty(), "the training set is empty");
    ensure!(!data.split.val.is_empty(), "the validation set is empty");
    ensure!(cfg.lr.is_finite() && cfg.lr > 0.0, "the learning rate must be positive, not {}", cfg.lr);
    ensure!(cfg.max_steps != Some(0), "--max_steps must be at least 1");
    if let Some(lp) = &cfg.load_parameters {
        lp.check::<M, D>()?;
    }
    let dev = D::open(cfg.device_ordinal, cfg.seed)?;
    out.create_dir()?;
    ModelDescription::of(&M::SPEC, &data.n_tracks(), cfg.description(&format!("{}:{}", D::KIND, cfg.device_ordinal)))
        .with_tracks(data.raw_track_names(), super::data_fit::track_names(data))
        .write(&out.model_description())?;
    let mut run = Run {
        dev,
        data,
        cfg,
        out,
        progress: Progress::new(cfg.schedule.epochs, cfg.progress && Progress::terminal()),
        losses: HeadLosses::of::<M, D>(
            &data.n_tracks(),
            cfg.loss.as_deref(),
            cfg.loss_weights.as_deref(),
            cfg.validation_losses.as_deref(),
        )?,
        checkpoint: Checkpoint::new(out.checkpoint_dir()),
        fingerprint: cfg.fingerprint(&M::SPEC, data),
        log: LossLog::new(&out.prefix),
    };
    for (what, rows) in [("Train", &data.split.train), ("Test", &data.split.test), ("Val", &data.split.val)] {
        run.say(format!("{what} {}", rows.len()));
    }
    let mut st = if cfg.resume && run.checkpoint.exists() { run.resume::<M>()? } else { run.start::<M>()? };
    let mut grads = None;
    while !st.schedule.is_done() {
        if cfg.stop_after_passes.is_some_and(|k| st.passes >= k) {
            run.progress.finish();
            return Ok(TrainResult { lines: st.epoch_lines(), model: st.model, completed: false, evaluation: None });
        }
        if let Some(k) = cfg.max_steps.filter(|&k| st.opt.steps() >= k) {
            return run.stop_trial(st, k);
        }
        run.epoch(&mut st, &mut grads)?;
    }
    run.finish(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::report_files::CorrelationReports;
    use crate::import::npz::read_npz;
    use crate::train::predict_new;
    use crate::train::test_model::{synthetic, Tiny};

    fn config() -> TrainConfig {
        TrainConfig {
            lr: 2e-3,
            schedule: ScheduleConfig { epochs: 12, patience: 3, warm_up_epochs: 2, finetuning_patience: 1, ..ScheduleConfig::default() },
            reports: ReportOptions {
                correlations: CorrelationReports { per_class: true, per_point: true },
                save_predictions: true,
                plots: true,
            },
            progress: false,
            verbose: false,
            ..TrainConfig::reference(2e-3)
        }
    }

    fn out_in(dir: &tempfile::TempDir, name: &str) -> OutputPaths {
        OutputPaths::new(&format!("{}/", dir.path().display()), name)
    }

    fn weights_of(model: &Tiny) -> Vec<Vec<f32>> {
        vec![model.wa.as_vec(), model.ba.as_vec(), model.wb.as_vec(), model.wc.as_vec(), model.bc.as_vec(), model.running_mean.as_vec()]
    }

    fn bits(lines: &[EpochLine]) -> Vec<(usize, [u64; 4])> {
        lines.iter().map(|l| (l.epoch, [l.orig_val, l.val, l.train, l.train_val].map(f64::to_bits))).collect()
    }

    #[test]
    fn trains_and_writes_every_output() {
        let data = synthetic(60);
        let dir = tempfile::tempdir().unwrap();
        let out = out_in(&dir, "tiny");
        let res = train::<Tiny, _>(&data, &config(), &out).unwrap();
        assert!(res.completed);
        // The loss fell: the best validation loss is well below epoch 0's.
        let best = res.lines.iter().map(|l| l.val).fold(f64::INFINITY, f64::min);
        assert!(best < 0.8 * res.lines[0].val, "{:?}", res.lines);
        assert!(res.lines.last().unwrap().train < res.lines[0].train);
        // _loss.txt parses back into the returned lines (6 significant decimals).
        let text = std::fs::read_to_string(out.file("_loss.txt")).unwrap();
        assert_eq!(text.lines().count(), res.lines.len());
        for (row, line) in text.lines().zip(&res.lines) {
            let f: Vec<&str> = row.split('\t').collect();
            assert_eq!(f.len(), 5);
            assert_eq!(f[0].parse::<usize>().unwrap(), line.epoch);
            for (s, v) in f[1..].iter().zip([line.orig_val, line.val, line.train, line.train_val]) {
                assert!((s.parse::<f64>().unwrap() - v).abs() <= 5e-7, "{row}");
            }
        }
        // Epoch numbers count up from 0 (repeating only in fine-tuning).
        assert_eq!(res.lines[0].epoch, 0);
        assert!(res.lines.windows(2).all(|w| w[1].epoch <= w[0].epoch + 1));
        let eval = res.evaluation.unwrap();
        let test = &data.split.test;
        assert_eq!(eval.genes, test.iter().map(|&i| data.genes[i].clone()).collect::<Vec<_>>());
        // Correlation files: one per class and kind, gene/track rows.
        for class in ["T0", "T1"] {
            let per_track = std::fs::read_to_string(out.file(&format!("_clss_corr_tcl{class}.txt"))).unwrap();
            let per_gene = std::fs::read_to_string(out.file(&format!("_pnt_corr_tcl{class}.txt"))).unwrap();
            assert_eq!(per_gene.lines().count(), test.len());
            assert_eq!(per_track.lines().count(), if class == "T0" { 2 } else { 3 });
            assert!(per_gene.lines().all(|l| l.split(' ').nth(1).unwrap().parse::<f64>().is_ok()));
        }
        // Predictions npz equals the evaluation.
        let npz = read_npz(out.file("_pred.npz")).unwrap();
        assert_eq!(npz.get("names").unwrap().strings().unwrap(), eval.genes.as_slice());
        assert_eq!(npz.f32("values").unwrap(), (vec![test.len(), 5], eval.preds.clone()));
        // The weights file reloads into a fresh model that predicts the same, also via --predictnew.
        let mut fresh = <Tiny as DrgModel<Cpu>>::new(&Cpu::default(), &[3, 2]);
        crate::train::outputs::load_weights(&mut fresh, &out.weights()).unwrap();
        assert_eq!(weights_of(&fresh), weights_of(&res.model));
        let out2 = out_in(&dir, "again");
        let again =
            predict_new::<Tiny, _>(&out.weights(), Some(&out.model_description()), &data, &ReportOptions::default(), &out2, 8, 0).unwrap();
        assert_eq!(again.preds, eval.preds);
        assert_eq!(again.summary, eval.summary);
        // Imported weights: the same model as a reference-style state dict (.npz).
        let npz_weights = dir.path().join("exported_parameter.npz");
        crate::import::export_npz(&res.model, &npz_weights).unwrap();
        let imported =
            predict_new::<Tiny, _>(&npz_weights, None, &data, &ReportOptions::default(), &out_in(&dir, "imported"), 8, 0).unwrap();
        assert_eq!(imported.preds, eval.preds);
        // The model beats the average profile on the linear task.
        let t0 = &eval.summary.rows[0];
        assert!(t0.model > t0.baseline, "{}", eval.summary_text);
        // Plots, model description; the checkpoint is gone after a finished run.
        for f in ["_loss.svg", "_scatter_ex.svg", "_scatter_kd.svg"] {
            assert!(std::fs::read_to_string(out.file(f)).unwrap().contains("</svg>"), "{f}");
        }
        let desc = ModelDescription::read(&out.model_description()).unwrap();
        assert_eq!((desc.model.as_str(), desc.outputs.len()), ("Tiny", 2));
        assert!(!out.checkpoint_dir().exists());
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // Test vectors of the FNV specification.
        assert_eq!(fnv1a("".bytes()), 0xcbf29ce484222325);
        assert_eq!(fnv1a("a".bytes()), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a("foobar".bytes()), 0x85944171f73967e8);
    }

    #[test]
    fn the_same_seed_gives_the_same_loss_curve() {
        let data = synthetic(60);
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig { reports: ReportOptions::default(), ..config() };
        let a = train::<Tiny, _>(&data, &cfg, &out_in(&dir, "a")).unwrap();
        let b = train::<Tiny, _>(&data, &cfg, &out_in(&dir, "b")).unwrap();
        assert_eq!(bits(&a.lines), bits(&b.lines));
        assert_eq!(weights_of(&a.model), weights_of(&b.model));
        let c = train::<Tiny, _>(&data, &TrainConfig { seed: 2, ..cfg }, &out_in(&dir, "c")).unwrap();
        assert_ne!(bits(&a.lines), bits(&c.lines));
    }

    /// A run interrupted after k passes (its state dropped, as if the process had been killed
    /// right after the k-th checkpoint) and resumed reaches exactly the uninterrupted result,
    /// for interruptions in warm-up, in the main phase and during fine-tuning.
    #[test]
    fn resume_reaches_the_uninterrupted_result() {
        let data = synthetic(60);
        let dir = tempfile::tempdir().unwrap();
        let cfg =
            TrainConfig { optimizer: OptimizerKind::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 }, lr: 1e-2, ..config() };
        let whole = train::<Tiny, _>(&data, &cfg, &out_in(&dir, "whole")).unwrap();
        let whole_loss = std::fs::read(out_in(&dir, "whole").file("_loss.txt")).unwrap();
        let passes = whole.lines.len() as u64;
        assert!(whole.lines.iter().zip(&whole.lines[1..]).any(|(a, b)| b.epoch <= a.epoch), "no fine-tuning in {:?}", whole.lines);
        for k in [1, 2, 5, passes - 2] {
            let out = out_in(&dir, &format!("k{k}"));
            let cut = train::<Tiny, _>(&data, &TrainConfig { stop_after_passes: Some(k), ..cfg.clone() }, &out).unwrap();
            assert!(!cut.completed && cut.lines.len() as u64 == k);
            assert!(out.checkpoint_dir().join("state.json").exists());
            drop(cut);
            let resumed = train::<Tiny, _>(&data, &TrainConfig { resume: true, ..cfg.clone() }, &out).unwrap();
            assert!(resumed.completed);
            assert_eq!(bits(&resumed.lines), bits(&whole.lines), "k = {k}");
            assert_eq!(weights_of(&resumed.model), weights_of(&whole.model), "k = {k}");
            assert_eq!(std::fs::read(out.file("_loss.txt")).unwrap(), whole_loss, "k = {k}");
            assert_eq!(resumed.evaluation.unwrap().preds, whole.evaluation.as_ref().unwrap().preds);
        }
        // Resuming with other settings is refused with a clear message.
        let out = out_in(&dir, "other");
        train::<Tiny, _>(&data, &TrainConfig { stop_after_passes: Some(2), ..cfg.clone() }, &out).unwrap();
        let err = train::<Tiny, _>(&data, &TrainConfig { resume: true, seed: 9, ..cfg.clone() }, &out).unwrap_err();
        assert!(format!("{err:#}").contains("the checkpoint is of a run with other settings"), "{err:#}");
        // ... and so is other data of the same size.
        let mut renamed = data.clone();
        renamed.genes[0] = "Other".into();
        assert!(train::<Tiny, _>(&renamed, &TrainConfig { resume: true, ..cfg.clone() }, &out).is_err());
        let mut resplit = data.clone();
        resplit.split.train.swap(0, 1);
        assert!(train::<Tiny, _>(&resplit, &TrainConfig { resume: true, ..cfg.clone() }, &out).is_err());
        assert!(train::<Tiny, _>(&data, &TrainConfig { resume: true, ..cfg.clone() }, &out).unwrap().completed);
    }

    /// A real kill: this test runs itself again as a child process (selected by an environment
    /// variable) that trains with a checkpoint per epoch, SIGKILLs it once a few epochs are
    /// checkpointed (at whatever point it has reached, possibly mid-write), resumes the run here
    /// and compares with an uninterrupted run.
    #[test]
    fn resume_after_the_process_is_killed() {
        const CHILD: &str = "DRG_TRAINER_KILL_TEST_CHILD";
        let data = synthetic(1200);
        let cfg = TrainConfig {
            schedule: ScheduleConfig { epochs: 150, patience: 1000, warm_up_epochs: 2, finetuning: false, ..ScheduleConfig::default() },
            reports: ReportOptions::default(),
            ..config()
        };
        if let Some(dir) = std::env::var_os(CHILD) {
            let out = OutputPaths::new(&format!("{}/", dir.to_string_lossy()), "killed");
            train::<Tiny, _>(&data, &cfg, &out).unwrap();
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = out_in(&dir, "killed");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "train::trainer::tests::resume_after_the_process_is_killed", "--nocapture", "--test-threads=1"])
            .env(CHILD, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let state = out.checkpoint_dir().join("state.json");
        let deadline = Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let passes =
                std::fs::read_to_string(&state).ok().and_then(|t| serde_json::from_str::<CheckpointState>(&t).ok()).map_or(0, |s| s.passes);
            if passes >= 4 {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "the child exited before it was killed");
            assert!(Instant::now() < deadline, "the child wrote no checkpoint in time");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let killed_at = serde_json::from_str::<CheckpointState>(&std::fs::read_to_string(&state).unwrap()).unwrap().passes;
        let resumed = train::<Tiny, _>(&data, &TrainConfig { resume: true, ..cfg.clone() }, &out).unwrap();
        let whole = train::<Tiny, _>(&data, &cfg, &out_in(&dir, "whole")).unwrap();
        assert!(killed_at < whole.lines.len() as u64, "killed after the end ({killed_at} passes)");
        assert_eq!(bits(&resumed.lines), bits(&whole.lines));
        assert_eq!(weights_of(&resumed.model), weights_of(&whole.model));
        assert_eq!(std::fs::read(out.file("_loss.txt")).unwrap(), std::fs::read(out_in(&dir, "whole").file("_loss.txt")).unwrap());
        // No temporary files are left next to the outputs of the resumed run's checkpoint.
        assert!(!out.checkpoint_dir().exists());
    }

    /// `max_steps`: the run stops after that many updates; a pass that is not cut computes what
    /// the full run computes, a cut one averages over the rows it saw.
    #[test]
    fn a_trial_run_stops_after_max_steps() {
        let data = synthetic(60); // 40 training genes: 5 steps per epoch; validation: 1 batch
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig { reports: ReportOptions::default(), ..config() };
        let whole = train::<Tiny, _>(&data, &cfg, &out_in(&dir, "whole")).unwrap();
        let trial = |k: usize| {
            let out = out_in(&dir, &format!("trial{k}"));
            let res = train::<Tiny, _>(&data, &TrainConfig { max_steps: Some(k), ..cfg.clone() }, &out).unwrap();
            assert!(!res.completed && res.evaluation.is_none());
            assert!(!out.checkpoint_dir().exists());
            assert_eq!(std::fs::read_to_string(out.file("_loss.txt")).unwrap().lines().count(), res.lines.len());
            res.lines
        };
        // One whole epoch: nothing is cut, the lines are the full run's.
        assert_eq!(bits(&trial(5)), bits(&whole.lines[..2]));
        // Seven steps: epoch 2 has two of its five, averaged over their 16 rows (over all 40 the
        // value would be 0.4 of the full epoch's).
        let seven = trial(7);
        assert_eq!(bits(&seven[..2]), bits(&whole.lines[..2]));
        assert_eq!(seven.len(), 3);
        let ratio = seven[2].train / whole.lines[2].train;
        assert!((0.6..1.6).contains(&ratio), "{seven:?} vs {:?}", whole.lines);
        // Two steps: the epoch-0 training pass is cut as well, its validation pass (1 batch) is not.
        let two = trial(2);
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].val.to_bits(), whole.lines[0].val.to_bits());
        assert_ne!(two[0].train.to_bits(), whole.lines[0].train.to_bits());
        let err = train::<Tiny, _>(&data, &TrainConfig { max_steps: Some(0), ..cfg.clone() }, &out_in(&dir, "zero")).unwrap_err();
        assert_eq!(format!("{err:#}"), "--max_steps must be at least 1");
    }

    #[test]
    fn bad_data_is_a_clear_error() {
        let data = synthetic(30);
        let dir = tempfile::tempdir().unwrap();
        let mut view = data.clone();
        view.inputs[1].length = 7;
        view.inputs[1].bases = view.inputs[1].bases.resized(7);
        let err = train::<Tiny, _>(&view, &config(), &out_in(&dir, "x")).unwrap_err();
        assert_eq!(format!("{err:#}"), "rna.npz: sequences are 4 x 7 (channels x length), model Tiny input 'rna' needs 4 x 6");
        let mut view = data.clone();
        view.split.val.clear();
        assert_eq!(format!("{:#}", train::<Tiny, _>(&view, &config(), &out_in(&dir, "x")).unwrap_err()), "the validation set is empty");
        let err = predict_new::<Tiny, _>(
            &dir.path().join("missing.safetensors"),
            None,
            &data,
            &ReportOptions::default(),
            &out_in(&dir, "x"),
            8,
            0,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("missing.safetensors: no such file"), "{err:#}");
    }
}
