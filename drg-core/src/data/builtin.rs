//! The built-in dataset: [`SimOptions::default`] generated once into a cache folder and reused,
//! so that model binaries run with no data given.
//!
//! Cache folder: `$DRG_CACHE_DIR` if set, else `$XDG_CACHE_HOME/drg-rs`, else
//! `$HOME/.cache/drg-rs`, else `target/drg-data`. The dataset goes to
//! `<cache>/builtin-v1-seed<seed>/`; it is generated into a temporary sibling folder and renamed
//! into place, so a crash or a concurrent run never leaves a half-written dataset behind.

use std::path::PathBuf;

use super::error::{DataError, DataResult};
use super::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};

/// Bump when the simulator's output changes, so stale caches are not reused.
pub const BUILTIN_VERSION: u32 = 1;

/// The cache root (see the module docs).
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = env("DRG_CACHE_DIR") {
        return d;
    }
    if let Some(d) = env("XDG_CACHE_HOME") {
        return d.join("drg-rs");
    }
    if let Some(h) = env("HOME") {
        return h.join(".cache").join("drg-rs");
    }
    PathBuf::from("target").join("drg-data")
}

/// The default built-in dataset, generated on first use.
pub fn ensure_default_dataset() -> DataResult<DatasetPaths> {
    ensure_dataset(&SimOptions::default())
}

/// The dataset for `opts` in the cache, generated atomically if absent.
pub fn ensure_dataset(opts: &SimOptions) -> DataResult<DatasetPaths> {
    let root = cache_dir();
    let name = if *opts == SimOptions::default() {
        format!("builtin-v{BUILTIN_VERSION}-seed{}", opts.seed)
    } else {
        format!(
            "sim-v{BUILTIN_VERSION}-g{}-l{}-r{}-c{}x{}-seed{}",
            opts.n_genes, opts.dna_length, opts.rna_length, opts.n_cell_types, opts.n_conditions, opts.seed
        )
    };
    let dir = root.join(&name);
    let paths = DatasetPaths::in_dir(&dir);
    if paths.all().iter().all(|p| p.is_file()) {
        return Ok(paths);
    }
    std::fs::create_dir_all(&root).map_err(|e| DataError::io(&root, "create cache folder", e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(&root)
        .map_err(|e| DataError::io(&root, "create temporary folder in", e))?;
    let sim = simulate(opts).map_err(DataError::Other)?;
    write_dataset(&sim, opts, tmp.path())?;
    let staged = tmp.keep();
    match std::fs::rename(&staged, &dir) {
        Ok(()) => {}
        // Another process finished first: keep its copy.
        Err(_) if paths.all().iter().all(|p| p.is_file()) => {
            let _ = std::fs::remove_dir_all(&staged);
        }
        Err(e) => {
            // A stale partial folder (from an older layout) may block the rename: replace it.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| DataError::io(&dir, "remove stale", e))?;
                std::fs::rename(&staged, &dir).map_err(|e| DataError::io(&dir, "move dataset into", e))?;
            } else {
                let _ = std::fs::remove_dir_all(&staged);
                return Err(DataError::io(&dir, "move dataset into", e));
            }
        }
    }
    Ok(paths)
}

/// An input of a simulated dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimInput {
    /// DNA around the TSS; read with reverse complement on, as in the use cases.
    Dna,
    /// The mature mRNA; reverse complement off.
    Rna,
}

/// An output matrix of a simulated dataset (file tags `ex`, `kd`, `kt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimOutput {
    Expression,
    Degradation,
    Transcription,
}

impl DatasetPaths {
    /// The [`DataSpec`](super::DataSpec) of a use case on this dataset: the chosen inputs and
    /// outputs, tab delimiter, the class file, `--add_fileclasses ex,kd,kt` style tags for several
    /// outputs, and cross-validation fold `fold` of the 10-set file (validation set `fold`, test
    /// set `fold + 1`).
    pub fn spec(&self, inputs: &[SimInput], outputs: &[SimOutput], fold: usize) -> super::DataSpec {
        let inputs = inputs
            .iter()
            .map(|i| match i {
                SimInput::Dna => super::InputSpec::new(&self.dna, true),
                SimInput::Rna => super::InputSpec::new(&self.rna, false),
            })
            .collect();
        let (files, tags): (Vec<PathBuf>, Vec<String>) = outputs
            .iter()
            .map(|o| match o {
                SimOutput::Expression => (self.expression.clone(), "ex".to_string()),
                SimOutput::Degradation => (self.degradation.clone(), "kd".to_string()),
                SimOutput::Transcription => (self.transcription.clone(), "kt".to_string()),
            })
            .unzip();
        let mut spec = super::DataSpec::new(inputs, files);
        spec.delimiter = '\t';
        spec.class_file = Some(self.classes.clone());
        if outputs.len() > 1 {
            spec.file_tags = Some(tags);
        }
        spec.cv = super::CvSpec::File { path: self.crossvalidation.clone(), fold };
        spec
    }
}
