//! A saved model brought back into a compiled model type: for `--predictnew`, for fine-tuning
//! (`--load_parameters`), and for anything else that runs a trained model on given genes
//! (attributions, kernel analysis).
//!
//! Weights come as drg-rs's `.safetensors` or the reference's `.pth` / state-dict `.npz`, all
//! read into one [`StateDict`] ([`crate::import::read_weights`]). What the file cannot say by
//! names alone, the model type can: which tensors are per track (a head's rows, one per track
//! of an output declared `[_]`) is found by building the model at two track counts and comparing
//! shapes ([`track_tensors`]). That gives the track counts the weights were saved with
//! ([`widths_in_weights`], so prediction needs no output files), and the rows to keep when
//! `--select_tracks` prunes a head saved with more tracks.
//!
//! ```no_run
//! # use drg_core::train::saved_model::open_saved_model;
//! # fn f<M: drg_core::model::DrgModel<drg_core::dfdx::tensor::Cpu>>() -> anyhow::Result<()> {
//! let dev = drg_core::dfdx::tensor::Cpu::default();
//! // The track counts the file holds; no track selection.
//! let saved = open_saved_model::<M, _>(&dev, "run_parameter.safetensors".as_ref(), None, None)?;
//! let model: M = saved.model;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use dfdx::nn::tensor_collection::{RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef};
use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, Tensor};
use dfdx::tensor_ops::Device;

use super::outputs::ModelDescription;
use crate::data::tracks::TrackSelection;
use crate::device::DrgDevice;
use crate::import::partial::Outcome;
use crate::import::{load_partial, read_weights, PartialLoad, PartialReport, StateDict};
use crate::model::{DrgModel, ModelSpec};

/// Every tensor of `model` with its shape, by state-dict name.
pub fn tensor_shapes<M: TensorCollection<f32, D>, D: Device<f32>>(model: &M) -> BTreeMap<String, Vec<usize>> {
    let mut v = Shapes(BTreeMap::new());
    match M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut v }) {
        Ok(_) => {}
        Err(never) => match never {},
    }
    v.0
}

struct Shapes(BTreeMap<String, Vec<usize>>);

impl<D: Device<f32>> TensorVisitor<f32, D> for Shapes {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (t, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        let c = t.shape().concrete();
        self.0.insert(name, (0..S::NUM_DIMS).map(|i| c[i]).collect());
        Ok(None)
    }
}

/// The outputs whose track counts must be equal (one shared head serves them), as groups; every
/// other output of data width (`[_]`) is a group of its own. Outputs of fixed width are in none.
fn width_groups(spec: &ModelSpec) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    if !spec.equal_widths.is_empty() {
        groups.push(spec.equal_widths.iter().copied().filter(|&k| spec.outputs[k].width.is_none()).collect());
    }
    for (k, o) in spec.outputs.iter().enumerate() {
        if o.width.is_none() && !spec.equal_widths.contains(&k) {
            groups.push(vec![k]);
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// The tensors of model `M` whose first axis is the track count of an output declared `[_]`,
/// each with that output (the first of its group when one head serves several outputs). Found by
/// building the model on the CPU with 1 and 2 tracks per group and comparing shapes; the
/// device's generator of the caller is not touched.
pub fn track_tensors<M: DrgModel<D>, D: DrgDevice>() -> BTreeMap<String, usize> {
    let spec = M::SPEC;
    let base: Vec<usize> = spec.outputs.iter().map(|o| o.width.unwrap_or(1)).collect();
    let dev = Cpu::default();
    let shapes_at = |w: &[usize]| tensor_shapes(&<M::On<Cpu> as DrgModel<Cpu>>::new(&dev, w));
    let one = shapes_at(&base);
    let mut out = BTreeMap::new();
    for group in width_groups(&spec) {
        let mut w = base.clone();
        for &k in &group {
            w[k] = 2;
        }
        for (name, shape) in shapes_at(&w) {
            if one.get(&name).is_some_and(|s| s.first() == Some(&1) && shape.first() == Some(&2) && s[1..] == shape[1..]) {
                out.insert(name, group[0]);
            }
        }
    }
    out
}

/// The track count of every output that the weights in `sd` were saved with: declared widths as
/// they are, data widths (`[_]`) read off the file's per-track tensors.
pub fn widths_in_weights<M: DrgModel<D>, D: DrgDevice>(sd: &StateDict) -> anyhow::Result<Vec<usize>> {
    let spec = M::SPEC;
    let per_track = track_tensors::<M, D>();
    let groups = width_groups(&spec);
    let mut widths: Vec<usize> = spec.outputs.iter().map(|o| o.width.unwrap_or(0)).collect();
    for group in &groups {
        let key = per_track.iter().filter(|(_, &k)| k == group[0]).map(|(name, _)| name).next();
        let found = key.and_then(|key| sd.get(key).map(|e| (key, e)));
        let Some((key, entry)) = found else {
            bail!(
                "{}: no tensor of output '{}' of model {} ({}) is in the file: the weights are of another architecture",
                sd.source.display(),
                spec.outputs[group[0]].name,
                spec.name,
                key.map_or("no per-track tensor".to_string(), |k| format!("expected '{k}'"))
            );
        };
        let Some(&w) = entry.shape.first().filter(|&&w| w > 0) else {
            bail!("{}: tensor '{key}' of shape {:?} holds no tracks", sd.source.display(), entry.shape);
        };
        for &k in group {
            widths[k] = w;
        }
    }
    Ok(widths)
}

/// `<prefix>_model_params.json` beside `<prefix>_parameter.safetensors` (or `.pth`/`.npz`),
/// if the weights file has that name and the description exists.
pub fn description_beside(weights: &Path) -> Option<PathBuf> {
    let name = weights.file_name()?.to_str()?;
    let stem = ["_parameter.safetensors", "_parameter.pth", "_parameter.npz"].iter().find_map(|s| name.strip_suffix(s))?;
    Some(weights.with_file_name(format!("{stem}_model_params.json"))).filter(|p| p.is_file())
}

/// The rows of the file's per-track tensors that `select` keeps, by model tensor name.
pub fn selected_rows<M: DrgModel<D>, D: DrgDevice>(select: &TrackSelection) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    let spec = M::SPEC;
    for group in width_groups(&spec) {
        if let Some(&other) = group.iter().find(|&&k| select.per_output[k] != select.per_output[group[0]]) {
            bail!(
                "--select_tracks: model {} serves outputs '{}' and '{}' with one shared head, so they need the same tracks selected",
                spec.name,
                spec.outputs[group[0]].name,
                spec.outputs[other].name
            );
        }
    }
    Ok(track_tensors::<M, D>().into_iter().map(|(name, k)| (name, select.per_output[k].clone())).collect())
}

/// Fills `model` completely from `sd` (by its own names, per-track tensors cut to `rows` where
/// given): every tensor must be in the file with a fitting shape, and every weight of the file
/// must be used. Otherwise one error line names the file, counts each kind of problem and gives
/// an example of each.
pub fn load_complete<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    sd: &StateDict,
    rows: BTreeMap<String, Vec<usize>>,
) -> anyhow::Result<PartialReport> {
    let how = PartialLoad { rows, ..PartialLoad::everything() };
    let report = load_partial(model, sd, &how);
    let mut problems = Vec::new();
    let kept: Vec<_> = report.kept().collect();
    let missing: Vec<_> = kept.iter().filter(|l| l.outcome == Outcome::NotInFile).collect();
    if let Some(first) = missing.first() {
        problems.push(format!(
            "{} of the model's {} tensors are not in the file (e.g. '{}' {:?})",
            missing.len(),
            report.lines.len(),
            first.key,
            first.shape
        ));
    }
    let shapes: Vec<_> =
        kept.iter().filter_map(|l| if let Outcome::DifferentSize { file } = &l.outcome { Some((l, file)) } else { None }).collect();
    if let Some((first, file)) = shapes.first() {
        problems.push(format!(
            "{} tensors have other shapes (e.g. '{}': a tensor of shape {file:?} in the file is {:?} in the model)",
            shapes.len(),
            first.key,
            first.shape
        ));
    }
    if let Some(first) = kept.iter().find(|l| matches!(l.outcome, Outcome::NotFloat { .. })) {
        problems.push(first.text());
    }
    if let Some(first) = report.unused.first() {
        problems.push(format!("{} tensors of the file are not in the model (e.g. '{first}')", report.unused.len()));
    }
    if !problems.is_empty() {
        bail!(
            "{}: the weights do not fit model {}{}: {}; they are weights of another architecture, or (for an output declared `[_]`) of another number of tracks",
            sd.source.display(),
            M::SPEC.name,
            if M::SPEC.variant.is_empty() { String::new() } else { format!(" size {}", M::SPEC.variant) },
            problems.join("; ")
        );
    }
    Ok(report)
}

/// A model filled from a weights file.
#[derive(Debug)]
pub struct SavedModel<M> {
    pub model: M,
    /// The track counts the file was saved with (before any selection).
    pub file_widths: Vec<usize>,
    /// The model's track counts (after the selection).
    pub widths: Vec<usize>,
    pub report: PartialReport,
    /// The model description found beside the weights, if any.
    pub description: Option<ModelDescription>,
}

/// Opens the weights file `path` as model `M` on `dev`: checks the model description beside it
/// (when there is one: it must be of `M`'s model and size, with the file's track counts), builds
/// `M` with `widths` tracks per output (by default those of the file, or of `select`), and fills
/// it completely ([`load_complete`]); `select` (against the file's tracks) keeps the selected rows
/// of heads saved with every track.
pub fn open_saved_model<M: DrgModel<D>, D: DrgDevice>(
    dev: &D,
    path: &Path,
    widths: Option<&[usize]>,
    select: Option<&TrackSelection>,
) -> anyhow::Result<SavedModel<M>> {
    let spec = M::SPEC;
    anyhow::ensure!(path.exists(), "{}: no such file", path.display());
    let description = match description_beside(path) {
        Some(p) => {
            let d = ModelDescription::read(&p)?;
            anyhow::ensure!(
                d.model == spec.name && d.variant == spec.variant,
                "{}: weights of model {} ({}), not of {} ({}) (from {})",
                path.display(),
                d.model,
                d.variant,
                spec.name,
                spec.variant,
                p.display()
            );
            Some((p, d))
        }
        None => None,
    };
    let sd = read_weights(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let file_widths = widths_in_weights::<M, D>(&sd)?;
    if let Some((p, d)) = &description {
        d.check_fits(&spec, &file_widths, p)?;
    }
    let widths: Vec<usize> = match (widths, select) {
        (Some(w), _) => w.to_vec(),
        (None, Some(s)) => s.widths(),
        (None, None) => file_widths.clone(),
    };
    spec.check_widths(&widths).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // A head saved with every track is cut to the selected rows; one saved with the selected
    // tracks only (a model fine-tuned on them) loads as it is.
    let rows = match select {
        Some(s) if !s.keeps_all() && file_widths != widths => {
            anyhow::ensure!(
                s.full_widths == file_widths,
                "{}: --select_tracks chose from {:?} tracks per output, the weights hold {:?}",
                path.display(),
                s.full_widths,
                file_widths
            );
            selected_rows::<M, D>(s)?
        }
        _ => BTreeMap::new(),
    };
    let mut model = M::new(dev, &widths);
    let report = load_complete(&mut model, &sd, rows)?;
    Ok(SavedModel { model, file_widths, widths, report, description: description.map(|(_, d)| d) })
}

/// The reference's `--load_parameters FILE TRANSLATE EXCLUDE INCLUDE ALLOW_REDUCTION`, applied to
/// a freshly built model before training (fine-tuning): see [`crate::import::partial`]. FILE may
/// be a comma list: the files are loaded in order (a later file overwrites what an earlier one
/// loaded), each with its own lists ([`PartialLoad::per_file`], the reference's multi-input form).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadParameters {
    /// The weights files, in loading order, each with what to load from it.
    pub files: Vec<(PathBuf, PartialLoad)>,
    /// `--select_tracks`: heads saved with every track keep the selected rows.
    pub tracks: Option<TrackSelection>,
}

impl LoadParameters {
    /// From the five arguments as given on the command line.
    pub fn from_reference_args(args: &[String], tracks: Option<TrackSelection>) -> anyhow::Result<Self> {
        let [file, translate, exclude, include, reduction] = args else {
            bail!("--load_parameters takes 5 arguments (FILE TRANSLATE EXCLUDE INCLUDE ALLOW_REDUCTION), {} given", args.len());
        };
        let paths: Vec<&str> = file.split(',').map(str::trim).collect();
        anyhow::ensure!(paths.iter().all(|p| !p.is_empty()), "--load_parameters: FILE '{file}' has an empty entry");
        let hows = PartialLoad::per_file(paths.len(), translate, exclude, include, reduction)
            .map_err(|e| anyhow::anyhow!("--load_parameters: {e}"))?;
        Ok(Self { files: paths.iter().map(PathBuf::from).zip(hows).collect(), tracks })
    }

    /// What the model description and the checkpoint fingerprint record (one file: as before
    /// several files were accepted, so that fingerprints of such runs stay equal).
    pub fn describe(&self) -> serde_json::Value {
        let tracks = self.tracks.as_ref().map(|t| &t.per_output);
        let one = |(file, how): &(PathBuf, PartialLoad)| {
            serde_json::json!({
                "file": file.display().to_string(),
                "translate": how.translate, "names": how.names, "include": how.include, "allow_reduction": how.allow_reduction,
                "tracks": tracks,
            })
        };
        match self.files.as_slice() {
            [single] => one(single),
            several => serde_json::Value::Array(several.iter().map(one).collect()),
        }
    }

    /// Reads the weights files and the rows of the track selection for model `M`: the errors
    /// [`Self::apply`] can meet, found before a run writes any file.
    pub fn check<M: DrgModel<D>, D: DrgDevice>(&self) -> anyhow::Result<()> {
        self.files.iter().try_for_each(|(file, how)| self.prepare::<M, D>(file, how).map(|_| ()))
    }

    fn prepare<M: DrgModel<D>, D: DrgDevice>(&self, file: &Path, how: &PartialLoad) -> anyhow::Result<(StateDict, PartialLoad)> {
        anyhow::ensure!(file.exists(), "{}: no such file (--load_parameters)", file.display());
        let sd = read_weights(file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut how = how.clone();
        if let Some(sel) = self.tracks.as_ref().filter(|s| !s.keeps_all()) {
            how.rows = selected_rows::<M, D>(sel)?;
        }
        Ok((sd, how))
    }

    /// Loads what the arguments ask for into `model`, file after file, and says per file and
    /// tensor what was loaded and what kept its values.
    pub fn apply<M: DrgModel<D>, D: DrgDevice>(&self, model: &mut M) -> anyhow::Result<Vec<(PathBuf, PartialReport)>> {
        let mut reports = Vec::new();
        for (file, how) in &self.files {
            let (sd, how) = self.prepare::<M, D>(file, how)?;
            let report = load_partial(model, &sd, &how);
            if report.loaded().count() == 0 {
                eprintln!("warning: --load_parameters {}: no tensor was loaded", file.display());
            }
            reports.push((file.clone(), report));
        }
        Ok(reports)
    }
}

/// The track names of the weights' outputs when no output file names them: those of the model
/// description if it has them for these widths, else the reference's `C0..C{n-1}` per output.
pub fn track_names_for(description: Option<&ModelDescription>, widths: &[usize]) -> Vec<Vec<String>> {
    if let Some(d) = description.filter(|d| d.track_names.iter().map(Vec::len).eq(widths.iter().copied())) {
        return d.track_names.clone();
    }
    widths.iter().map(|&w| (0..w).map(|i| format!("C{i}")).collect()).collect()
}

/// The `_pred.npz` column names for `names` per output: the description's evaluation names when
/// they fit, else the names themselves, with `_<output>` appended when there are several outputs.
pub fn column_names(description: Option<&ModelDescription>, spec: &ModelSpec, names: &[Vec<String>]) -> Vec<String> {
    let total: usize = names.iter().map(Vec::len).sum();
    if let Some(d) = description.filter(|d| d.columns.len() == total && d.track_names == names) {
        return d.columns.clone();
    }
    if names.len() == 1 {
        return names[0].clone();
    }
    names.iter().zip(spec.outputs).flat_map(|(n, o)| n.iter().map(move |t| format!("{t}_{}", o.name))).collect()
}
