//! What can go wrong when bringing a state dict in or writing one out.
//!
//! Every error names the file. Mismatches between a file and a model are collected and reported
//! together, so a user fixing a conversion sees every missing key and wrong shape in one run.

use std::fmt;
use std::path::PathBuf;

use super::npz::NpzError;

/// One way in which a state dict does not fit a model.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyProblem {
    /// The model has a tensor under `key`; the file does not.
    Missing { key: String, expected: Vec<usize> },
    /// Both have `key`, with different shapes.
    Shape { key: String, file: Vec<usize>, model: Vec<usize> },
    /// The file stores `key` as integers (e.g. `num_batches_tracked`), the model wants floats.
    NotFloat { key: String, dtype: &'static str },
    /// Keys of the file (under the load prefix) that no tensor of the model takes.
    Unused { keys: Vec<String> },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Missing { key, expected } => write!(f, "missing key '{key}' (expected shape {expected:?})"),
            KeyProblem::Shape { key, file, model } => {
                write!(f, "key '{key}': file has shape {file:?}, model expects {model:?}")
            }
            KeyProblem::NotFloat { key, dtype } => write!(f, "key '{key}': file stores {dtype} values, model expects floats"),
            KeyProblem::Unused { keys } => write!(f, "unused keys: {}", keys.join(", ")),
        }
    }
}

/// An error of the importer; its `Display` is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Npz(#[from] NpzError),
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    /// The file is readable but not a state dict of the expected kind (bad pickle, missing
    /// storage, strings in an `.npz`, ...).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: the state dict does not fit the model: {}", join(problems))]
    Mismatch { path: PathBuf, problems: Vec<KeyProblem> },
    #[error("{path}: cannot write: {msg}")]
    Write { path: PathBuf, msg: String },
}

fn join(problems: &[KeyProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ImportError {
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        ImportError::Format { path: path.into(), msg: msg.into() }
    }
}
