//! One-hot sequence `.npz` files in the reference's format (drg-behaviour.md §1.1):
//! `seqfeatures` (N, L, 4) int8 (or any numeric dtype), `genenames` (N,) numpy unicode,
//! `featurenames` `['A','C','G','T']`. Read into a [`SeqSet`] (channel-first f32) with every
//! problem reported as one line; written with npyz so that numpy reads our files unchanged.

use std::path::Path;

use npyz::WriterBuilder;
use rayon::prelude::*;

use super::atomic::write_atomically;
use super::error::{DataError, DataResult};
use super::seqset::SeqSet;
use npyz::{DType, TypeChar};

/// The channel order of every one-hot array.
pub const ALPHABET: [char; 4] = ['A', 'C', 'G', 'T'];

/// Reads and validates a one-hot `.npz`; rows come back sorted by gene name.
///
/// `seqfeatures` is read in its stored dtype (1 byte per value for int8) and converted straight
/// into the f32 channel-first layout, so a 40 kb × thousands-of-genes file needs no wide
/// intermediate copy.
pub fn read_onehot_npz(path: &Path) -> DataResult<SeqSet> {
    let err = |msg: String| DataError::file(path, msg);
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, "open", e))?;
    let mut zip = npyz::npz::NpzArchive::new(std::io::BufReader::new(file))
        .map_err(|e| err(format!("not a valid .npz archive (expected a zip of .npy files): {e}")))?;
    let keys: Vec<String> = zip.array_names().map(str::to_string).collect();
    let entry_err = |entry: &str, e: std::io::Error| err(format!("entry '{entry}' is unreadable: {e}"));
    let names: Vec<String> = {
        let g = open_entry(path, &keys, &mut zip, "genenames")?;
        match g.dtype() {
            DType::Plain(ts) if matches!(ts.type_char(), TypeChar::UnicodeStr) => {
                g.into_vec::<String>().map_err(|e| entry_err("genenames", e))?
            }
            DType::Plain(ts) if matches!(ts.type_char(), TypeChar::ByteStr) => g
                .into_vec::<Vec<u8>>()
                .map_err(|e| entry_err("genenames", e))?
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect(),
            d => return Err(err(format!("'genenames' has dtype {}, expected strings", d.descr()))),
        }
    };
    if keys.iter().any(|k| k == "featurenames") {
        let f = open_entry(path, &keys, &mut zip, "featurenames")?;
        let ok = match f.dtype() {
            DType::Plain(ts) if matches!(ts.type_char(), TypeChar::UnicodeStr) => {
                f.into_vec::<String>().map(|v| v.iter().map(String::as_str).eq(["A", "C", "G", "T"])).unwrap_or(false)
            }
            _ => false,
        };
        if !ok {
            return Err(err("'featurenames' is not ['A','C','G','T'] (drg-rs reads one-hot DNA/RNA only)".into()));
        }
    }
    let x = open_entry(path, &keys, &mut zip, "seqfeatures")?;
    let shape: Vec<usize> = x.shape().iter().map(|&d| d as usize).collect();
    if shape.len() != 3 {
        return Err(err(format!("'seqfeatures' has shape {shape:?}, expected (N, L, 4)")));
    }
    let (n, l, c) = (shape[0], shape[1], shape[2]);
    if c != 4 {
        let hint = if l == 4 { " (it looks channel-first (N, 4, L); the file layout is (N, L, 4))" } else { "" };
        return Err(err(format!("'seqfeatures' has shape {shape:?}, expected (N, L, 4){hint}")));
    }
    if names.len() != n {
        return Err(err(format!("'genenames' has {} names but 'seqfeatures' has {} sequences", names.len(), n)));
    }
    let dtype = x.dtype();
    let bad_dtype = || err(format!("'seqfeatures' has dtype {}, expected int8, uint8, bool or float", dtype.descr()));
    let ts = match &dtype {
        DType::Plain(ts) => ts.clone(),
        _ => return Err(bad_dtype()),
    };
    let rd = |e| entry_err("seqfeatures", e);
    let data = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => to_channel_first(path, &names, l, &x.into_vec::<i8>().map_err(rd)?)?,
        (TypeChar::Uint, 1) => to_channel_first(path, &names, l, &x.into_vec::<u8>().map_err(rd)?)?,
        (TypeChar::Bool, 1) => to_channel_first(path, &names, l, &x.into_vec::<bool>().map_err(rd)?)?,
        (TypeChar::Int, 2) => to_channel_first(path, &names, l, &x.into_vec::<i16>().map_err(rd)?)?,
        (TypeChar::Int, 4) => to_channel_first(path, &names, l, &x.into_vec::<i32>().map_err(rd)?)?,
        (TypeChar::Int, 8) => to_channel_first(path, &names, l, &x.into_vec::<i64>().map_err(rd)?)?,
        (TypeChar::Float, 4) => to_channel_first(path, &names, l, &x.into_vec::<f32>().map_err(rd)?)?,
        (TypeChar::Float, 8) => to_channel_first(path, &names, l, &x.into_vec::<f64>().map_err(rd)?)?,
        _ => return Err(bad_dtype()),
    };
    SeqSet { source: path.to_path_buf(), names, length: l, data, reverse_complement: false }.sorted_by_name()
}

type Archive = npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>;

/// The npy reader of entry `name`, or an error listing the entries the file has.
fn open_entry<'a>(
    path: &Path,
    keys: &[String],
    zip: &'a mut Archive,
    name: &str,
) -> DataResult<npyz::NpyFile<zip::read::ZipFile<'a>>> {
    let found = zip
        .by_name(name)
        .map_err(|e| DataError::file(path, format!("entry '{name}' is unreadable: {e}")))?;
    found.ok_or_else(|| {
        DataError::file(
            path,
            format!(
                "no array '{name}' (found: {}); expected a one-hot file with seqfeatures (N, L, 4) and genenames",
                keys.join(", ")
            ),
        )
    })
}

/// A stored one-hot value as f64 (for validation) — every numeric dtype numpy may have written.
trait OneHotValue: Copy + Send + Sync + std::fmt::Debug {
    fn value(self) -> f64;
}
macro_rules! one_hot_value {
    ($($t:ty),*) => {$(impl OneHotValue for $t { fn value(self) -> f64 { self as f64 } })*};
}
one_hot_value!(i8, u8, i16, i32, i64, f32, f64);
impl OneHotValue for bool {
    fn value(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// Validates (N, L, 4) values as one-hot and transposes them to (N, 4, L) f32.
fn to_channel_first<V: OneHotValue>(path: &Path, names: &[String], l: usize, vals: &[V]) -> DataResult<Vec<f32>> {
    let n = names.len();
    let col = |i: usize, p: usize| -> [f64; 4] {
        let b = (i * l + p) * 4;
        [vals[b].value(), vals[b + 1].value(), vals[b + 2].value(), vals[b + 3].value()]
    };
    if let Some((i, p)) = (0..n).into_par_iter().find_map_first(|i| (0..l).find(|&p| !is_onehot_column(&col(i, p))).map(|p| (i, p))) {
        return Err(DataError::file(path, format!(
            "'seqfeatures' is not one-hot: gene '{}' position {} holds {:?} (each position must be all 0 or a single 1)",
            names[i], p, col(i, p)
        )));
    }
    let mut data = vec![0f32; n * 4 * l];
    data.par_chunks_mut((4 * l).max(1)).enumerate().for_each(|(i, out)| {
        for p in 0..l {
            let c = col(i, p);
            for ch in 0..4 {
                out[ch * l + p] = c[ch] as f32;
            }
        }
    });
    Ok(data)
}

fn is_onehot_column(col: &[f64]) -> bool {
    let ones = col.iter().filter(|&&v| v == 1.0).count();
    col.iter().all(|&v| v == 0.0 || v == 1.0) && ones <= 1
}

/// Writes sequences as a reference one-hot `.npz` (int8 (N, L, 4), `<U` gene names, feature
/// names), atomically. `onehot` is in the file layout `(N, L, 4)` with values 0/1.
pub fn write_onehot_npz(path: &Path, names: &[String], length: usize, onehot: &[i8], compressed: bool) -> DataResult<()> {
    let n = names.len();
    assert_eq!(onehot.len(), n * length * 4, "write_onehot_npz: data does not match names × length × 4");
    write_atomically(path, |w| {
        let mut npz = npyz::npz::NpzWriter::new(w);
        let method = if compressed { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        // A fixed timestamp keeps files byte-identical for a seed (zip stores modification times).
        let opts = || {
            zip::write::FileOptions::default().compression_method(method).last_modified_time(zip::DateTime::default())
        };
        // Serialise the .npy into memory first: npyz writes element by element, and each small
        // write into a deflating zip entry is expensive.
        let mut npy = Vec::with_capacity(onehot.len() + 128);
        let mut a = npyz::WriteOptions::new().default_dtype().shape(&[n as u64, length as u64, 4]).writer(&mut npy).begin_nd()?;
        a.extend(onehot.iter().copied())?;
        a.finish()?;
        let zw = npz.zip_writer();
        zw.start_file(npyz::npz::file_name_from_array_name("seqfeatures"), opts())?;
        std::io::Write::write_all(zw, &npy)?;
        write_str_array(&mut npz, "genenames", names, opts())?;
        let feats: Vec<String> = ALPHABET.iter().map(|c| c.to_string()).collect();
        write_str_array(&mut npz, "featurenames", &feats, opts())?;
        npz.zip_writer().finish().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Writes a 1-d numpy unicode array (`<U{max len}`), the dtype numpy gives a list of str.
pub(crate) fn write_str_array<W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    values: &[String],
    opts: zip::write::FileOptions,
) -> std::io::Result<()> {
    let width = values.iter().map(|s| s.chars().count()).max().unwrap_or(1).max(1);
    let dtype = npyz::DType::Plain(format!("<U{width}").parse().map_err(std::io::Error::other)?);
    let mut a = npz.array::<str>(name, opts)?.dtype(dtype).shape(&[values.len() as u64]).begin_nd()?;
    for v in values {
        a.push(v.as_str())?;
    }
    a.finish()
}
