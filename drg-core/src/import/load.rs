//! Filling a model from a state dict, and the reverse.
//!
//! drg-rs layers implement dfdx's `TensorCollection` with the reference's state-dict names as
//! field names, so dfdx's name joining (`a.b.c`) yields exactly the reference's keys. Loading is
//! therefore one walk over the model ([`load_state_dict`]) that looks every tensor up by its
//! joined name, and exporting is the same walk in the other direction ([`export_state_dict`]).
//!
//! Loading never stops at the first problem: every missing key, wrong shape and unused key is
//! collected and reported in one [`ImportError::Mismatch`], naming the file.

use std::collections::BTreeSet;
use std::path::Path;

use dfdx::nn::tensor_collection::RecursiveWalker;
use dfdx::nn::tensor_collection::{TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName, ViewTensorRef};
use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;
use dfdx::tensor_ops::Device;

use super::error::{ImportError, KeyProblem};
use super::state_dict::{Entry, StateDict, StoredDtype};

/// How [`load_state_dict`] matches a file to a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Prepended to every model name to form the file key, e.g. `cnns.CNN0.` to load one trunk
    /// from a multi-input model's file. Only file keys under this prefix count as unused.
    pub prefix: String,
    /// Accept file keys that no model tensor takes (they are listed in
    /// [`LoadReport::unused`]); by default they are an error, since they usually mean the model
    /// was built with other settings than the one that was saved. BatchNorm
    /// `num_batches_tracked` counters are never an error: drg-rs does not keep them.
    pub allow_unused: bool,
    /// Accept a file tensor whose shape differs from the model's only by axes of size 1 (the
    /// memory layout is the same), e.g. the reference's attention projections, which are conv
    /// weights `(out, in, 1)`, into a `(out, in)` matrix. Such keys are listed in
    /// [`LoadReport::reshaped`].
    pub squeeze_unit_dims: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { prefix: String::new(), allow_unused: false, squeeze_unit_dims: true }
    }
}

impl LoadOptions {
    /// Default options with a key prefix.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        LoadOptions { prefix: prefix.into(), ..Default::default() }
    }
}

/// What a successful load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// File keys copied into the model, in visiting order.
    pub loaded: Vec<String>,
    /// Of those, the ones whose shape differed by axes of size 1.
    pub reshaped: Vec<String>,
    /// File keys under the prefix that the model does not take (only with `allow_unused`).
    pub unused: Vec<String>,
    /// `num_batches_tracked` counters of the file, which drg-rs does not keep.
    pub skipped_counters: Vec<String>,
}

/// Whether `key` is a BatchNorm step counter, which the model does not store.
fn is_counter(key: &str) -> bool {
    key == "num_batches_tracked" || key.ends_with(".num_batches_tracked")
}

/// Copies every tensor of `model` from the entry of `sd` with the same (prefixed) name.
///
/// The model is checked against the file first and only written if everything fits: on error
/// it is unchanged, and the error lists every problem.
pub fn load_state_dict<M, D>(model: &mut M, sd: &StateDict, opts: &LoadOptions) -> Result<LoadReport, ImportError>
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    let mut check = Loader { sd, opts, write: false, used: BTreeSet::new(), problems: Vec::new(), report: LoadReport::default() };
    walk_mut(model, &mut check);
    let Loader { used, mut problems, mut report, .. } = check;
    let mut unused = Vec::new();
    for key in sd.entries.keys().filter(|k| k.starts_with(&opts.prefix) && !used.contains(*k)) {
        if is_counter(key) {
            report.skipped_counters.push(key.clone());
        } else {
            unused.push(key.clone());
        }
    }
    if !unused.is_empty() {
        if opts.allow_unused {
            report.unused = unused;
        } else {
            problems.push(KeyProblem::Unused { keys: unused });
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Mismatch { path: sd.source.clone(), problems });
    }
    walk_mut(model, &mut Loader { sd, opts, write: true, used: BTreeSet::new(), problems: Vec::new(), report: LoadReport::default() });
    Ok(report)
}

/// Runs `loader` over every tensor of `model`, named by dfdx's joined field names.
fn walk_mut<M: TensorCollection<f32, D>, D: Device<f32>>(model: &mut M, loader: &mut Loader<'_>) {
    match M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: loader }) {
        Ok(_) => {}
        Err(never) => match never {},
    }
}

/// Reads a state dict from `path` (`.npz`, `.pth`, `.pt`; see [`StateDict::from_file`]) into
/// `model`.
pub fn import_file<M, D>(model: &mut M, path: impl AsRef<Path>, opts: &LoadOptions) -> Result<LoadReport, ImportError>
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    let sd = StateDict::from_file(path)?;
    load_state_dict(model, &sd, opts)
}

/// The model's tensors under their state-dict names, as float32 entries. For every BatchNorm
/// (a `running_mean` next to a `running_var`) a `num_batches_tracked` counter of 0 (int64) is
/// added, so that torch's strict `load_state_dict` accepts the result.
pub fn export_state_dict<M, D>(model: &M) -> StateDict
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    let mut exporter = Exporter { sd: StateDict::default() };
    let walked = M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut exporter });
    match walked {
        Ok(_) => {}
        Err(never) => match never {},
    }
    let mut sd = exporter.sd;
    let counters: Vec<String> = sd
        .entries
        .keys()
        .filter_map(|k| k.strip_suffix("running_mean"))
        .filter(|base| sd.entries.contains_key(&format!("{base}running_var")))
        .map(|base| format!("{base}num_batches_tracked"))
        .collect();
    for key in counters {
        sd.entries.entry(key).or_insert(Entry { shape: Vec::new(), values: vec![0.0], dtype: StoredDtype::I64 });
    }
    sd
}

/// Writes `model` as an `.npz` in the reference's key names (atomically).
pub fn export_npz<M, D>(model: &M, path: impl AsRef<Path>) -> Result<(), ImportError>
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    export_state_dict(model).write_npz(path)
}

fn dims<S: Shape>(shape: &S) -> Vec<usize> {
    let c = shape.concrete();
    (0..S::NUM_DIMS).map(|i| c[i]).collect()
}

fn without_unit_dims(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

/// Looks every model tensor up in the state dict: with `write` false it only records problems
/// and the report, with `write` true (after a clean check) it copies the values.
struct Loader<'a> {
    sd: &'a StateDict,
    opts: &'a LoadOptions,
    write: bool,
    used: BTreeSet<String>,
    problems: Vec<KeyProblem>,
    report: LoadReport,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Loader<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (tensor, name): (&mut Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        let key = format!("{}{}", self.opts.prefix, name);
        let model_shape = dims(tensor.shape());
        let Some(entry) = self.sd.get(&key) else {
            self.problems.push(KeyProblem::Missing { key, expected: model_shape });
            return Ok(None);
        };
        self.used.insert(key.clone());
        if !entry.dtype.is_float() {
            self.problems.push(KeyProblem::NotFloat { key, dtype: entry.dtype.name() });
            return Ok(None);
        }
        if entry.shape != model_shape {
            let squeezable = self.opts.squeeze_unit_dims && without_unit_dims(&entry.shape) == without_unit_dims(&model_shape);
            if !squeezable {
                self.problems.push(KeyProblem::Shape { key, file: entry.shape.clone(), model: model_shape });
                return Ok(None);
            }
            self.report.reshaped.push(key.clone());
        }
        if self.write {
            tensor.copy_from(&entry.values);
        }
        self.report.loaded.push(key);
        Ok(None)
    }
}

struct Exporter {
    sd: StateDict,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Exporter {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (tensor, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        self.sd.entries.insert(name, Entry::f32(dims(tensor.shape()), tensor.as_vec()));
        Ok(None)
    }
}
