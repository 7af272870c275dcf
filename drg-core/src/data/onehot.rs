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
use crate::import::npz::{read_npz, Values};

/// The channel order of every one-hot array.
pub const ALPHABET: [char; 4] = ['A', 'C', 'G', 'T'];

/// Reads and validates a one-hot `.npz`; rows come back sorted by gene name.
pub fn read_onehot_npz(path: &Path) -> DataResult<SeqSet> {
    let npz = read_npz(path)?;
    let err = |msg: String| DataError::file(path, msg);
    let keys = || npz.arrays.keys().cloned().collect::<Vec<_>>().join(", ");
    let x = npz.arrays.get("seqfeatures").ok_or_else(|| {
        err(format!("no array 'seqfeatures' (found: {}); expected a one-hot file with seqfeatures (N, L, 4) and genenames", keys()))
    })?;
    let g = npz.arrays.get("genenames").ok_or_else(|| err(format!("no array 'genenames' (found: {})", keys())))?;
    let names = g
        .strings()
        .ok_or_else(|| err(format!("'genenames' has dtype {}, expected strings", g.dtype)))?
        .to_vec();
    if let Some(f) = npz.arrays.get("featurenames") {
        let ok = f.strings().map(|s| s.iter().map(String::as_str).eq(["A", "C", "G", "T"])).unwrap_or(false);
        if !ok {
            return Err(err(format!(
                "'featurenames' is {:?}, expected ['A','C','G','T'] (drg-rs reads one-hot DNA/RNA only)",
                f.values
            )));
        }
    }
    if x.shape.len() != 3 {
        return Err(err(format!("'seqfeatures' has shape {:?}, expected (N, L, 4)", x.shape)));
    }
    let (n, l, c) = (x.shape[0], x.shape[1], x.shape[2]);
    if c != 4 {
        let hint = if l == 4 { " (it looks channel-first (N, 4, L); the file layout is (N, L, 4))" } else { "" };
        return Err(err(format!("'seqfeatures' has shape {:?}, expected (N, L, 4){hint}", x.shape)));
    }
    if names.len() != n {
        return Err(err(format!("'genenames' has {} names but 'seqfeatures' has {} sequences", names.len(), n)));
    }
    // Values as f64 regardless of the stored dtype; strings are rejected.
    let vals: Vec<f64> = match &x.values {
        Values::Str(_) => return Err(err(format!("'seqfeatures' has dtype {}, expected int8 or float", x.dtype))),
        _ => x.to_f64().unwrap_or_default(),
    };
    // Validate: every position is all zero or exactly one 1.
    if let Some((i, p)) = (0..n).into_par_iter().find_map_first(|i| {
        (0..l).find(|&p| !is_onehot_column(&vals[(i * l + p) * 4..(i * l + p) * 4 + 4])).map(|p| (i, p))
    }) {
        let col = &vals[(i * l + p) * 4..(i * l + p) * 4 + 4];
        return Err(err(format!(
            "'seqfeatures' is not one-hot: gene '{}' position {} holds {:?} (each position must be all 0 or a single 1)",
            names[i], p, col
        )));
    }
    // (N, L, 4) -> (N, 4, L) as f32.
    let mut data = vec![0f32; n * 4 * l];
    data.par_chunks_mut((4 * l).max(1)).enumerate().for_each(|(i, out)| {
        for p in 0..l {
            for ch in 0..4 {
                out[ch * l + p] = vals[(i * l + p) * 4 + ch] as f32;
            }
        }
    });
    SeqSet { source: path.to_path_buf(), names, length: l, data, reverse_complement: false }.sorted_by_name()
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
        let mut a = npz.array::<i8>("seqfeatures", opts())?.default_dtype().shape(&[n as u64, length as u64, 4]).begin_nd()?;
        a.extend(onehot.iter().copied())?;
        a.finish()?;
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
