//! The one error type of the data layer.
//!
//! Every message is a single line that starts with the file it is about (and the line or gene
//! where that helps), because the user's only way to fix bad input is to open that file.

use std::path::{Path, PathBuf};

use crate::import::npz::NpzError;

/// What is wrong with a piece of input data. `Display` is one line: `<file>[:<line>]: <problem>`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A problem with a whole file (or with one gene or track in it).
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// A problem on one line of a text file (1-based line number).
    #[error("{}:{line}: {msg}", path.display())]
    Line { path: PathBuf, line: usize, msg: String },
    /// The npz reader's own error, which already names the file and the entry.
    #[error(transparent)]
    Npz(#[from] NpzError),
    /// A problem that involves several files or none (e.g. no gene shared by the inputs).
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        DataError::File { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }

    pub fn line(path: impl AsRef<Path>, line: usize, msg: impl Into<String>) -> Self {
        DataError::Line { path: path.as_ref().to_path_buf(), line, msg: msg.into() }
    }

    /// An I/O failure on `path`, e.g. "cannot read: No such file or directory (os error 2)".
    pub fn io(path: impl AsRef<Path>, what: &str, err: std::io::Error) -> Self {
        DataError::file(path, format!("cannot {what}: {err}"))
    }
}

pub type DataResult<T> = Result<T, DataError>;
