//! The prediction files of `--predictnew`: `<prefix>_pred.npz` in the reference's layout
//! (`names`, `values`, `columns`; [`super::report_files::write_predictions_npz`]) and
//! `<prefix>_pred.tsv`, the same table as text for people and spreadsheets.
//!
//! The tsv is an output matrix in the reference's text format (`# track<TAB>track...` header,
//! then `gene<TAB>value...` rows), so it reads back as one (`data::matrix::read_matrix` with a
//! tab delimiter), e.g. to compare two models' predictions. Values are written in the shortest
//! form that reads back as the same float32.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use super::atomic_file::write_bytes_atomically;
use super::report_files::{output_path, write_predictions_npz};

/// The text of `<prefix>_pred.tsv` for `names.len() × columns.len()` row-major `values`.
pub fn prediction_tsv_text(names: &[String], values: &[f32], columns: &[String]) -> String {
    let mut text = format!("# {}\n", columns.join("\t"));
    for (name, row) in names.iter().zip(values.chunks_exact(columns.len().max(1))) {
        text.push_str(name);
        for v in row {
            let _ = write!(text, "\t{v}");
        }
        text.push('\n');
    }
    text
}

/// Writes `<prefix>_pred.npz` and `<prefix>_pred.tsv` (each atomically) and returns their paths.
pub fn write_prediction_files(prefix: &str, names: &[String], values: &[f32], columns: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let npz = write_predictions_npz(prefix, names, values, columns)?;
    let tsv = output_path(prefix, "_pred.tsv");
    let text = prediction_tsv_text(names, values, columns);
    write_bytes_atomically(&tsv, text.as_bytes()).with_context(|| format!("{}: writing predictions", tsv.display()))?;
    Ok(vec![npz, tsv])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::matrix::read_matrix;
    use crate::import::npz::read_npz;

    #[test]
    fn the_tsv_reads_back_as_a_matrix_with_the_npz_values() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/run", dir.path().display());
        let names = vec!["g2".to_string(), "g1".to_string()];
        let columns = vec!["T0_ex".to_string(), "T1_ex".to_string(), "T0_kd".to_string()];
        let values = vec![0.1f32, -2.5e-7, 3.0, 1.0 / 3.0, f32::MAX, -0.0];
        let files = write_prediction_files(&prefix, &names, &values, &columns).unwrap();
        assert_eq!(files, [PathBuf::from(format!("{prefix}_pred.npz")), PathBuf::from(format!("{prefix}_pred.tsv"))]);
        let m = read_matrix(&files[1], '\t').unwrap();
        // Rows come back sorted by name; every value exactly.
        assert_eq!((m.genes.clone(), m.track_names.clone()), (vec!["g1".to_string(), "g2".to_string()], columns.clone()));
        assert_eq!(m.values, [&values[3..], &values[..3]].concat());
        let npz = read_npz(&files[0]).unwrap();
        assert_eq!(npz.f32("values").unwrap(), (vec![2, 3], values.clone()));
        assert_eq!(npz.get("columns").unwrap().strings().unwrap(), columns.as_slice());
        assert_eq!(prediction_tsv_text(&names[..1], &values[..3], &columns), "# T0_ex\tT1_ex\tT0_kd\ng2\t0.1\t-0.00000025\t3\n");
    }
}
