//! The table drg-rs prints after training: per class, the model's mean per-gene correlation on the
//! test set next to a baseline that predicts every gene with the training set's average profile.
//!
//! The per-gene correlation is Pearson r across the class's tracks for one gene (the reference's
//! `--save_correlation_perpoint` value is 1 − r). A model that only learned the average profile
//! scores like the baseline; the difference is what it learned about individual genes.

use super::metrics::ClassCorrelations;

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub class: String,
    pub tracks: usize,
    /// Genes with a defined correlation (constant rows give NaN and are left out).
    pub genes: usize,
    /// Mean per-gene r of the model.
    pub model: f64,
    /// Mean per-gene r of the average-profile baseline, when a training set was given.
    pub baseline: Option<f64>,
}

/// Mean of `1 − d` over the finite per-gene distances `d`, and how many there were (NaN if none).
pub fn mean_correlation(per_gene_distance: &[f64]) -> (f64, usize) {
    let finite: Vec<f64> = per_gene_distance.iter().copied().filter(|d| d.is_finite()).collect();
    let n = finite.len();
    (finite.iter().map(|d| 1.0 - d).sum::<f64>() / n as f64, n)
}

/// The average of every column of a `rows × width` matrix over `rows` (the baseline's prediction
/// for every gene).
pub fn mean_profile(values: &[f32], width: usize, rows: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f64; width];
    for &r in rows {
        for (s, &v) in sum.iter_mut().zip(&values[r * width..(r + 1) * width]) {
            *s += v as f64;
        }
    }
    sum.iter().map(|s| (s / rows.len() as f64) as f32).collect()
}

/// Rows of the table, one per class (classes as `class_correlations` orders them).
pub fn summary_rows(model: &[ClassCorrelations], baseline: Option<&[ClassCorrelations]>) -> Vec<SummaryRow> {
    model
        .iter()
        .map(|c| {
            let (m, genes) = mean_correlation(&c.per_gene);
            let b = baseline.and_then(|b| b.iter().find(|x| x.class == c.class)).map(|x| mean_correlation(&x.per_gene).0);
            SummaryRow { class: c.class.clone(), tracks: c.tracks.len(), genes, model: m, baseline: b }
        })
        .collect()
}

/// The table as text, one line per class under a header.
pub fn format_summary(rows: &[SummaryRow]) -> String {
    let width = rows.iter().map(|r| r.class.len()).max().unwrap_or(0).max(5);
    let mut out = format!("{:<width$}  {:>6}  {:>6}  {:>9}  {:>14}\n", "class", "tracks", "genes", "model r", "mean-profile r");
    for r in rows {
        let b = r.baseline.map_or("-".to_string(), |b| format!("{b:.4}"));
        out.push_str(&format!("{:<width$}  {:>6}  {:>6}  {:>9.4}  {:>14}\n", r.class, r.tracks, r.genes, r.model, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, per_gene: Vec<f64>) -> ClassCorrelations {
        ClassCorrelations { class: name.into(), tracks: vec!["a".into(), "b".into(), "c".into()], per_track: vec![], per_gene }
    }

    #[test]
    fn rows_average_finite_correlations_next_to_the_baseline() {
        let model = [class("T0", vec![0.2, 0.4, f64::NAN]), class("T1", vec![1.0])];
        let base = [class("T1", vec![1.5]), class("T0", vec![0.9, 0.7, 0.8])];
        let rows = summary_rows(&model, Some(&base));
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].class.as_str(), rows[0].tracks, rows[0].genes), ("T0", 3, 2));
        assert!((rows[0].model - 0.7).abs() < 1e-12);
        assert!((rows[0].baseline.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!((rows[1].model, rows[1].baseline), (0.0, Some(-0.5)));
        let text = format_summary(&rows);
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().nth(1).unwrap().split_whitespace().eq(["T0", "3", "2", "0.7000", "0.2000"]), "{text}");
        assert!(format_summary(&summary_rows(&model, None)).lines().nth(2).unwrap().ends_with('-'));
    }

    #[test]
    fn mean_profile_averages_the_chosen_rows() {
        let values = [1.0f32, 10.0, 3.0, 20.0, 100.0, 100.0];
        assert_eq!(mean_profile(&values, 2, &[0, 1]), vec![2.0, 15.0]);
    }
}
