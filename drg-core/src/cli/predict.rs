//! `--predictnew WEIGHTS`: a saved model applied to every gene of the given sequences
//! (drg-after-training.md §2.2), without training.
//!
//! The weights (drg-rs `.safetensors`, the reference's `.pth` or `.npz`) are checked against the
//! compiled model before anything is written ([`open_saved_model`]). Every gene of the inputs is
//! predicted, in name order (with `--crossvalidation`, which the reference lets take precedence,
//! the test set), and `<prefix>_pred.npz` and `<prefix>_pred.tsv` are written. With output files
//! the predictions are evaluated too, as after training; without them the track counts are
//! those of the weights, and the tracks are named by the `_model_params.json` beside the weights
//! (else `C0..`), or by `--load_output_track_names`. `--select_tracks` keeps a subset of the
//! tracks either way. Without output files the explanation flags (`--sequence_attributions`,
//! `--save_kernel_filters`) explain every given gene (or `--attribution_genes`), tracks picked
//! from the prediction's columns; `--kernel_analysis` needs measured values and is refused.

use std::path::{Path, PathBuf};

use crate::data::crossval::Split;
use crate::data::matrix::Matrix;
use crate::data::tracks::{resolve_tracks, TrackSelection};
use crate::data::{Dataset, SeqSet};
use crate::device::{DeviceChoice, DrgDevice};
use crate::dfdx::tensor::Cpu;
use crate::eval::prediction_files::write_prediction_files;
use crate::model::{DrgModel, ModelSpec, VariantJob};
use crate::train::data_fit::{gene_names, track_names};
use crate::train::evaluate::{report_predictions, ReportOptions};
use crate::train::outputs::OutputPaths;
use crate::train::passes::predict_inputs;
use crate::train::progress::Progress;
use crate::train::saved_model::{column_names, open_saved_model, track_names_for};

use super::args::RunArgs;
use super::explain_flags;
use crate::explain::request::ExplainTarget;
use crate::explain::{run_explain, ExplainFlags, ExplainRequest};

/// What a `--predictnew` run needs besides its data.
#[derive(Debug, Clone)]
pub struct PredictSettings {
    pub weights: PathBuf,
    pub out: OutputPaths,
    pub reports: ReportOptions,
    pub batch_size: usize,
    pub device_ordinal: usize,
    pub quiet: bool,
    /// `--load_output_track_names`: each file and the track names it lists, one per output.
    pub track_names: Option<Vec<(PathBuf, Vec<String>)>>,
}

impl PredictSettings {
    fn say_written(&self, files: &[PathBuf], genes: usize, tracks: usize) {
        if !self.quiet {
            for f in files {
                eprintln!("wrote {} ({genes} genes x {tracks} tracks)", f.display());
            }
        }
    }
}

/// `--predictnew` with measured values: predicts `rows` of `data` (whose tracks are already
/// cut to `select`, if given) with model `M` on device kind `D`, writes the prediction files and
/// evaluates; returns the summary table.
pub fn predict_measured<M: DrgModel<D>, D: DrgDevice>(
    s: &PredictSettings,
    data: &Dataset,
    select: Option<&TrackSelection>,
    rows: &[usize],
    baseline_rows: Option<&[usize]>,
) -> anyhow::Result<String> {
    anyhow::ensure!(s.batch_size > 0, "the batch size must be positive");
    crate::train::data_fit::check_fits(data, &M::SPEC)?;
    let dev = D::open(s.device_ordinal, 0)?;
    let mut saved = open_saved_model::<M, D>(&dev, &s.weights, Some(&data.n_tracks()), select)?;
    s.out.create_dir()?;
    let progress = Progress::auto(0);
    let inputs = data.inputs.as_slice();
    let preds = predict_inputs(&mut saved.model, &dev, inputs, rows, s.batch_size, &progress)?;
    progress.finish();
    let (genes, columns) = (gene_names(data, rows), track_names(data));
    let files = write_prediction_files(&s.out.prefix, &genes, &preds, &columns)?;
    s.say_written(&files, genes.len(), columns.len());
    let opts = ReportOptions { save_predictions: false, ..s.reports };
    let eval = report_predictions::<M, D>(preds, data, rows, baseline_rows, &opts, &s.out)?;
    if !s.quiet {
        for f in &eval.files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(eval.summary_text)
}

/// `--predictnew` on sequences alone: every gene of `inputs` (aligned, `genes` in name order),
/// the weights' track counts, `tokens` of `--select_tracks` resolved against the weights' track
/// names. The explanation flags of `flags` (attributions, kernel filters) are resolved against
/// those tracks and genes before anything is written, and run after the predictions.
pub fn predict_sequences<M: DrgModel<D>, D: DrgDevice>(
    s: &PredictSettings,
    genes: Vec<String>,
    inputs: Vec<SeqSet>,
    tokens: Option<&[String]>,
    flags: &ExplainFlags,
) -> anyhow::Result<()> {
    anyhow::ensure!(s.batch_size > 0, "the batch size must be positive");
    let spec = M::SPEC;
    for (x, i) in inputs.iter().zip(spec.inputs) {
        anyhow::ensure!(
            x.length == i.length,
            "{}: sequences of length {}, model {} input '{}' needs {}",
            x.source.display(),
            x.length,
            spec.name,
            i.name,
            i.length
        );
    }
    let dev = D::open(s.device_ordinal, 0)?;
    let mut saved = open_saved_model::<M, D>(&dev, &s.weights, None, None)?;
    let names = match &s.track_names {
        Some(files) => names_per_output(files, &saved.widths, &spec, &s.weights)?,
        None => track_names_for(saved.description.as_ref(), &saved.widths),
    };
    let all_columns = column_names(saved.description.as_ref(), &spec, &names);
    let files: Vec<String> = spec.outputs.iter().map(|o| format!("output '{}' of {}", o.name, s.weights.display())).collect();
    let keep: Vec<usize> = match tokens {
        None => (0..all_columns.len()).collect(),
        Some(t) => {
            let sel = resolve_tracks(t, &names, &files)?;
            let mut offset = 0;
            let mut cols = Vec::new();
            for (k, picked) in sel.per_output.iter().enumerate() {
                cols.extend(picked.iter().map(|c| offset + c));
                offset += saved.widths[k];
            }
            cols
        }
    };
    let columns: Vec<String> = keep.iter().map(|&c| all_columns[c].clone()).collect();
    let raw_names: Vec<String> = names.concat();
    let raw: Vec<String> = keep.iter().map(|&c| raw_names[c].clone()).collect();
    let lengths: Vec<usize> = inputs.iter().map(|x| x.length).collect();
    let target = ExplainTarget { names: &columns, columns: &keep, raw: &raw, lengths, genes: &genes };
    let explain = ExplainRequest::resolve_for_sequences(flags, &target)?;
    s.out.create_dir()?;
    let rows: Vec<usize> = (0..genes.len()).collect();
    let progress = Progress::auto(0);
    let preds = predict_inputs(&mut saved.model, &dev, &inputs, &rows, s.batch_size, &progress)?;
    progress.finish();
    let total = all_columns.len();
    let preds: Vec<f32> =
        if keep.len() == total { preds } else { preds.chunks_exact(total).flat_map(|row| keep.iter().map(move |&c| row[c])).collect() };
    let files = write_prediction_files(&s.out.prefix, &genes, &preds, &columns)?;
    s.say_written(&files, genes.len(), columns.len());
    if !explain.is_empty() {
        let data = unmeasured_dataset(genes, inputs, &saved.widths, &names, &all_columns, &s.weights);
        for f in run_explain(&mut saved.model, &dev, &data, &explain, &s.out.prefix, s.batch_size)? {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// The sequences as a [`Dataset`] for the explanations, which read only its inputs, genes and
/// track counts: every output's values are zero (nothing is measured), every gene is a test gene.
fn unmeasured_dataset(
    genes: Vec<String>,
    inputs: Vec<SeqSet>,
    widths: &[usize],
    names: &[Vec<String>],
    columns: &[String],
    weights: &Path,
) -> Dataset {
    let n = genes.len();
    let outputs: Vec<Matrix> = widths
        .iter()
        .zip(names)
        .map(|(&w, t)| Matrix { file: weights.to_path_buf(), genes: genes.clone(), track_names: t.clone(), values: vec![0.0; n * w] })
        .collect();
    let mut eval_track_names = Vec::new();
    let mut offset = 0;
    for &w in widths {
        eval_track_names.push(columns[offset..offset + w].to_vec());
        offset += w;
    }
    let track_classes = widths.iter().map(|&w| vec![String::new(); w]).collect();
    let split = Split { train: Vec::new(), val: Vec::new(), test: (0..n).collect() };
    Dataset { genes, inputs, outputs, track_classes, eval_track_names, split }
}

/// Reads `--load_output_track_names FILE[,FILE..]`: every file's whitespace-separated names
/// (`#` starts a comment), which must not be empty.
pub fn read_track_name_files(arg: &str) -> anyhow::Result<Vec<(PathBuf, Vec<String>)>> {
    arg.split(',')
        .map(|f| {
            let path = PathBuf::from(f.trim());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: cannot read the track names (--load_output_track_names): {e}", path.display()))?;
            let names: Vec<String> =
                text.lines().flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace()).map(str::to_string).collect();
            anyhow::ensure!(!names.is_empty(), "{}: lists no track name (--load_output_track_names)", path.display());
            Ok((path, names))
        })
        .collect()
}

/// The track names of `files`, checked against the outputs of `spec` and the track counts of
/// `weights`: one file per output, one name per track.
fn names_per_output(
    files: &[(PathBuf, Vec<String>)],
    widths: &[usize],
    spec: &ModelSpec,
    weights: &Path,
) -> anyhow::Result<Vec<Vec<String>>> {
    anyhow::ensure!(
        files.len() == widths.len(),
        "--load_output_track_names: {} file(s) for the {} outputs of {} ({}); give one per output, comma-separated",
        files.len(),
        widths.len(),
        spec.name,
        spec.outputs.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
    );
    for (((path, names), &w), o) in files.iter().zip(widths).zip(spec.outputs) {
        anyhow::ensure!(
            names.len() == w,
            "{}: {} track names, output '{}' of {} has {w} tracks (--load_output_track_names)",
            path.display(),
            names.len(),
            o.name,
            weights.display()
        );
    }
    Ok(files.iter().map(|(_, n)| n.clone()).collect())
}

/// [`predict_sequences`] as a job for the variant the sequences' lengths chose.
pub struct SequencesJob {
    pub settings: PredictSettings,
    pub device: DeviceChoice,
    pub genes: Vec<String>,
    pub inputs: Vec<SeqSet>,
    pub tokens: Option<Vec<String>>,
    /// The command line, for its explanation flags.
    pub args: RunArgs,
    /// `ModelFamily::DECLARATION`, for fast ISM.
    pub declaration: &'static str,
}

impl VariantJob for SequencesJob {
    type Output = anyhow::Result<()>;

    fn run<M: DrgModel<Cpu>>(self) -> anyhow::Result<()> {
        let tokens = self.tokens.as_deref();
        let flags = explain_flags(&self.args, self.declaration);
        let (s, genes, inputs) = (&self.settings, self.genes, self.inputs);
        match self.device {
            DeviceChoice::Cpu => predict_sequences::<M, Cpu>(s, genes, inputs, tokens, &flags),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(_) => predict_sequences::<M::On<crate::device::Cuda>, crate::device::Cuda>(s, genes, inputs, tokens, &flags),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => unreachable!("check_device refuses CUDA in a build without it"),
        }
    }
}
