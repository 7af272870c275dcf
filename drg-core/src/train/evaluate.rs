//! Evaluating a model on a set of genes and writing the reference's reports: after training (the
//! test set) and for `--predictnew` (every given gene, with saved or imported weights).
//!
//! Predictions run in eval mode in sequential batches, in the given row order (the reference's
//! `batched_predict`); correlations, report files and the summary table come from [`crate::eval`].

use std::path::{Path, PathBuf};

use anyhow::ensure;

use super::data_fit::{check_fits, gene_names, targets_side_by_side, track_classes, track_names};
use super::outputs::{ModelDescription, OutputPaths};
use super::passes::predict;
use super::progress::Progress;
use super::saved_model::open_saved_model;
use crate::data::Dataset;
use crate::device::DrgDevice;
use crate::eval::metrics::{class_correlations, ClassCorrelations, TestSet};
use crate::eval::plots::plot_scatter;
use crate::eval::report_files::{write_correlation_reports, write_predictions_npz, CorrelationReports};
use crate::eval::summary::{mean_profile, summarize, Summary};
use crate::model::DrgModel;

/// Which outputs to write besides the summary table.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// `--save_correlation_perclass` / `--save_correlation_perpoint`.
    pub correlations: CorrelationReports,
    /// `--save_predictions`: `<prefix>_pred.npz`.
    pub save_predictions: bool,
    /// Loss curves and predicted-vs-measured scatter plots (SVG).
    pub plots: bool,
}

/// The evaluation of one set of genes.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The evaluated genes, in prediction order.
    pub genes: Vec<String>,
    /// `genes × ΣT` predictions, heads concatenated.
    pub preds: Vec<f32>,
    pub classes: Vec<ClassCorrelations>,
    pub summary: Summary,
    pub summary_text: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Predicts `rows`, compares with the measured values, writes the requested reports under `out`
/// and builds the summary table (with the average profile of `baseline_rows` as the baseline).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_and_report<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    baseline_rows: Option<&[usize]>,
    opts: &ReportOptions,
    out: &OutputPaths,
    batch_size: usize,
    progress: &Progress,
) -> anyhow::Result<Evaluation> {
    ensure!(!rows.is_empty(), "no genes to evaluate (the test set is empty)");
    let preds = predict(model, dev, data, rows, batch_size, progress)?;
    report_predictions::<M, D>(preds, data, rows, baseline_rows, opts, out)
}

/// [`evaluate_and_report`] for predictions already made: `preds` (`rows × ΣT`, heads side by
/// side) of model `M` compared with the measured values of `rows`.
pub fn report_predictions<M: DrgModel<D>, D: DrgDevice>(
    preds: Vec<f32>,
    data: &Dataset,
    rows: &[usize],
    baseline_rows: Option<&[usize]>,
    opts: &ReportOptions,
    out: &OutputPaths,
) -> anyhow::Result<Evaluation> {
    ensure!(!rows.is_empty(), "no genes to evaluate (the test set is empty)");
    let truth: Vec<f64> = targets_side_by_side(data, rows).into_iter().map(f64::from).collect();
    let genes = gene_names(data, rows);
    let (tracks, track_classes) = (track_names(data), track_classes(data));
    let set = TestSet { pred: &preds, truth: &truth, genes: &genes, tracks: &tracks, classes: &track_classes };
    let classes = class_correlations(&set)?;
    // The baseline predicts every gene with the mean profile of the training set (or, without
    // one, of the evaluated genes themselves: then only the model's column is informative).
    let baseline_rows = baseline_rows.filter(|r| !r.is_empty()).unwrap_or(rows);
    let train_truth: Vec<f64> = targets_side_by_side(data, baseline_rows).into_iter().map(f64::from).collect();
    let summary = summarize(&set, &mean_profile(&train_truth, tracks.len()))?;
    let summary_text = summary.to_string();

    let mut files = write_correlation_reports(&out.prefix, &genes, &classes, opts.correlations)?;
    if opts.save_predictions {
        files.push(write_predictions_npz(&out.prefix, &genes, &preds, &tracks)?);
    }
    if opts.plots {
        let total = tracks.len();
        let mut offset = 0;
        for (spec, y) in M::SPEC.outputs.iter().zip(&data.outputs) {
            let (start, w) = (offset, y.n_tracks());
            let cells: Vec<usize> = (0..rows.len()).flat_map(|r| r * total + start..r * total + start + w).collect();
            let measured: Vec<f64> = cells.iter().map(|&i| truth[i]).collect();
            let predicted: Vec<f32> = cells.iter().map(|&i| preds[i]).collect();
            let path = out.file(&format!("_scatter_{}.svg", spec.name));
            plot_scatter(&path, spec.name, &measured, &predicted)?;
            files.push(path);
            offset += y.n_tracks();
        }
    }
    Ok(Evaluation { genes, preds, classes, summary, summary_text, files })
}

/// `--predictnew`: builds `M` on device `ordinal` of its kind, loads `weights` (after checking
/// `<weights>`' model description, when one sits next to it), and evaluates every row of
/// `data.split.test` without training. Reports go under `out`; the summary's baseline is the mean
/// profile of `data.split.train` (of the evaluated genes when it is empty).
#[allow(clippy::too_many_arguments)]
pub fn predict_new<M: DrgModel<D>, D: DrgDevice>(
    weights: &Path,
    description: Option<&Path>,
    data: &Dataset,
    opts: &ReportOptions,
    out: &OutputPaths,
    batch_size: usize,
    ordinal: usize,
) -> anyhow::Result<Evaluation> {
    check_fits(data, &M::SPEC)?;
    ensure!(batch_size > 0, "the batch size must be positive");
    if let Some(desc) = description {
        ModelDescription::read(desc)?.check_fits(&M::SPEC, &data.n_tracks(), desc)?;
    }
    let dev = D::open(ordinal, 0)?;
    let mut model = open_saved_model::<M, D>(&dev, weights, Some(&data.n_tracks()), None)?.model;
    out.create_dir()?;
    let progress = Progress::auto(0);
    let eval = evaluate_and_report(&mut model, &dev, data, &data.split.test, Some(&data.split.train), opts, out, batch_size, &progress)?;
    progress.finish();
    Ok(eval)
}
