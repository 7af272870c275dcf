//! Where a run writes, and the files that describe and hold a model.
//!
//! Every file of a run is `<prefix><suffix>`, the reference's plain string concatenation
//! (`Models/run1` → `Models/run1_loss.txt`). Besides the reference's report files a run writes
//! * `<prefix>_parameter.safetensors`: the weights (BatchNorm statistics included) under the
//!   reference's state-dict names;
//! * `<prefix>_model_params.json`: the model item, its variant and hyper-parameters and the
//!   training settings, so that `--predictnew` can check that weights fit the model it builds;
//! * `<prefix>_checkpoint/`: the resumable state (see [`super::checkpoint`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use dfdx::nn::{LoadFromSafetensors, SaveToSafetensors};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::device::DrgDevice;
use crate::eval::atomic_file::write_bytes_atomically;
use crate::eval::report_files::output_path;
use crate::import::{import_file, LoadOptions};
use crate::model::ModelSpec;

/// The output name of a run; every file is this prefix plus a suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    pub prefix: String,
}

impl OutputPaths {
    /// `outdir` joined with `name` by string concatenation, as the reference does (`--outdir`
    /// should therefore end in `/`).
    pub fn new(outdir: &str, name: &str) -> Self {
        Self { prefix: format!("{outdir}{name}") }
    }

    pub fn file(&self, suffix: &str) -> PathBuf {
        output_path(&self.prefix, suffix)
    }

    /// The best (and finally the evaluated) weights.
    pub fn weights(&self) -> PathBuf {
        self.file("_parameter.safetensors")
    }

    pub fn model_description(&self) -> PathBuf {
        self.file("_model_params.json")
    }

    pub fn checkpoint_dir(&self) -> PathBuf {
        self.file("_checkpoint")
    }

    /// Creates the folder the prefix points into.
    pub fn create_dir(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.file("").parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the output folder", dir.display()))?;
        }
        Ok(())
    }
}

/// Saves `model` to `path` in safetensors format, atomically (temporary file + rename).
pub fn save_weights<M: TensorCollection<f32, D>, D: DrgDevice>(model: &M, path: &Path) -> anyhow::Result<()> {
    let tmp = crate::temp_file::temp_file_beside(path).with_context(|| format!("{}: cannot create a temporary file", path.display()))?;
    model.save_safetensors(tmp.path()).map_err(|e| anyhow::anyhow!("{}: cannot write weights: {e:?}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("{}: cannot replace the file", path.display()))?;
    Ok(())
}

/// Loads weights into `model`: a `.safetensors` saved by [`save_weights`], or a reference state
/// dict (`.pth`/`.pt` as torch saves it, or `.npz` with state-dict keys) through [`crate::import`]. A
/// missing tensor or a shape mismatch is an error naming the file.
pub fn load_weights<M: TensorCollection<f32, D>, D: DrgDevice>(model: &mut M, path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(path.exists(), "{}: no such file", path.display());
    match path.extension().and_then(|e| e.to_str()) {
        Some("pth" | "pt" | "npz") => import_file(model, path, &LoadOptions::default()).map(|_| ()).map_err(|e| anyhow::anyhow!("{e}")),
        _ => model.load_safetensors(path).map_err(|e| match e {
            // The tensor's name is not in dfdx's error; the shapes say what differs, typically the
            // track count of an output whose width comes from the data (`ex[_]`).
            dfdx::tensor::safetensors::Error::MismatchedDimension((file, model)) => anyhow::anyhow!(
                "{}: a tensor of shape {file:?} in the file is {model:?} in the model: the weights are of a model with other shapes (for an output declared `[_]`, another number of tracks than the data has)",
                path.display()
            ),
            e => anyhow::anyhow!("{}: cannot load weights into the model: {e:?}", path.display()),
        }),
    }
}

/// What `<prefix>_model_params.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    pub model: String,
    pub variant: String,
    pub inputs: Vec<(String, usize, usize, bool)>,
    pub outputs: Vec<(String, usize, String)>,
    pub loss: String,
    /// The hyper-parameters in the reference's vocabulary (`num_kernels` → `300`).
    pub hyper: Vec<(String, String)>,
    pub parameter_count: usize,
    /// The training settings (free-form JSON from the trainer).
    pub training: serde_json::Value,
    /// The track names of every output as the data's headers give them (absent from
    /// descriptions written before drg-rs recorded them): `--predictnew` without output files
    /// names its columns by them and resolves `--select_tracks` names against them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_names: Vec<Vec<String>>,
    /// The tracks' evaluation names (after `--add_fileclasses`), outputs side by side: the
    /// `columns` of `_pred.npz`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// The training losses of `spec`'s outputs as the reference's `loss_function` writes them: one
/// name when all agree, else the list (`['MSE','Correlationdata']`).
fn training_losses(spec: &ModelSpec) -> String {
    let names: Vec<&str> = spec.outputs.iter().map(|o| o.loss.name()).collect();
    match names.split_first() {
        Some((first, rest)) if rest.iter().all(|n| n == first) => first.to_string(),
        _ => format!("[{}]", names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(",")),
    }
}

impl ModelDescription {
    /// The description of `spec` built with `widths` tracks per output.
    pub fn of(spec: &ModelSpec, widths: &[usize], training: serde_json::Value) -> Self {
        Self {
            model: spec.name.to_string(),
            variant: spec.variant.to_string(),
            inputs: spec.inputs.iter().map(|i| (i.name.to_string(), i.channels, i.length, i.reverse_complement)).collect(),
            outputs: spec.outputs.iter().zip(widths).map(|(o, &w)| (o.name.to_string(), w, o.validation.name().to_string())).collect(),
            loss: training_losses(spec),
            hyper: spec.hyper.iter().map(|k| (k.key.to_string(), k.value.to_string())).collect(),
            parameter_count: spec.parameter_count(widths),
            training,
            track_names: Vec::new(),
            columns: Vec::new(),
        }
    }

    /// The description with the data's track names (raw per output, and the evaluation names).
    pub fn with_tracks(mut self, track_names: Vec<Vec<String>>, columns: Vec<String>) -> Self {
        self.track_names = track_names;
        self.columns = columns;
        self
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_bytes_atomically(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a model description", path.display()))
    }

    /// Checks that a saved description is for the model of `spec` with `widths` tracks per
    /// output (same item, variant and shapes).
    pub fn check_fits(&self, spec: &ModelSpec, widths: &[usize], path: &Path) -> anyhow::Result<()> {
        let want = Self::of(spec, widths, serde_json::Value::Null);
        anyhow::ensure!(
            self.model == want.model && self.variant == want.variant,
            "{}: weights of model {} ({}), not of {} ({})",
            path.display(),
            self.model,
            self.variant,
            want.model,
            want.variant
        );
        anyhow::ensure!(
            self.inputs == want.inputs && self.outputs == want.outputs && self.hyper == want.hyper,
            "{}: model {} was saved with other inputs, outputs or hyper-parameters than this build has",
            path.display(),
            self.model
        );
        Ok(())
    }
}
