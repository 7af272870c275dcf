//! One-hot sequence `.npz` files in the reference's format (`docs/data.md`, "One-hot `.npz`"):
//! `seqfeatures` (N, L, 4) int8 (or any numeric dtype), `genenames` (N,) numpy unicode,
//! `featurenames` `['A','C','G','T']`. Read into a [`SeqSet`] (channel-first f32) with every
//! problem reported as one line; written with npyz so that numpy reads our files unchanged.

use std::path::Path;

use npyz::WriterBuilder;
use rayon::prelude::*;

use super::atomic::write_atomically;
use super::error::{DataError, DataResult};
use super::packed::{column_base, Base, PackedBases};
use super::seqset::SeqSet;
use npyz::{DType, TypeChar};

/// The channel order of every one-hot array.
pub const ALPHABET: [char; 4] = ['A', 'C', 'G', 'T'];

/// Reads and validates a one-hot `.npz`; rows come back sorted by gene name.
///
/// `seqfeatures` is read in its stored dtype and packed into bases, 3 bits per position
/// ([`PackedBases`]); the reference's int8 is streamed from the archive a block of rows at a
/// time, so a 40 kb × 20,000-gene file (3.2 GB as int8) is never held whole.
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
    if matches!(x.order(), npyz::Order::Fortran) {
        return Err(err("'seqfeatures' is stored in Fortran order; save it in C order (numpy's default, np.ascontiguousarray)".into()));
    }
    let rd = |e| entry_err("seqfeatures", e);
    let bases = match (ts.type_char(), ts.size_field()) {
        // The reference's int8 (and any other one-byte type): streamed from the archive a block
        // of rows at a time, so the file never sits in memory as a whole.
        (TypeChar::Int | TypeChar::Uint | TypeChar::Bool, 1) => pack_bytes(path, &names, l, x.into_inner())?,
        (TypeChar::Int, 2) => pack_values(path, &names, l, &x.into_vec::<i16>().map_err(rd)?)?,
        (TypeChar::Int, 4) => pack_values(path, &names, l, &x.into_vec::<i32>().map_err(rd)?)?,
        (TypeChar::Int, 8) => pack_values(path, &names, l, &x.into_vec::<i64>().map_err(rd)?)?,
        (TypeChar::Float, 4) => pack_values(path, &names, l, &x.into_vec::<f32>().map_err(rd)?)?,
        (TypeChar::Float, 8) => pack_values(path, &names, l, &x.into_vec::<f64>().map_err(rd)?)?,
        _ => return Err(bad_dtype()),
    };
    SeqSet { source: path.to_path_buf(), names, length: l, bases, reverse_complement: false }.sorted_by_name()
}

type Archive = npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>;

/// The npy reader of entry `name`, or an error listing the entries the file has.
fn open_entry<'a>(path: &Path, keys: &[String], zip: &'a mut Archive, name: &str) -> DataResult<npyz::NpyFile<zip::read::ZipFile<'a>>> {
    let found = zip.by_name(name).map_err(|e| DataError::file(path, format!("entry '{name}' is unreadable: {e}")))?;
    found.ok_or_else(|| {
        DataError::file(
            path,
            format!("no array '{name}' (found: {}); expected a one-hot file with seqfeatures (N, L, 4) and genenames", keys.join(", ")),
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
one_hot_value!(u8, i16, i32, i64, f32, f64);

/// Rows read from the archive per block when streaming: 64 rows of 40 kb are 10 MB of int8.
const STREAM_ROWS: usize = 64;

/// The bases of one row in the file layout `(L, 4)`, or the first position that is not
/// one-hot with its values.
fn row_bases<V: OneHotValue>(row: &[V]) -> Result<Vec<Base>, (usize, [f64; 4])> {
    row.chunks_exact(4)
        .enumerate()
        .map(|(p, c)| {
            let col = [c[0].value(), c[1].value(), c[2].value(), c[3].value()];
            column_base(col).map_err(|_| (p, col))
        })
        .collect()
}

/// Packs rows in the file layout `(rows, L, 4)`, several rows at a time in parallel; `first` is
/// the index of the first row (for messages).
fn pack_rows<V: OneHotValue>(path: &Path, names: &[String], l: usize, first: usize, vals: &[V], into: &mut PackedBases) -> DataResult<()> {
    let rows: Vec<_> = vals.par_chunks((4 * l).max(1)).map(row_bases).collect();
    for (k, row) in rows.into_iter().enumerate() {
        let row = row.map_err(|(p, col)| {
            DataError::file(
                path,
                format!(
                    "'seqfeatures' is not one-hot: gene '{}' position {p} holds {col:?} (each position must be all 0 or a single 1)",
                    names[first + k]
                ),
            )
        })?;
        into.push_row(row);
    }
    Ok(())
}

/// Packs `(N, L, 4)` values already in memory (dtypes wider than a byte).
fn pack_values<V: OneHotValue>(path: &Path, names: &[String], l: usize, vals: &[V]) -> DataResult<PackedBases> {
    let mut bases = PackedBases::with_capacity(l, names.len());
    pack_rows(path, names, l, 0, vals, &mut bases)?;
    Ok(bases)
}

/// Packs one-byte `(N, L, 4)` values read from `data` (the entry after its npy header), a block
/// of [`STREAM_ROWS`] rows at a time: memory is the packed result plus one block.
fn pack_bytes(path: &Path, names: &[String], l: usize, mut data: impl std::io::Read) -> DataResult<PackedBases> {
    let n = names.len();
    let mut bases = PackedBases::with_capacity(l, n);
    let mut block = vec![0u8; STREAM_ROWS.min(n.max(1)) * 4 * l];
    let mut first = 0;
    while first < n {
        let rows = STREAM_ROWS.min(n - first);
        let buf = &mut block[..rows * 4 * l];
        data.read_exact(buf)
            .map_err(|e| DataError::file(path, format!("'seqfeatures' ends early (rows {first}..{} of {n}): {e}", first + rows)))?;
        pack_rows(path, names, l, first, buf, &mut bases)?;
        first += rows;
    }
    Ok(bases)
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
        let opts = || zip::write::FileOptions::default().compression_method(method).last_modified_time(zip::DateTime::default());
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
