//! Reading numpy `.npz` archives (plain or compressed) into named n-d arrays.
//!
//! This is the one place that talks to `npyz`: fixtures, one-hot sequence files and reference
//! state dicts all come through [`read_npz`]. Errors name the file and the entry, so a user who
//! passes a truncated download or a file of the wrong kind gets one clear line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use npyz::{DType, TypeChar};

/// What went wrong while reading an `.npz` file.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid .npz archive (expected a zip of .npy files): {source}")]
    NotNpz { path: PathBuf, source: std::io::Error },
    #[error("{path}: entry '{entry}' is unreadable: {msg}")]
    Entry { path: PathBuf, entry: String, msg: String },
    #[error("{path}: entry '{entry}' has dtype {dtype}, which drg-rs does not read")]
    Dtype { path: PathBuf, entry: String, dtype: String },
}

/// The values of one array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Any signed or unsigned integer type (and bool), widened.
    Int(Vec<i64>),
    /// numpy unicode (`<U..`) or byte strings (`|S..`).
    Str(Vec<String>),
}

/// One array of an archive: its shape (empty for a 0-d array), its values and the numpy dtype
/// string it was stored with (`<f4`, `|i1`, `<U12`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub values: Values,
    pub dtype: String,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.values {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numeric values converted to f32; `None` for string arrays.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match &self.values {
            Values::F32(v) => Some(v.clone()),
            Values::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            Values::Int(v) => Some(v.iter().map(|&x| x as f32).collect()),
            Values::Str(_) => None,
        }
    }

    /// Numeric values converted to f64; `None` for string arrays.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        match &self.values {
            Values::F32(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Values::F64(v) => Some(v.clone()),
            Values::Int(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Values::Str(_) => None,
        }
    }

    /// The strings of a string array; `None` for numeric arrays.
    pub fn strings(&self) -> Option<&[String]> {
        match &self.values {
            Values::Str(v) => Some(v),
            _ => None,
        }
    }
}

/// All arrays of one archive, by name (the entry name without `.npy`).
#[derive(Debug, Clone, Default)]
pub struct Npz {
    pub path: PathBuf,
    pub arrays: BTreeMap<String, NdArray>,
}

impl Npz {
    /// The array called `name`, or an error naming the file and the missing key.
    pub fn get(&self, name: &str) -> anyhow::Result<&NdArray> {
        self.arrays.get(name).ok_or_else(|| anyhow::anyhow!("{}: no array named '{}'", self.path.display(), name))
    }

    /// The array called `name` as f32 values with its shape.
    pub fn f32(&self, name: &str) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let a = self.get(name)?;
        let v = a.to_f32().ok_or_else(|| anyhow::anyhow!("{}: array '{}' holds strings, not numbers", self.path.display(), name))?;
        Ok((a.shape.clone(), v))
    }
}

/// Reads every array of an `.npz` archive.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Npz, NpzError> {
    let path = path.as_ref().to_path_buf();
    let file = std::fs::File::open(&path).map_err(|source| NpzError::Open { path: path.clone(), source })?;
    let mut archive =
        npyz::npz::NpzArchive::new(std::io::BufReader::new(file)).map_err(|source| NpzError::NotNpz { path: path.clone(), source })?;
    let names: Vec<String> = archive.array_names().map(str::to_string).collect();
    let mut arrays = BTreeMap::new();
    for name in names {
        let entry_err = |msg: String| NpzError::Entry { path: path.clone(), entry: name.clone(), msg };
        let npy = archive.by_name(&name).map_err(|e| entry_err(e.to_string()))?.ok_or_else(|| entry_err("listed but not found".into()))?;
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let dtype = npy.dtype();
        let descr = dtype.descr();
        let ts = match &dtype {
            DType::Plain(ts) => ts.clone(),
            _ => return Err(NpzError::Dtype { path: path.clone(), entry: name.clone(), dtype: descr }),
        };
        let size = ts.size_field();
        let read_err = |e: std::io::Error| NpzError::Entry { path: path.clone(), entry: name.clone(), msg: e.to_string() };
        let values = match (ts.type_char(), size) {
            (TypeChar::Float, 4) => Values::F32(npy.into_vec::<f32>().map_err(read_err)?),
            (TypeChar::Float, 8) => Values::F64(npy.into_vec::<f64>().map_err(read_err)?),
            (TypeChar::Int, 1) => Values::Int(npy.into_vec::<i8>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Int, 2) => Values::Int(npy.into_vec::<i16>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Int, 4) => Values::Int(npy.into_vec::<i32>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Int, 8) => Values::Int(npy.into_vec::<i64>().map_err(read_err)?),
            (TypeChar::Uint, 1) => Values::Int(npy.into_vec::<u8>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Uint, 2) => Values::Int(npy.into_vec::<u16>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Uint, 4) => Values::Int(npy.into_vec::<u32>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::Bool, 1) => Values::Int(npy.into_vec::<bool>().map_err(read_err)?.into_iter().map(i64::from).collect()),
            (TypeChar::UnicodeStr, _) => Values::Str(npy.into_vec::<String>().map_err(read_err)?),
            (TypeChar::ByteStr, _) => Values::Str(
                npy.into_vec::<Vec<u8>>().map_err(read_err)?.into_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect(),
            ),
            _ => return Err(NpzError::Dtype { path: path.clone(), entry: name.clone(), dtype: descr }),
        };
        arrays.insert(name, NdArray { shape, values, dtype: descr });
    }
    Ok(Npz { path, arrays })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
    }

    #[test]
    fn reads_fixture_arrays_of_every_dtype() {
        let npz = read_npz(fixture("base.npz")).unwrap();
        let (shape, w) = npz.f32("param/convolutions.conv1d.weight").unwrap();
        assert_eq!(shape, vec![16, 4, 15]);
        assert_eq!(w.len(), 16 * 4 * 15);
        let nbt = npz.get("param/convolution_layers.convlayers.Bnorm0.num_batches_tracked").unwrap();
        assert!(nbt.shape.is_empty());
        assert!(matches!(nbt.values, Values::Int(_)));
        let metrics = read_npz(fixture("metrics.npz")).unwrap();
        let genes = metrics.get("genes").unwrap().strings().unwrap().to_vec();
        assert!(genes.iter().all(|g| g.starts_with("Gene_")), "{genes:?}");
    }

    #[test]
    fn a_missing_or_foreign_file_is_a_clear_error() {
        let e = read_npz("/nonexistent/x.npz").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.npz") && e.contains("cannot open"), "{e}");
        let dir = std::env::temp_dir().join(format!("drg-npz-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.npz");
        std::fs::write(&bad, b"this is not a zip").unwrap();
        let e = read_npz(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.npz") && e.contains("not a valid .npz"), "{e}");
    }
}
