//! `drg collect`: a sweep's per-fold test predictions joined into genome-wide cross-validated
//! results.
//!
//! The data set is loaded once, as the tasks loaded it (the files and options of the plan's model
//! arguments), and every fold's split is computed from it. Per model and seed whose folds all
//! finished, the folds' `_pred.npz` are checked against the data (the track columns, and the genes
//! against the fold's test set, in order) and joined: each gene once, predicted by the fold that
//! held it out, in the data's (sorted) gene order. The joined predictions are scored with the
//! report writers of [`crate::eval`] (the reference's correlation files, the summary against the
//! average-profile baseline, where each gene's baseline is the training mean profile of its fold).
//! With two seeds or more, the ensemble (mean prediction over seeds) is scored the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::plan::{SweepPlan, Task};
use super::plot::plot_summary;
use super::status::{task_state, TaskState};
use super::table::{table_text, table_tsv, TableRow};
use crate::data::{self, CvSpec, DataSpec, InputSpec, Split};
use crate::eval::atomic_file::write_bytes_atomically;
use crate::eval::metrics::{class_correlations, TestSet};
use crate::eval::report_files::{write_correlation_reports, write_predictions_npz, CorrelationReports};
use crate::eval::summary::{mean_profile, summarize_per_gene_baseline, Summary};
use crate::import::npz::read_npz;
use crate::train::data_fit::targets_side_by_side;
use crate::train::outputs::ModelDescription;

/// What `drg collect` did.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Tasks that did not finish, with their state (listed in `missing_tasks.tsv`).
    pub missing: Vec<(Task, TaskState)>,
    /// One line per joined model and seed, and per (model, seed) left out.
    pub notes: Vec<String>,
    pub rows: Vec<TableRow>,
    /// `summary.txt`'s text.
    pub table: String,
    pub files: Vec<PathBuf>,
}

/// The data every fold shares: genes, measured values, and each fold's split and baseline.
struct Truth {
    genes: Vec<String>,
    /// `genes × ΣT` measured values, heads side by side.
    values: Vec<f64>,
    n_tracks: usize,
    raw_tracks: Vec<Vec<String>>,
    spec: DataSpec,
    /// Per fold of the plan: the split and the training set's mean profile.
    folds: BTreeMap<u64, (Split, Vec<f64>)>,
}

/// A prediction over some genes: data gene indices, the fold that predicted each, the values.
struct Joined {
    rows: Vec<usize>,
    folds: Vec<u64>,
    values: Vec<f32>,
}

/// Collects the sweep of `plan` into `outdir`.
pub fn collect(plan: &SweepPlan, outdir: &Path) -> anyhow::Result<Collected> {
    let tasks = plan.tasks();
    let states: Vec<TaskState> = tasks.iter().map(|t| task_state(&plan.task_dir(t))).collect();
    std::fs::create_dir_all(outdir).with_context(|| format!("{}: cannot create the folder", outdir.display()))?;
    let missing: Vec<(Task, TaskState)> =
        tasks.iter().zip(&states).filter(|(_, s)| !s.is_done()).map(|(t, s)| (t.clone(), s.clone())).collect();
    let mut files = vec![write_missing(outdir, plan, &missing)?];
    if missing.len() == tasks.len() {
        anyhow::bail!(
            "no task of the sweep in {} has finished ({} tasks; listed in {})",
            plan.outdir.display(),
            tasks.len(),
            files[0].display()
        );
    }

    let truth = load_truth(plan)?;
    let mut notes = Vec::new();
    let mut rows = Vec::new();
    for model in &plan.grid.models {
        let mine: Vec<(&Task, &TaskState)> = tasks.iter().zip(&states).filter(|(t, _)| t.model == model.name).collect();
        let Some(description) = mine.iter().find_map(|(_, s)| match s {
            TaskState::Done { predictions } => Some(description_path(predictions)),
            _ => None,
        }) else {
            notes.push(format!("{}: no finished task, left out", model.name));
            continue;
        };
        let (tracks, classes) = model_tracks(&truth, &description)?;
        let mut per_seed: Vec<(u64, Summary)> = Vec::new();
        let mut joined_seeds: Vec<Joined> = Vec::new();
        for &seed in &plan.grid.seeds {
            let runs: Vec<(&Task, &TaskState)> = mine.iter().copied().filter(|(t, _)| t.seed == seed).collect();
            let absent: Vec<String> = runs.iter().filter(|(_, s)| !s.is_done()).map(|(t, _)| t.fold.to_string()).collect();
            if !absent.is_empty() {
                notes.push(format!("{} seed {seed}: left out, fold(s) {} not finished", model.name, absent.join(",")));
                continue;
            }
            let joined = join_folds(&truth, &tracks, &runs)?;
            let prefix = format!("{}/{}_sd{seed}", outdir.display(), model.name);
            let (summary, written) = score(&truth, &joined, &tracks, &classes, &prefix)?;
            files.extend(written);
            notes.push(format!(
                "{} seed {seed}: {} genes of {} joined from folds {}",
                model.name,
                joined.rows.len(),
                truth.genes.len(),
                plan.grid.folds.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ));
            per_seed.push((seed, summary));
            joined_seeds.push(joined);
        }
        if per_seed.is_empty() {
            continue;
        }
        let ensemble = if joined_seeds.len() >= 2 {
            let mean = ensemble_mean(&joined_seeds);
            let prefix = format!("{}/{}_ensemble", outdir.display(), model.name);
            let (summary, written) = score(&truth, &mean, &tracks, &classes, &prefix)?;
            files.extend(written);
            Some(summary)
        } else {
            None
        };
        rows.extend(table_rows(&model.name, &per_seed, ensemble.as_ref()));
    }

    let table = table_text(&rows);
    for (name, text) in [("summary.tsv", table_tsv(&rows)), ("summary.txt", table.clone())] {
        let path = outdir.join(name);
        write_bytes_atomically(&path, text.as_bytes())?;
        files.push(path);
    }
    if !rows.is_empty() {
        let path = outdir.join("summary.svg");
        plot_summary(&path, &rows)?;
        files.push(path);
    }
    Ok(Collected { missing, notes, rows, table, files })
}

/// `missing_tasks.tsv`: a header and one line per task that did not finish.
fn write_missing(outdir: &Path, plan: &SweepPlan, missing: &[(Task, TaskState)]) -> anyhow::Result<PathBuf> {
    let mut text = String::from("task\tmodel\tfold\tseed\tstate\trun_folder\n");
    for (t, s) in missing {
        text.push_str(&format!("{}\t{}\t{}\t{}\t{}\t{}\n", t.index, t.model, t.fold, t.seed, s.describe(), plan.task_dir(t).display()));
    }
    let path = outdir.join("missing_tasks.tsv");
    write_bytes_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// `<prefix>_model_params.json` next to `<prefix>_pred.npz`.
fn description_path(predictions: &Path) -> PathBuf {
    let s = predictions.to_string_lossy();
    PathBuf::from(format!("{}_model_params.json", s.strip_suffix("_pred.npz").unwrap_or(&s)))
}

/// The cross-validation of one fold, as the tasks got it (`--crossvalidation A <fold> B`).
fn cv_of(plan: &SweepPlan, fold: u64) -> anyhow::Result<CvSpec> {
    let [a, b] = &plan.grid.crossvalidation;
    Ok(match a.parse::<usize>() {
        Ok(folds) => {
            let cutoff = b.parse::<f32>().with_context(|| format!("--crossvalidation: cutoff '{b}' is not a number"))?;
            CvSpec::Integer { folds, fold: fold as usize, cutoff: Some(cutoff) }
        }
        Err(_) => CvSpec::File { path: plan.resolve(a), fold: fold as usize },
    })
}

/// Loads the sweep's data set as its tasks did and computes every fold's split and baseline.
fn load_truth(plan: &SweepPlan) -> anyhow::Result<Truth> {
    let args = plan.run_args()?;
    let (Some(inputs), Some(outputs)) = (&args.inputs, &args.outputs) else {
        anyhow::bail!("{}: the plan's model arguments name no data files", plan.outdir.join(super::plan::PLAN_FILE).display());
    };
    let inputs = inputs.split(',').map(|p| InputSpec::new(plan.resolve(p), false)).collect();
    let mut spec = DataSpec::new(inputs, outputs.split(',').map(|p| plan.resolve(p)).collect());
    if let Some(d) = &args.delimiter {
        spec.delimiter = data::matrix::parse_delimiter(d).map_err(|e| anyhow::anyhow!("--delimiter: {e}"))?;
    }
    spec.class_file = args.split_outclasses.as_ref().map(|p| plan.resolve(p));
    spec.file_tags = args.add_fileclasses.as_ref().map(|t| t.split(',').map(str::to_string).collect());
    spec.cv = cv_of(plan, plan.grid.folds[0])?;
    let ds = data::load(&spec)?;
    let all: Vec<usize> = (0..ds.n_genes()).collect();
    let values: Vec<f64> = targets_side_by_side(&ds, &all).into_iter().map(f64::from).collect();
    let n_tracks = ds.n_tracks().iter().sum();
    let mut folds = BTreeMap::new();
    for &f in &plan.grid.folds {
        let split = data::split(&cv_of(plan, f)?, &ds.genes, &ds.outputs)?;
        let train: Vec<f64> = split.train.iter().flat_map(|&g| values[g * n_tracks..(g + 1) * n_tracks].iter().copied()).collect();
        let profile = mean_profile(&train, n_tracks);
        folds.insert(f, (split, profile));
    }
    let raw_tracks = ds.outputs.iter().map(|m| m.track_names.clone()).collect();
    Ok(Truth { genes: ds.genes, values, n_tracks, raw_tracks, spec, folds })
}

/// The evaluation names and classes of every track for one model: `--add_fileclasses` when
/// given, else (several output files) the model's output names, as the binary tags them.
fn model_tracks(truth: &Truth, description: &Path) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut spec = truth.spec.clone();
    if spec.file_tags.is_none() && truth.raw_tracks.len() > 1 {
        let d = ModelDescription::read(description)?;
        anyhow::ensure!(
            d.outputs.len() == truth.raw_tracks.len(),
            "{}: the model has {} outputs, the data {} output files",
            description.display(),
            d.outputs.len(),
            truth.raw_tracks.len()
        );
        spec.file_tags = Some(d.outputs.iter().map(|o| o.0.clone()).collect());
    }
    let (classes, names) = data::track_labels(&spec, &truth.raw_tracks)?;
    Ok((names.concat(), classes.concat()))
}

/// The folds of one model and seed joined: each fold's `_pred.npz` checked against the data and
/// its test set, then every gene placed once, in data order.
fn join_folds(truth: &Truth, tracks: &[String], runs: &[(&Task, &TaskState)]) -> anyhow::Result<Joined> {
    let t = truth.n_tracks;
    let mut by_gene: Vec<Option<(u64, Vec<f32>)>> = vec![None; truth.genes.len()];
    for (task, state) in runs {
        let TaskState::Done { predictions: path } = state else { unreachable!("only finished runs are joined") };
        let npz = read_npz(path)?;
        let names = npz.get("names")?.strings().with_context(|| format!("{}: 'names' holds no strings", path.display()))?.to_vec();
        let columns = npz.get("columns")?.strings().with_context(|| format!("{}: 'columns' holds no strings", path.display()))?.to_vec();
        let (shape, values) = npz.f32("values")?;
        anyhow::ensure!(
            columns == tracks,
            "{}: its {} track columns are not the data's {} tracks ({} ... vs {} ...)",
            path.display(),
            columns.len(),
            tracks.len(),
            columns.first().map_or("", String::as_str),
            tracks.first().map_or("", String::as_str)
        );
        anyhow::ensure!(shape == [names.len(), t], "{}: values of shape {shape:?}, expected [{}, {t}]", path.display(), names.len());
        let (split, _) = &truth.folds[&task.fold];
        let want: Vec<&String> = split.test.iter().map(|&g| &truth.genes[g]).collect();
        anyhow::ensure!(
            names.iter().eq(want.iter().copied()),
            "{}: its {} genes are not the {} genes of fold {}'s test set in the data (a run on other data, or another cross-validation file?)",
            path.display(),
            names.len(),
            want.len(),
            task.fold
        );
        for (i, &g) in split.test.iter().enumerate() {
            if let Some((other, _)) = &by_gene[g] {
                anyhow::bail!(
                    "gene {} is in the test sets of folds {other} and {}: joined predictions need folds whose test sets do not overlap",
                    truth.genes[g],
                    task.fold
                );
            }
            by_gene[g] = Some((task.fold, values[i * t..(i + 1) * t].to_vec()));
        }
    }
    let mut joined = Joined { rows: Vec::new(), folds: Vec::new(), values: Vec::new() };
    for (g, p) in by_gene.into_iter().enumerate() {
        if let Some((fold, v)) = p {
            joined.rows.push(g);
            joined.folds.push(fold);
            joined.values.extend(v);
        }
    }
    Ok(joined)
}

/// The mean prediction over seeds (all joined over the same genes), summed in f64.
fn ensemble_mean(seeds: &[Joined]) -> Joined {
    let k = seeds.len() as f64;
    let values = (0..seeds[0].values.len()).map(|i| (seeds.iter().map(|s| s.values[i] as f64).sum::<f64>() / k) as f32).collect();
    Joined { rows: seeds[0].rows.clone(), folds: seeds[0].folds.clone(), values }
}

/// Writes `<prefix>_pred.npz` and the correlation files of `joined`, and returns its summary.
fn score(truth: &Truth, joined: &Joined, tracks: &[String], classes: &[String], prefix: &str) -> anyhow::Result<(Summary, Vec<PathBuf>)> {
    let t = truth.n_tracks;
    let genes: Vec<String> = joined.rows.iter().map(|&g| truth.genes[g].clone()).collect();
    let measured: Vec<f64> = joined.rows.iter().flat_map(|&g| truth.values[g * t..(g + 1) * t].iter().copied()).collect();
    // Each gene's baseline: the training mean profile of the fold that held it out.
    let baseline: Vec<f64> = joined.folds.iter().flat_map(|f| truth.folds[f].1.iter().copied()).collect();
    let set = TestSet { pred: &joined.values, truth: &measured, genes: &genes, tracks, classes };
    let mut files = vec![write_predictions_npz(prefix, &genes, &joined.values, tracks)?];
    let per_class = class_correlations(&set)?;
    files.extend(write_correlation_reports(prefix, &genes, &per_class, CorrelationReports { per_class: true, per_point: true })?);
    Ok((summarize_per_gene_baseline(&set, &baseline)?, files))
}

/// The table's rows of one model: one per class, seeds in plan order.
fn table_rows(model: &str, per_seed: &[(u64, Summary)], ensemble: Option<&Summary>) -> Vec<TableRow> {
    per_seed[0]
        .1
        .rows
        .iter()
        .enumerate()
        .map(|(i, first)| TableRow {
            model: model.to_string(),
            class: first.class.clone(),
            tracks: first.tracks,
            genes: first.genes_model,
            per_seed: per_seed.iter().map(|(seed, s)| (*seed, s.rows[i].model)).collect(),
            ensemble: ensemble.map(|e| e.rows[i].model),
            baseline: first.baseline,
        })
        .collect()
}
