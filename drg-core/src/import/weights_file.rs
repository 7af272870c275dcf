//! Any weights file a user may hand to a model binary, read into one [`StateDict`]: the
//! `.safetensors` that drg-rs writes (`<prefix>_parameter.safetensors`, dfdx's format with the
//! reference's state-dict names) as well as the reference's `.pth` and state-dict `.npz`.
//!
//! Holding every format as a state dict lets one loader ([`super::load`] strictly, or
//! [`super::partial`] with the reference's `--load_parameters` rules) serve all of them, with the
//! same messages naming the file and the tensor.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use super::error::ImportError;
use super::state_dict::{Entry, StateDict, StoredDtype};

/// Reads a weights file, choosing the reader by extension: `.safetensors` here, `.npz`, `.pth`
/// and `.pt` through [`StateDict::from_file`].
pub fn read_weights(path: impl AsRef<Path>) -> Result<StateDict, ImportError> {
    let path = path.as_ref();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("safetensors") => read_safetensors(path),
        Some("npz" | "pth" | "pt") => StateDict::from_file(path),
        _ => Err(ImportError::format(path, "unknown weights format: expected a .safetensors, .pth, .pt or .npz file")),
    }
}

/// The tensors of a `.safetensors` file under their names. Float tensors (f32, f64) are weights;
/// integer tensors are kept as counters, which no model loads.
pub fn read_safetensors(path: &Path) -> Result<StateDict, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Open { path: path.to_path_buf(), source })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| ImportError::format(path, format!("not a safetensors file: {e:?}")))?;
    let mut entries = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let (dtype, values): (StoredDtype, Vec<f32>) = match view.dtype() {
            Dtype::F32 => (StoredDtype::F32, data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
            Dtype::F64 => {
                (StoredDtype::F64, data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect())
            }
            Dtype::I64 => {
                (StoredDtype::I64, data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect())
            }
            Dtype::I32 => {
                (StoredDtype::I32, data.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32).collect())
            }
            Dtype::U8 => (StoredDtype::U8, data.iter().map(|&b| f32::from(b)).collect()),
            Dtype::BOOL => (StoredDtype::Bool, data.iter().map(|&b| f32::from(b)).collect()),
            other => return Err(ImportError::format(path, format!("tensor '{name}' is stored as {other:?}, which drg-rs does not read"))),
        };
        entries.insert(name, Entry { shape: view.shape().to_vec(), values, dtype });
    }
    if entries.is_empty() {
        return Err(ImportError::format(path, "the file holds no tensors"));
    }
    Ok(StateDict { entries, source: path.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::nn::SaveToSafetensors;
    use dfdx::prelude::*;

    #[test]
    fn reads_what_dfdx_saves_under_the_same_names() {
        let dev: Cpu = Default::default();
        let model = dev.build_module::<(Linear<3, 2>, Linear<2, 1>), f32>();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        model.save_safetensors(&path).unwrap();
        let sd = read_weights(&path).unwrap();
        let keys: Vec<&str> = sd.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["0.bias", "0.weight", "1.bias", "1.weight"]);
        let w = sd.get("0.weight").unwrap();
        assert_eq!((w.shape.as_slice(), w.dtype), (&[2, 3][..], StoredDtype::F32));
        assert_eq!(w.values, model.0.weight.as_vec());
        assert_eq!(sd.get("1.bias").unwrap().values, model.1.bias.as_vec());
    }

    #[test]
    fn bad_files_are_one_line_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.safetensors");
        std::fs::write(&path, b"not a safetensors file at all").unwrap();
        let e = read_weights(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: not a safetensors file", path.display())), "{e}");
        let e = read_weights(dir.path().join("w.bin")).unwrap_err().to_string();
        assert!(e.contains("w.bin: unknown weights format"), "{e}");
        let e = read_weights(dir.path().join("missing.safetensors")).unwrap_err().to_string();
        assert!(e.contains("missing.safetensors: cannot open"), "{e}");
    }
}
