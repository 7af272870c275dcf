//! State dicts in files: read from `.npz` archives (numpy's, the drg fixtures') and PyTorch
//! `.pth`/`.pt` files (through [`super::pth`]), chosen by extension, and written as `.npz`.
//!
//! The constructors are methods of [`StateDict`] (`StateDict::from_file`, ...), defined here so
//! that `state_dict.rs` stays a leaf that the readers produce.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::error::ImportError;
use super::npz::{read_npz, NdArray, Npz, Values};
use super::state_dict::{Entry, StateDict, StoredDtype};

impl StoredDtype {
    /// The stored type of an `.npz` array, from its numpy dtype string (`<f4`, `|b1`, ...).
    fn from_numpy(array: &NdArray) -> Option<StoredDtype> {
        Some(match &array.values {
            Values::F32(_) => StoredDtype::F32,
            Values::F64(_) => StoredDtype::F64,
            Values::Int(_) => match array.dtype.trim_matches('\'').trim_start_matches(['<', '>', '|', '=']) {
                "i1" => StoredDtype::I8,
                "i2" => StoredDtype::I16,
                "i4" => StoredDtype::I32,
                "u1" => StoredDtype::U8,
                "b1" => StoredDtype::Bool,
                // i8 and the unsigned types wider than a byte, which torch has no name for.
                _ => StoredDtype::I64,
            },
            Values::Str(_) => return None,
        })
    }
}

impl StateDict {
    /// The entries of an `.npz` archive whose names start with `prefix` (e.g. `param/` in the
    /// drg fixtures; `""` takes every entry), keyed by the rest of the name. It is an error if
    /// no entry has the prefix or if one of them holds strings.
    pub fn from_npz(path: impl AsRef<Path>, prefix: &str) -> Result<StateDict, ImportError> {
        StateDict::from_archive(read_npz(path.as_ref())?, prefix)
    }

    fn from_archive(npz: Npz, prefix: &str) -> Result<StateDict, ImportError> {
        let mut entries = BTreeMap::new();
        for (name, array) in &npz.arrays {
            let Some(key) = name.strip_prefix(prefix) else { continue };
            let dtype = StoredDtype::from_numpy(array)
                .ok_or_else(|| ImportError::format(&npz.path, format!("entry '{name}' holds strings, not numbers")))?;
            let values = array.to_f32().expect("numeric arrays convert to f32");
            entries.insert(key.to_string(), Entry { shape: array.shape.clone(), values, dtype });
        }
        if entries.is_empty() {
            let msg =
                if prefix.is_empty() { "the archive holds no arrays".to_string() } else { format!("no array name starts with '{prefix}'") };
            return Err(ImportError::format(&npz.path, msg));
        }
        Ok(StateDict { entries, source: npz.path })
    }

    /// The state dict saved by `torch.save(model.state_dict(), path)` (the reference's
    /// `_parameter.pth`), read without Python; see [`super::pth`].
    pub fn from_pth(path: impl AsRef<Path>) -> Result<StateDict, ImportError> {
        super::pth::read_pth(path)
    }

    /// Reads a state dict, choosing the reader by extension: `.npz` (keys at the top level, or
    /// under `param/` as in the drg fixtures when the archive has such entries), `.pth`/`.pt`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<StateDict, ImportError> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("npz") => {
                let npz = read_npz(path)?;
                let prefix = if npz.arrays.keys().any(|k| k.starts_with("param/")) { "param/" } else { "" };
                StateDict::from_archive(npz, prefix)
            }
            Some("pth") | Some("pt") => StateDict::from_pth(path),
            _ => Err(ImportError::format(path, "unknown state-dict format: expected a .npz, .pth or .pt file")),
        }
    }

    /// Writes the state dict as an `.npz` (float entries as float32, integer entries as int64),
    /// so that `numpy.load` and then `torch.from_numpy` give back the tensors. The file is written
    /// to a temporary file next to `path` and renamed, so it is either complete or absent.
    pub fn write_npz(&self, path: impl AsRef<Path>) -> Result<(), ImportError> {
        let path = path.as_ref();
        let werr = |msg: String| ImportError::Write { path: path.to_path_buf(), msg };
        let tmp = crate::temp_file::temp_file_beside(path).map_err(|e| werr(e.to_string()))?;
        {
            let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(tmp.as_file()));
            for (key, entry) in &self.entries {
                write_entry(&mut npz, key, entry).map_err(|e| werr(format!("entry '{key}': {e}")))?;
            }
            let mut buffered = npz.zip_writer().finish().map_err(|e| werr(e.to_string()))?;
            buffered.flush().map_err(|e| werr(e.to_string()))?;
        }
        tmp.persist(path).map_err(|e| werr(e.error.to_string()))?;
        Ok(())
    }
}

fn write_entry<W: std::io::Write + std::io::Seek>(npz: &mut npyz::npz::NpzWriter<W>, key: &str, entry: &Entry) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let shape: Vec<u64> = entry.shape.iter().map(|&d| d as u64).collect();
    let options = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    if entry.dtype.is_float() {
        let mut w = npz.array::<f32>(key, options)?.default_dtype().shape(&shape).begin_nd()?;
        w.extend(entry.values.iter().copied())?;
        w.finish()
    } else {
        let mut w = npz.array::<i64>(key, options)?.default_dtype().shape(&shape).begin_nd()?;
        w.extend(entry.values.iter().map(|&v| v as i64))?;
        w.finish()
    }
}
