//! The command line of the model binaries: `cargo run --release --bin model_d [files] [options]`.
//!
//! A binary is one line, `drg_core::cli::main::<ModelD>()`: the generic code here reads the
//! reference's vocabulary ([`args::RunArgs`]), loads and checks the data (or the built-in
//! simulated dataset), picks the compiled size variant that fits it ([`select`]; when none does,
//! the error gives the `sizes` line to add and the command that rebuilds, [`rebuild`]), and
//! hands the concrete model type to the trainer or, with `--predictnew`, to the evaluation. Any
//! failure is one `error: ...` message on stderr (one line, but for the no-fit error's
//! suggestion) and exit code 1.

pub mod args;
mod constructor_defaults;
pub mod hyper;
pub mod predict;
pub mod rebuild;
pub mod select;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;

use crate::data::builtin::{ensure_default_dataset, SimInput, SimOutput};
use crate::data::tracks::{select_tracks_tokens, TrackSelection};
use crate::data::{self, CvSpec, DataSpec, Dataset, InputSpec};
use crate::device::{DeviceChoice, DrgDevice};
use crate::dfdx::tensor::Cpu;
use crate::eval::outname::{data_outname, CvName, DataNameSettings};
use crate::eval::report_files::CorrelationReports;
use crate::explain::{run_explain, ExplainFlags, ExplainRequest};
use crate::model::{DrgModel, ModelFamily, ModelSpec, VariantJob};
use crate::train::evaluate::ReportOptions;
use crate::train::optim::OptimizerKind;
use crate::train::outputs::OutputPaths;
use crate::train::saved_model::{open_saved_model, LoadParameters};
use crate::train::trainer::{train, TrainConfig};
use args::RunArgs;
use hyper::CnnString;
use predict::PredictSettings;

/// Protocol settings for the built-in dataset when none are given: a demo that ends in minutes
/// (the reference's 1000 epochs, patience 10 and 4 warm-up epochs suit the 40 kb data).
pub const BUILTIN_EPOCHS: usize = 15;
pub const BUILTIN_PATIENCE: usize = 5;
pub const BUILTIN_WARM_UP: usize = 1;
/// On the built-in dataset the optimizer defaults to Adam and the learning rate to 1e-4 (each
/// independently of the other). With the reference's SGD (momentum 0.9) the demo models need far
/// more than 15 epochs to leave the average profile (measured: model D at lr 1e-3 was still at
/// the baseline after 30).
pub const BUILTIN_LR: f64 = 1e-4;

/// The learning rate when none is given. The reference's use cases train with 1e-5 for 1000
/// epochs at 40 kb; the demo models on the built-in data learn in minutes with a larger one.
pub const DEFAULT_LR: f64 = 1e-3;

/// Runs a model binary for the family `F` with the process's arguments.
pub fn main<F: ModelFamily>() -> ExitCode {
    let args = RunArgs::parse();
    match run::<F>(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything a run needs once the variant is known.
struct Job {
    args: RunArgs,
    device: DeviceChoice,
    data: Dataset,
    cfg: TrainConfig,
    out: OutputPaths,
    /// `--select_tracks`, already applied to `data`.
    tracks: Option<TrackSelection>,
    /// `ModelFamily::DECLARATION`, for fast ISM.
    declaration: &'static str,
}

impl VariantJob for Job {
    type Output = anyhow::Result<()>;

    fn run<M: DrgModel<Cpu>>(self) -> anyhow::Result<()> {
        match self.device {
            DeviceChoice::Cpu => self.run_on::<M, Cpu>(),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(_) => self.run_on::<M::On<crate::device::Cuda>, crate::device::Cuda>(),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => unreachable!("check_device refuses CUDA in a build without it"),
        }
    }
}

impl Job {
    /// The run with the chosen variant `M` on its device kind `D`.
    fn run_on<M: DrgModel<D>, D: DrgDevice>(self) -> anyhow::Result<()> {
        let spec = M::SPEC;
        if !self.args.quiet {
            eprintln!(
                "{} size {} on {}: {} trainable parameters; {} genes (train {}, validation {}, test {}); output prefix {}",
                spec.name,
                spec.variant,
                self.device,
                spec.parameter_count(&self.data.n_tracks()),
                self.data.n_genes(),
                self.data.split.train.len(),
                self.data.split.val.len(),
                self.data.split.test.len(),
                self.out.prefix
            );
        }
        let explain = self.explain_request()?;
        if let Some(weights) = &self.args.predictnew {
            let settings = PredictSettings {
                weights: weights.clone(),
                out: self.out.clone(),
                reports: self.cfg.reports,
                batch_size: self.cfg.batch_size,
                device_ordinal: self.device.ordinal(),
                quiet: self.args.quiet,
                track_names: None,
            };
            // The reference predicts every row, unless --crossvalidation names a test set.
            let all: Vec<usize> = (0..self.data.n_genes()).collect();
            let (rows, baseline) = match self.args.crossvalidation {
                Some(_) => (self.data.split.test.as_slice(), Some(self.data.split.train.as_slice())),
                None => (all.as_slice(), None),
            };
            let summary = predict::predict_measured::<M, D>(&settings, &self.data, self.tracks.as_ref(), rows, baseline)?;
            println!("{summary}");
            return self.explain::<M, D>(&explain, weights);
        }
        let result = train::<M, D>(&self.data, &self.cfg, &self.out)?;
        if let Some(ev) = &result.evaluation {
            // The trainer prints the table itself unless it runs quietly.
            if self.args.quiet {
                println!("{}", ev.summary_text);
            } else {
                for f in &ev.files {
                    eprintln!("wrote {}", f.display());
                }
            }
        }
        self.explain::<M, D>(&explain, &self.out.weights())
    }

    /// The explanation flags checked against the data (before anything runs or is written).
    fn explain_request(&self) -> anyhow::Result<ExplainRequest> {
        ExplainRequest::resolve(&explain_flags(&self.args, self.declaration), &self.data, &self.data.split.test)
    }

    /// Runs `req` on the model with the weights of `weights`.
    fn explain<M: DrgModel<D>, D: DrgDevice>(&self, req: &ExplainRequest, weights: &std::path::Path) -> anyhow::Result<()> {
        if req.is_empty() {
            return Ok(());
        }
        let dev = D::open(self.device.ordinal(), 0)?;
        // The weights' heads are cut to the rows of --select_tracks when they hold every track.
        let mut model = open_saved_model::<M, D>(&dev, weights, Some(&self.data.n_tracks()), self.tracks.as_ref())?.model;
        self.out.create_dir()?;
        for f in run_explain(&mut model, &dev, &self.data, req, &self.out.prefix, self.cfg.batch_size)? {
            eprintln!("wrote {}", f.display());
        }
        Ok(())
    }
}

/// The explanation flags of `args`; `declaration` is the model family's, for fast ISM.
pub(crate) fn explain_flags<'a>(args: &'a RunArgs, declaration: &'static str) -> ExplainFlags<'a> {
    ExplainFlags {
        sequence_attributions: args.sequence_attributions.as_deref(),
        window: args.attribution_window.as_deref(),
        average_outclasses: args.average_outclasses.as_deref(),
        genes: args.attribution_genes.as_deref(),
        save_kernel_filters: args.save_kernel_filters,
        kernel_analysis: args.kernel_analysis,
        logos: args.attribution_logos,
        declaration: Some(declaration),
    }
}

fn run<F: ModelFamily>(args: RunArgs) -> anyhow::Result<()> {
    let variants = F::variants();
    let first = variants.first().context("the model declares no size")?;
    let cnn = match &args.cnn {
        Some(s) => CnnString::parse(s)?,
        None => CnnString::default(),
    };
    let device = match (args.device.as_deref(), cnn.text("device")) {
        (Some(flag), _) => check_device(Some(flag))?,
        (None, from_cnn) => {
            let (device, warning) = device_from_cnn(from_cnn)?;
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            device
        }
    };
    check_reverse_complement(first, args.reverse_complement.as_deref())?;
    if args.predictnew.is_some() && args.load_parameters.is_some() {
        bail!("--load_parameters fills a model before training (fine-tuning); --predictnew takes the weights to apply itself");
    }
    if args.load_output_track_names.is_some() && !(args.predictnew.is_some() && args.inputs.is_some() && args.outputs.is_none()) {
        bail!("--load_output_track_names names the tracks of --predictnew without output files; with output files their headers name the tracks");
    }
    let tokens = args.select_tracks.as_deref().map(select_tracks_tokens).transpose()?;
    if args.predictnew.is_some() && args.inputs.is_some() && args.outputs.is_none() {
        return predict_without_outputs::<F>(args, device, &cnn, tokens);
    }

    let (spec, names) = data_spec(first, &args)?;
    let mut data = data::load(&spec)?;
    let tracks = match &tokens {
        Some(t) => {
            let sel = data.resolve_tracks(t)?;
            data.select_tracks(&sel);
            if !args.quiet {
                for ((m, cols), full) in data.outputs.iter().zip(&sel.per_output).zip(&sel.full_widths) {
                    eprintln!("--select_tracks: {} of the {full} tracks of {}: {}", cols.len(), m.file.display(), m.track_names.join(", "));
                }
            }
            Some(sel)
        }
        None => None,
    };
    let lengths: Vec<usize> = data.inputs.iter().map(|s| s.length).collect();
    let index = select::choose_variant(F::NAME, F::DECLARATION, &variants, &lengths, &data.n_tracks(), args.size.as_deref(), || {
        rebuild::Rebuild::of_this_process(F::NAME)
    })?;
    let chosen = variants[index];
    cnn.check_architecture(&chosen)?;

    let mut cfg = train_config(&args, &cnn)?;
    cfg.loss = cnn.losses(&chosen)?;
    cfg.loss_weights = cnn.loss_weights(&chosen)?;
    cfg.validation_losses = cnn.validation_losses(&chosen)?;
    cfg.keep_model = cnn.flag("keepmodel")?.unwrap_or(true);
    cfg.device_ordinal = device.ordinal();
    if args.inputs.is_none() {
        apply_builtin_defaults(&mut cfg, &args, &cnn)?;
    }
    if let Some(lp) = &args.load_parameters {
        cfg.load_parameters = Some(LoadParameters::from_reference_args(lp, tracks.clone())?);
    }
    let name = match &args.outname {
        Some(n) => n.clone(),
        None => output_name(&chosen, &args, &names, &spec, cfg.seed),
    };
    let out = OutputPaths::new(&args.outdir, &name);
    F::with_variant(index, Job { args, device, data, cfg, out, tracks, declaration: F::DECLARATION })
}

/// `--predictnew` with input files only: the variant whose input lengths fit the sequences,
/// the weights' track counts.
fn predict_without_outputs<F: ModelFamily>(
    args: RunArgs,
    device: DeviceChoice,
    cnn: &CnnString,
    tokens: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let variants = F::variants();
    let first = variants.first().context("the model declares no size")?;
    let files: Vec<String> = args.inputs.as_deref().unwrap_or_default().split(',').map(str::to_string).collect();
    if files.len() != first.inputs.len() {
        bail!(
            "{} takes {} input file(s) ({}), {} given",
            first.name,
            first.inputs.len(),
            first.inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
            files.len()
        );
    }
    let specs: Vec<InputSpec> =
        files.iter().zip(first.inputs).map(|(p, i)| InputSpec::new(PathBuf::from(p), i.reverse_complement)).collect();
    let (genes, inputs) = data::load_sequences(&specs)?;
    let lengths: Vec<usize> = inputs.iter().map(|s| s.length).collect();
    // Track counts come from the weights: any count fits an output of data width.
    let tracks: Vec<usize> = first.outputs.iter().map(|o| o.width.unwrap_or(1)).collect();
    let fits_tracks = |v: &ModelSpec| v.outputs.iter().map(|o| o.width.unwrap_or(1)).eq(tracks.iter().copied());
    let candidates: Vec<ModelSpec> = variants.iter().copied().filter(fits_tracks).collect();
    let index = select::choose_variant(F::NAME, F::DECLARATION, &candidates, &lengths, &tracks, args.size.as_deref(), || {
        rebuild::Rebuild::of_this_process(F::NAME)
    })?;
    let chosen = candidates[index];
    let index = variants.iter().position(|v| v.variant == chosen.variant).context("the chosen variant")?;
    cnn.check_architecture(&chosen)?;
    let cfg = train_config(&args, cnn)?;
    let ds = DataSpec::new(specs, Vec::new());
    let name = match &args.outname {
        Some(n) => n.clone(),
        None => output_name(&chosen, &args, &(files, Vec::new()), &ds, cfg.seed),
    };
    let settings = PredictSettings {
        weights: args.predictnew.clone().context("--predictnew")?,
        out: OutputPaths::new(&args.outdir, &name),
        reports: cfg.reports,
        batch_size: cfg.batch_size,
        device_ordinal: device.ordinal(),
        quiet: args.quiet,
        track_names: args.load_output_track_names.as_deref().map(predict::read_track_name_files).transpose()?,
    };
    if !args.quiet {
        eprintln!(
            "{} size {} on {device}: predicting {} genes; output prefix {}",
            chosen.name,
            chosen.variant,
            genes.len(),
            settings.out.prefix
        );
    }
    let declaration = F::DECLARATION;
    F::with_variant(index, predict::SequencesJob { settings, device, genes, inputs, tokens, args, declaration })
}

/// The built-in dataset's protocol for every setting the user left out (see [`BUILTIN_EPOCHS`],
/// [`BUILTIN_LR`]).
fn apply_builtin_defaults(cfg: &mut TrainConfig, args: &RunArgs, cnn: &CnnString) -> anyhow::Result<()> {
    if args.epochs.is_none() && cnn.text("epochs").is_none() {
        cfg.schedule.epochs = BUILTIN_EPOCHS;
    }
    if args.patience.is_none() && cnn.text("patience").is_none() {
        cfg.schedule.patience = BUILTIN_PATIENCE;
    }
    if args.warm_up_epochs.is_none() && cnn.text("warm_up_epochs").is_none() {
        cfg.schedule.warm_up_epochs = BUILTIN_WARM_UP;
    }
    if args.optimizer.is_none() && cnn.text("optimizer").is_none() {
        let beta1 = args.optim_params.or(cnn.get("optim_params")?);
        cfg.optimizer = OptimizerKind::from_reference("Adam", beta1, cnn.get("optim_weight_decay")?)?;
    }
    if args.lr.is_none() && cnn.text("lr").is_none() {
        cfg.lr = BUILTIN_LR;
    }
    Ok(())
}

/// The device named by `--device` (or `device=` in `--cnn`); CUDA only in a build with the
/// `cuda` feature. Checked before any data is read.
fn check_device(device: Option<&str>) -> anyhow::Result<DeviceChoice> {
    let choice = device.map_or(Ok(DeviceChoice::Cpu), str::parse)?;
    if matches!(choice, DeviceChoice::Cuda(_)) && !cfg!(feature = "cuda") {
        bail!("device {choice}: this binary was built without CUDA; build it with the `cuda` feature (`cargo run --release --features cuda --bin model_d -- --device {choice}`, which needs the CUDA toolkit) or use --device cpu");
    }
    Ok(choice)
}

/// The device named in a `--cnn` string. The reference's command lines carry `device=cuda:0`;
/// in a build without CUDA that runs on the CPU with a warning (the string describes where the
/// reference ran, not a request this machine can meet), while an explicit `--device cuda:0` flag
/// is an error ([`check_device`]).
fn device_from_cnn(device: Option<&str>) -> anyhow::Result<(DeviceChoice, Option<String>)> {
    let choice = device.map_or(Ok(DeviceChoice::Cpu), str::parse)?;
    if matches!(choice, DeviceChoice::Cuda(_)) && !cfg!(feature = "cuda") {
        let warning = format!("--cnn device={choice}: this binary was built without CUDA, so it trains on the CPU (for the GPU: `cargo run --release --features cuda --bin ...`, which needs the CUDA toolkit; --device cpu silences this)");
        return Ok((DeviceChoice::Cpu, Some(warning)));
    }
    Ok((choice, None))
}

/// `--reverse_complement [True,False]` must agree with the declaration, where it lives in drg-rs.
fn check_reverse_complement(spec: &ModelSpec, flag: Option<&str>) -> anyhow::Result<()> {
    let Some(flag) = flag else { return Ok(()) };
    let declared: Vec<bool> = spec.inputs.iter().map(|i| i.reverse_complement).collect();
    let given: Vec<bool> = flag
        .split(',')
        .map(|v| match v.trim() {
            "True" | "true" | "1" => Ok(true),
            "False" | "false" | "0" => Ok(false),
            other => bail!("--reverse_complement: '{other}' is not True or False"),
        })
        .collect::<anyhow::Result<_>>()?;
    let agrees = if given.len() == 1 { declared.iter().any(|&d| d == given[0]) } else { given == declared };
    if !agrees {
        bail!(
            "--reverse_complement {flag} disagrees with {}'s declaration ({}); reverse complement is part of the model declaration in drg-rs",
            spec.name,
            spec.inputs.iter().map(|i| format!("{}: {}", i.name, if i.reverse_complement { "on" } else { "off" })).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The input and the output file names of a run, as given (for the output name).
type FileNames = (Vec<String>, Vec<String>);

/// The data to load, and the input/output file names for the output name.
fn data_spec(spec: &ModelSpec, args: &RunArgs) -> anyhow::Result<(DataSpec, FileNames)> {
    let (mut ds, inputs, outputs) = match (&args.inputs, &args.outputs) {
        (None, _) => {
            let paths = ensure_default_dataset()?;
            let inputs = spec
                .inputs
                .iter()
                .map(|i| match i.name {
                    "dna" => Ok(SimInput::Dna),
                    "rna" => Ok(SimInput::Rna),
                    other => bail!("the built-in dataset has inputs 'dna' and 'rna', not '{other}': pass input files"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let outputs = spec
                .outputs
                .iter()
                .map(|o| match o.name {
                    "ex" => Ok(SimOutput::Expression),
                    "kd" => Ok(SimOutput::Degradation),
                    "kt" => Ok(SimOutput::Transcription),
                    other => bail!("the built-in dataset has outputs 'ex', 'kd' and 'kt', not '{other}': pass output files"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            // Fold 1 of the 10-set file: validation set 1, test set 2, as in the use cases.
            let ds = paths.spec(&inputs, &outputs, 1);
            let inputs = ds.inputs.iter().map(|i| i.path.display().to_string()).collect();
            let outputs = ds.outputs.iter().map(|p| p.display().to_string()).collect();
            (ds, inputs, outputs)
        }
        (Some(_), None) => bail!("output files are missing: give them after the input files (comma-separated)"),
        (Some(i), Some(o)) => {
            let inputs: Vec<String> = i.split(',').map(str::to_string).collect();
            let outputs: Vec<String> = o.split(',').map(str::to_string).collect();
            if inputs.len() != spec.inputs.len() {
                bail!(
                    "{} takes {} input file(s) ({}), {} given",
                    spec.name,
                    spec.inputs.len(),
                    spec.inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
                    inputs.len()
                );
            }
            if outputs.len() != spec.outputs.len() {
                bail!(
                    "{} predicts {} output file(s) ({}), {} given",
                    spec.name,
                    spec.outputs.len(),
                    spec.outputs.iter().map(|o| o.name).collect::<Vec<_>>().join(", "),
                    outputs.len()
                );
            }
            let ins = inputs.iter().zip(spec.inputs).map(|(p, i)| InputSpec::new(PathBuf::from(p), i.reverse_complement)).collect();
            let mut ds = DataSpec::new(ins, outputs.iter().map(PathBuf::from).collect());
            if outputs.len() > 1 {
                ds.file_tags = Some(spec.outputs.iter().map(|o| o.name.to_string()).collect());
            }
            (ds, inputs, outputs)
        }
    };
    if let Some(d) = &args.delimiter {
        ds.delimiter = data::matrix::parse_delimiter(d).map_err(|e| anyhow::anyhow!("--delimiter: {e}"))?;
    }
    if let Some(c) = &args.split_outclasses {
        ds.class_file = Some(c.clone());
    }
    if let Some(tags) = &args.add_fileclasses {
        let tags: Vec<String> = tags.split(',').map(str::to_string).collect();
        if tags.len() != ds.outputs.len() {
            bail!("--add_fileclasses: {} tags for {} output files", tags.len(), ds.outputs.len());
        }
        ds.file_tags = Some(tags);
    }
    if let Some(cv) = &args.crossvalidation {
        let fold: usize = cv[1].parse().with_context(|| format!("--crossvalidation: fold '{}' is not a number", cv[1]))?;
        ds.cv = match cv[0].parse::<usize>() {
            Ok(folds) => {
                let cutoff = cv[2].parse::<f32>().with_context(|| format!("--crossvalidation: cutoff '{}' is not a number", cv[2]))?;
                CvSpec::Integer { folds, fold, cutoff: Some(cutoff) }
            }
            Err(_) => CvSpec::File { path: PathBuf::from(&cv[0]), fold },
        };
    }
    Ok((ds, (inputs, outputs)))
}

fn train_config(args: &RunArgs, cnn: &CnnString) -> anyhow::Result<TrainConfig> {
    let lr = args.lr.or(cnn.get("lr")?).unwrap_or(DEFAULT_LR);
    if !(lr > 0.0 && lr.is_finite()) {
        bail!("the learning rate must be a positive number, not {lr}");
    }
    let mut cfg = TrainConfig::reference(lr);
    if let Some(b) = args.batchsize.or(cnn.get("batchsize")?) {
        cfg.batch_size = b;
    }
    if let Some(s) = args.seed.or(cnn.get("seed")?) {
        cfg.seed = s;
    }
    if let Some(p) = args.patience.or(cnn.get("patience")?) {
        cfg.schedule.patience = p;
    }
    if let Some(e) = args.epochs.or(cnn.get("epochs")?) {
        cfg.schedule.epochs = e;
    }
    if let Some(w) = args.warm_up_epochs.or(cnn.get("warm_up_epochs")?) {
        cfg.schedule.warm_up_epochs = w;
    }
    if let Some(p) = cnn.get("finetuning_patience")? {
        cfg.schedule.finetuning_patience = p;
    }
    if let Some(r) = cnn.get("finetuning_rounds")? {
        cfg.schedule.finetuning_rounds = r;
    }
    if let Some(r) = cnn.get("finetuning_rate")? {
        cfg.schedule.finetuning_rate = r;
    }
    let optimizer = args.optimizer.clone().or(cnn.text("optimizer").map(str::to_string));
    let optim_params = args.optim_params.or(cnn.get("optim_params")?);
    cfg.optimizer = match optimizer {
        Some(name) => OptimizerKind::from_reference(&name, optim_params.or(Some(0.9)), cnn.get("optim_weight_decay")?)?,
        None => match optim_params {
            Some(m) => OptimizerKind::from_reference("SGD", Some(m), cnn.get("optim_weight_decay")?)?,
            None => OptimizerKind::reference_sgd(),
        },
    };
    cfg.reports = ReportOptions {
        correlations: CorrelationReports { per_class: args.save_correlation_perclass, per_point: args.save_correlation_perpoint },
        save_predictions: args.save_predictions,
        plots: !args.no_plots,
    };
    cfg.resume = args.resume;
    cfg.max_steps = args.max_steps;
    cfg.progress = !args.quiet;
    cfg.verbose = !args.quiet;
    Ok(cfg)
}

/// The reference's data part of the output name (inputs, outputs, `rcomp`, `--addname`,
/// `-cv…`), then the model, its size and the seed, so that every model (F1 and F2 included) and
/// every size gets its own files.
fn output_name(spec: &ModelSpec, args: &RunArgs, (inputs, outputs): &FileNames, ds: &DataSpec, seed: u64) -> String {
    let crossvalidation = match &ds.cv {
        // The reference adds no `-cv…` to the name of a --predictnew run (it has no folds).
        _ if args.predictnew.is_some() && args.crossvalidation.is_none() => None,
        CvSpec::File { fold, .. } => {
            let cutoff = args.crossvalidation.as_ref().and_then(|c| c[2].parse::<f64>().ok()).unwrap_or(10.0);
            Some(CvName::File { cutoff, fold: *fold })
        }
        CvSpec::Integer { folds, fold, .. } => Some(CvName::Folds { folds: *folds, fold: *fold }),
    };
    let settings = DataNameSettings {
        inputs: inputs.clone(),
        outputs: outputs.clone(),
        reverse_complement: spec.inputs.iter().any(|i| i.reverse_complement),
        outdir: String::new(),
        addname: args.addname.clone(),
        crossvalidation,
    };
    let data = data_outname(&settings);
    let size = if spec.variant.is_empty() { String::new() } else { format!("-{}", spec.variant) };
    format!("{data}_{}{size}_sd{seed}", spec.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The training config `model_d <flags>` uses on the built-in dataset.
    fn builtin_config(flags: &[&str]) -> TrainConfig {
        let args = RunArgs::try_parse_from(std::iter::once("model_d").chain(flags.iter().copied())).unwrap();
        let cnn = args.cnn.as_deref().map(|s| CnnString::parse(s).unwrap()).unwrap_or_default();
        let mut cfg = train_config(&args, &cnn).unwrap();
        apply_builtin_defaults(&mut cfg, &args, &cnn).unwrap();
        cfg
    }

    #[test]
    fn devices_are_checked_before_any_data_is_read() {
        assert_eq!(check_device(None).unwrap(), DeviceChoice::Cpu);
        let (from_cnn, warning) = device_from_cnn(Some("cuda:0")).unwrap();
        if cfg!(feature = "cuda") {
            assert_eq!((from_cnn, warning), (DeviceChoice::Cuda(0), None));
        } else {
            assert_eq!(from_cnn, DeviceChoice::Cpu);
            assert!(warning.unwrap().starts_with("--cnn device=cuda:0: this binary was built without CUDA, so it trains on the CPU"));
        }
        assert!(device_from_cnn(Some("tpu")).is_err());
        assert_eq!(check_device(Some("cpu")).unwrap(), DeviceChoice::Cpu);
        assert!(check_device(Some("tpu")).unwrap_err().to_string().starts_with("unknown device 'tpu'"));
        let cuda = check_device(Some("cuda:1"));
        if cfg!(feature = "cuda") {
            assert_eq!(cuda.unwrap(), DeviceChoice::Cuda(1));
        } else {
            assert!(cuda.unwrap_err().to_string().starts_with("device cuda:1: this binary was built without CUDA"));
        }
    }

    #[test]
    fn builtin_defaults_fill_only_what_the_user_left_out() {
        let adam = OptimizerKind::from_reference("Adam", None, None).unwrap();
        let c = builtin_config(&[]);
        assert_eq!((c.optimizer, c.lr), (adam, BUILTIN_LR));
        assert_eq!(
            (c.schedule.epochs, c.schedule.patience, c.schedule.warm_up_epochs),
            (BUILTIN_EPOCHS, BUILTIN_PATIENCE, BUILTIN_WARM_UP)
        );
        // a learning rate alone keeps Adam; an optimizer alone keeps the built-in lr
        let c = builtin_config(&["--lr", "0.002"]);
        assert_eq!((c.optimizer, c.lr), (adam, 0.002));
        let c = builtin_config(&["--optimizer", "SGD"]);
        assert_eq!((c.optimizer, c.lr), (OptimizerKind::from_reference("SGD", Some(0.9), None).unwrap(), BUILTIN_LR));
        let c = builtin_config(&["--cnn", "optimizer=AdamW+lr=0.01+epochs=3+patience=2"]);
        assert_eq!(c.optimizer, OptimizerKind::from_reference("AdamW", Some(0.9), None).unwrap());
        assert_eq!((c.lr, c.schedule.epochs, c.schedule.patience), (0.01, 3, 2));
        // with data files nothing of this applies: the reference's SGD at DEFAULT_LR
        let args = RunArgs::try_parse_from(["model_d", "in.npz", "out.tsv"]).unwrap();
        let c = train_config(&args, &CnnString::default()).unwrap();
        assert_eq!((c.optimizer, c.lr), (OptimizerKind::reference_sgd(), DEFAULT_LR));
    }
}
