//! The reference's report files, byte for byte (checked against the reference's files in
//! `fixtures/metrics/` in the tests below), each written atomically:
//!
//! * `<prefix>_clss_corr_tcl<class>.txt` / `<prefix>_pnt_corr_tcl<class>.txt`: one `name value`
//!   line per track / per test gene, the value as numpy prints a float64;
//! * `<prefix>_loss.txt`: one `e\tL_orig_val\tL_val\tL_train\tL2` line per epoch, each loss through
//!   Python's `round(x, 6)` and `str()`;
//! * `<prefix>_pred.npz`: `names` (numpy unicode), `values` (genes × ΣT, float32), `columns`,
//!   deflate-compressed like the reference's `np.savez_compressed`.
//!
//! `prefix` is the output name, joined by plain string concatenation as the reference does
//! (`Models/run1` gives `Models/run1_loss.txt`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use npyz::WriterBuilder;

use super::atomic_file::{write_atomically, write_bytes_atomically};
use super::float_text::{python_repr, python_round};
use super::metrics::ClassCorrelations;

/// Which correlation files to write (`--save_correlation_perclass`, `--save_correlation_perpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CorrelationReports {
    pub per_class: bool,
    pub per_point: bool,
}

/// `<prefix><suffix>`: the reference joins output names by string concatenation.
pub fn output_path(prefix: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{prefix}{suffix}"))
}

/// The text of one correlation file: `name value` lines, newline-terminated (numpy's
/// `savetxt(fmt='%s')` of the name/value string array).
pub fn correlation_file_text<S: AsRef<str>>(names: &[S], values: &[f64]) -> String {
    let mut out = String::new();
    for (name, &v) in names.iter().zip(values) {
        out.push_str(name.as_ref());
        out.push(' ');
        out.push_str(&python_repr(v));
        out.push('\n');
    }
    out
}

/// Writes the requested correlation files of every class and returns their paths (per class:
/// `_clss_` then `_pnt_`). Per-track files are labelled with track names and per-gene files with
/// gene names (the reference chooses by a length test that mislabels when both counts agree; we
/// do not copy that).
pub fn write_correlation_reports(
    prefix: &str,
    genes: &[String],
    classes: &[ClassCorrelations],
    which: CorrelationReports,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for c in classes {
        if which.per_class {
            let path = output_path(prefix, &format!("_clss_corr_tcl{}.txt", c.class));
            write_bytes_atomically(&path, correlation_file_text(&c.tracks, &c.per_track).as_bytes())?;
            written.push(path);
        }
        if which.per_point {
            anyhow::ensure!(
                genes.len() == c.per_gene.len(),
                "{prefix}: {} gene names for {} per-gene values",
                genes.len(),
                c.per_gene.len()
            );
            let path = output_path(prefix, &format!("_pnt_corr_tcl{}.txt", c.class));
            write_bytes_atomically(&path, correlation_file_text(genes, &c.per_gene).as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The losses of one epoch line, in the reference's column order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLine {
    pub epoch: usize,
    /// The training loss function on the validation set.
    pub orig_val: f64,
    /// The validation loss function on the validation set (the early-stopping quantity).
    pub val: f64,
    /// The training loss on the training set during the updates.
    pub train: f64,
    /// The validation loss function on the training-pass predictions.
    pub train_val: f64,
}

impl EpochLine {
    /// `e\tL_orig_val\tL_val\tL_train\tL2` with each loss as Python's `str(round(x, 6))`, no newline
    /// (the reference's `save_losses(PATH, e, '\t'.join(str(round(x, roundto)) ...))`).
    pub fn text(&self) -> String {
        let f = |x: f64| python_repr(python_round(x, 6));
        format!("{}\t{}\t{}\t{}\t{}", self.epoch, f(self.orig_val), f(self.val), f(self.train), f(self.train_val))
    }
}

/// `<prefix>_loss.txt`, grown one line per epoch. Every push rewrites the whole (small) file
/// atomically, so a reader or a crash never sees a partial line. A new log starts the file afresh,
/// as the reference's epoch-0 line opens it with `'w'`.
#[derive(Debug, Clone)]
pub struct LossLog {
    path: PathBuf,
    text: String,
}

impl LossLog {
    /// A new, empty log for output name `prefix` (nothing is written until the first line).
    pub fn new(prefix: &str) -> Self {
        Self { path: output_path(prefix, "_loss.txt"), text: String::new() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends one epoch line and rewrites the file.
    pub fn push(&mut self, line: EpochLine) -> anyhow::Result<()> {
        self.text.push_str(&line.text());
        self.text.push('\n');
        write_bytes_atomically(&self.path, self.text.as_bytes())
    }
}

/// Writes `<prefix>_pred.npz` as the reference's `--save_predictions` does: `names` (the test
/// genes, numpy unicode), `values` (`names.len() × columns.len()`, float32, heads concatenated) and
/// `columns` (the track names). Returns the path.
pub fn write_predictions_npz(prefix: &str, names: &[String], values: &[f32], columns: &[String]) -> anyhow::Result<PathBuf> {
    let path = output_path(prefix, "_pred.npz");
    anyhow::ensure!(
        values.len() == names.len() * columns.len(),
        "{}: {} predicted values for {} genes x {} tracks",
        path.display(),
        values.len(),
        names.len(),
        columns.len()
    );
    write_atomically(&path, |w| {
        let mut npz = npyz::npz::NpzWriter::new(std::io::Cursor::new(Vec::new()));
        write_unicode_array(&mut npz, "names", names)?;
        let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut arr = npz.array::<f32>("values", opts)?.default_dtype().shape(&[names.len() as u64, columns.len() as u64]).begin_nd()?;
        arr.extend(values.iter().copied())?;
        arr.finish()?;
        write_unicode_array(&mut npz, "columns", columns)?;
        let bytes = npz.zip_writer().finish()?.into_inner();
        w.write_all(&bytes)?;
        Ok(())
    })
    .with_context(|| format!("{}: writing predictions", path.display()))?;
    Ok(path)
}

/// One 1-d numpy unicode array (`<U{longest}`), as numpy stores a list of Python strings.
pub(crate) fn write_unicode_array<W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    strings: &[String],
) -> anyhow::Result<()> {
    let width = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
    let dtype = npyz::DType::Plain(format!("<U{width}").parse().map_err(|e| anyhow::anyhow!("{e:?}"))?);
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut arr = npz.array::<str>(name, opts)?.dtype(dtype).shape(&[strings.len() as u64]).begin_nd()?;
    for s in strings {
        arr.push(s.as_str())?;
    }
    arr.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::tests::{fixture, metrics_inputs};
    use crate::eval::metrics::{class_correlations, TestSet};
    use crate::import::npz::{read_npz, Values};

    #[test]
    fn correlation_files_match_the_reference_byte_for_byte() {
        let (_, pred, truth, genes, tracks, classes) = metrics_inputs();
        let set = TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes };
        let result = class_correlations(&set).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/fixture", dir.path().display());
        let written = write_correlation_reports(&prefix, &genes, &result, CorrelationReports { per_class: true, per_point: true }).unwrap();
        assert_eq!(written.len(), 6);
        for path in &written {
            let name = path.file_name().unwrap().to_str().unwrap();
            let want = std::fs::read(fixture("metrics").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = std::fs::read(path).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{name}");
        }
        // Only the requested kind is written.
        let dir2 = tempfile::tempdir().unwrap();
        let prefix2 = format!("{}/x", dir2.path().display());
        let only = write_correlation_reports(&prefix2, &genes, &result, CorrelationReports { per_class: false, per_point: true }).unwrap();
        assert!(only.iter().all(|p| p.to_str().unwrap().contains("_pnt_corr_tcl")) && only.len() == 3);
    }

    #[test]
    fn loss_lines_use_python_round_and_str() {
        // Python: '\t'.join(str(x) for x in [3] + [round(v, 6) for v in (0.8, 1.00000049, 1e-05, 0.123456789)])
        let line = EpochLine { epoch: 3, orig_val: 0.8, val: 1.00000049, train: 1e-05, train_val: 0.123456789 };
        assert_eq!(line.text(), "3\t0.8\t1.0\t1e-05\t0.123457");
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/run", dir.path().display());
        let mut log = LossLog::new(&prefix);
        log.push(EpochLine { epoch: 0, orig_val: 0.5, val: 0.25, train: 2.0, train_val: f64::NAN }).unwrap();
        log.push(line).unwrap();
        let text = std::fs::read_to_string(dir.path().join("run_loss.txt")).unwrap();
        assert_eq!(text, "0\t0.5\t0.25\t2.0\tnan\n3\t0.8\t1.0\t1e-05\t0.123457\n");
    }

    #[test]
    fn predictions_npz_round_trips_with_numpy_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/m", dir.path().display());
        let names = vec!["Gene_0".to_string(), "Gene_10".to_string()];
        let columns = vec!["C0".to_string(), "C1_ex".to_string(), "Cé".to_string()];
        let values = [1.0f32, -2.5, 3.25, 0.0, 1e-8, 7.0];
        let path = write_predictions_npz(&prefix, &names, &values, &columns).unwrap();
        assert!(path.ends_with("m_pred.npz"));
        let npz = read_npz(&path).unwrap();
        assert_eq!(npz.get("names").unwrap().strings().unwrap(), names.as_slice());
        assert_eq!(npz.get("names").unwrap().dtype.trim_matches('\''), "<U7");
        assert_eq!(npz.get("columns").unwrap().strings().unwrap(), columns.as_slice());
        let v = npz.get("values").unwrap();
        assert_eq!((v.shape.clone(), v.dtype.trim_matches('\'')), (vec![2, 3], "<f4"));
        assert_eq!(v.values, Values::F32(values.to_vec()));
        let err = write_predictions_npz(&prefix, &names, &values[..5], &columns).unwrap_err();
        assert!(format!("{err:#}").contains("m_pred.npz: 5 predicted values for 2 genes x 3 tracks"), "{err:#}");
    }
}
