//! The built-in dataset: [`SimOptions::default`] generated once into a cache folder and reused,
//! so that model binaries run with no data given.
//!
//! Cache folder: `$DRG_CACHE_DIR` if set, else `$XDG_CACHE_HOME/drg-rs`, else
//! `$HOME/.cache/drg-rs`, else `target/drg-data`. The dataset goes to
//! `<cache>/builtin-v<BUILTIN_VERSION>-seed<seed>/`; it is generated into a temporary sibling
//! folder and renamed into place, so a crash or a concurrent run never leaves a half-written
//! dataset behind.

use std::path::PathBuf;

use super::error::{DataError, DataResult};
use super::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};

/// Bump when the simulator's output changes, so stale caches are not reused.
pub const BUILTIN_VERSION: u32 = 2;

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
    let name = folder_name(opts);
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

/// The cache folder of a dataset: `builtin-v<version>-seed<seed>` for the defaults, otherwise
/// the main sizes and a fingerprint of every option.
fn folder_name(opts: &SimOptions) -> String {
    if *opts == SimOptions::default() {
        format!("builtin-v{BUILTIN_VERSION}-seed{}", opts.seed)
    } else {
        format!(
            "sim-v{BUILTIN_VERSION}-g{}-l{}-r{}-c{}x{}-seed{}-{:016x}",
            opts.n_genes,
            opts.dna_length,
            opts.rna_length,
            opts.n_cell_types,
            opts.n_conditions,
            opts.seed,
            options_fingerprint(opts)
        )
    }
}

/// FNV-1a of every option (noise, motif settings, ...), so that datasets differing in any knob
/// get their own cache folders.
fn options_fingerprint(opts: &SimOptions) -> u64 {
    format!("{opts:?}").bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_gets_its_own_cache_folder() {
        let d = SimOptions::default();
        assert_eq!(folder_name(&d), format!("builtin-v{BUILTIN_VERSION}-seed1"));
        let noisy = SimOptions { noise: 0.9, ..d.clone() };
        let copies = SimOptions { site_copies: 1, ..d.clone() };
        let names = [folder_name(&noisy), folder_name(&copies), folder_name(&SimOptions { seed: 2, ..d.clone() })];
        assert!(names.iter().all(|n| n.starts_with(&format!("sim-v{BUILTIN_VERSION}-g1600-l2000-r2000-c3x7-seed"))), "{names:?}");
        assert_ne!(names[0], names[1]);
        assert_eq!(folder_name(&noisy), folder_name(&noisy.clone()));
    }
}
