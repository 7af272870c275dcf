//! The attribution file `<prefix>_<type><tracks>.npz` in the reference's layout
//! (drg-after-training.md §8.7): `names` (N,), `experiments` (T,), `values` (N, T, 4, W), with a
//! leading input axis `(N_inputs, N, T, 4, W)` for models with several inputs. `ism` values are
//! float64, gradients float32, as the reference. One deviation, because drg-rs can restrict the map
//! to a window: `window` (int64 `[start, end]`, in bp of the sequence) says which positions the
//! last axis covers (the whole sequence without `--attribution_window`).

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::Context;
use npyz::WriterBuilder;

use super::attribution::{Attributions, Method};
use crate::eval::atomic_file::write_atomically;
use crate::eval::report_files::write_unicode_array;

/// `<prefix>_<type><tracks>.npz`, the tracks text with `,` replaced by `-` (`_gradall.npz`,
/// `_ism0-1-5.npz`).
pub fn attribution_path(prefix: &str, method: Method, tracks: &str) -> PathBuf {
    PathBuf::from(format!("{prefix}_{}{}.npz", method.name(), tracks.replace(',', "-")))
}

/// Writes `a` to `path` atomically.
pub fn write_attributions(path: &Path, a: &Attributions) -> anyhow::Result<()> {
    let (n, t, w) = (a.genes.len(), a.experiments.len(), a.window.len());
    let mut shape: Vec<u64> = vec![n as u64, t as u64, 4, w as u64];
    if a.per_input.len() > 1 {
        shape.insert(0, a.per_input.len() as u64);
    }
    write_atomically(path, |out| {
        let mut npz = npyz::npz::NpzWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = || zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        write_unicode_array(&mut npz, "names", &a.genes)?;
        let values = a.per_input.iter().flatten().copied();
        if a.method == Method::Ism {
            let mut arr = npz.array::<f64>("values", opts())?.default_dtype().shape(&shape).begin_nd()?;
            arr.extend(values)?;
            arr.finish()?;
        } else {
            let mut arr = npz.array::<f32>("values", opts())?.default_dtype().shape(&shape).begin_nd()?;
            arr.extend(values.map(|v| v as f32))?;
            arr.finish()?;
        }
        write_unicode_array(&mut npz, "experiments", &a.experiments)?;
        let mut arr = npz.array::<i64>("window", opts())?.default_dtype().shape(&[2]).begin_nd()?;
        arr.extend([a.window.start as i64, a.window.end as i64])?;
        arr.finish()?;
        let bytes = npz.zip_writer().finish()?.into_inner();
        out.write_all(&bytes)?;
        Ok(())
    })
    .with_context(|| format!("{}: writing attributions", path.display()))
}
