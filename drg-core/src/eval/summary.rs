//! The summary table drg-rs prints after a run: for each class (cell type), how well the model
//! predicts the *profile* of a test gene across that class's tracks, next to the simplest
//! baseline, which predicts every test gene as the training set's mean profile.
//!
//! The baseline matters because a per-gene correlation across tracks rewards getting the shape
//! of the average profile right: a model is only useful where it beats the mean profile.
//!
//! Correlations here are plain Pearson r in f64 (not the reference's rounded `1 − r`); a gene whose
//! truth or prediction is constant across the class's tracks has no correlation and is left out
//! of that mean (the count of genes used is shown).

use std::fmt;

use super::metrics::{MetricsError, TestSet};

/// One class's line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub class: String,
    /// Tracks in the class.
    pub tracks: usize,
    /// Test genes with a defined model correlation (those in `model`'s mean).
    pub genes_model: usize,
    /// Test genes with a defined baseline correlation.
    pub genes_baseline: usize,
    /// Mean per-gene Pearson r of the model (NaN if no gene has one).
    pub model: f64,
    /// Mean per-gene Pearson r of the mean-profile baseline (NaN if no gene has one).
    pub baseline: f64,
}

/// The whole table, classes sorted as strings; `Display` prints it aligned.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
}

/// Pearson r of two equally long vectors, `None` when either is constant.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (a, b) = (a - mx, b - my);
        xx += a * a;
        yy += b * b;
        xy += a * b;
    }
    (xx > 0.0 && yy > 0.0).then(|| xy / (xx * yy).sqrt())
}

/// Mean of the defined values and how many there were.
fn mean_defined(values: impl Iterator<Item = Option<f64>>) -> (f64, usize) {
    let (sum, n) = values.flatten().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (if n == 0 { f64::NAN } else { sum / n as f64 }, n)
}

/// The mean profile of a training set: the mean over genes of every track of a
/// `(genes, tracks)` C-order matrix. This is the baseline's prediction for every test gene.
pub fn mean_profile(train_truth: &[f64], tracks: usize) -> Vec<f64> {
    let genes = train_truth.len().checked_div(tracks).unwrap_or(0);
    let mut mean = vec![0.0; tracks];
    for row in train_truth.chunks_exact(tracks.max(1)).take(genes) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= genes as f64);
    mean
}

/// The summary of a test set against the baseline `train_mean` (one value per track, see
/// [`mean_profile`]).
pub fn summarize(set: &TestSet<'_>, train_mean: &[f64]) -> Result<Summary, MetricsError> {
    set.validate()?;
    let cols = set.tracks.len();
    if train_mean.len() != cols {
        return Err(MetricsError::Size { what: "the training mean profile", got: train_mean.len(), want: cols, genes: 1, tracks: cols });
    }
    Ok(summarize_rows(set, |_| train_mean))
}

/// [`summarize`] with a baseline profile of its own for every gene (`genes × tracks`, C order):
/// joined cross-validation predictions, where each gene's baseline is the mean profile of the
/// training set of the fold that held it out.
pub fn summarize_per_gene_baseline(set: &TestSet<'_>, baseline: &[f64]) -> Result<Summary, MetricsError> {
    set.validate()?;
    let (genes, cols) = (set.genes.len(), set.tracks.len());
    if baseline.len() != genes * cols {
        return Err(MetricsError::Size { what: "the baseline", got: baseline.len(), want: genes * cols, genes, tracks: cols });
    }
    Ok(summarize_rows(set, |g| &baseline[g * cols..(g + 1) * cols]))
}

/// The table of a validated `set`, with `baseline_of(g)` the baseline profile (all tracks) of gene g.
fn summarize_rows<'b>(set: &TestSet<'_>, baseline_of: impl Fn(usize) -> &'b [f64]) -> Summary {
    let cols = set.tracks.len();
    let rows = set
        .class_members()
        .into_iter()
        .map(|(class, members)| {
            let baseline_profile = |g: usize| -> Vec<f64> { members.iter().map(|&t| baseline_of(g)[t]).collect() };
            let per_gene = |g: usize| -> (Vec<f64>, Vec<f64>) {
                let truth = members.iter().map(|&t| set.truth[g * cols + t]).collect();
                let pred = members.iter().map(|&t| set.pred[g * cols + t] as f64).collect();
                (truth, pred)
            };
            let genes = 0..set.genes.len();
            let (model, genes_model) = mean_defined(genes.clone().map(|g| {
                let (truth, pred) = per_gene(g);
                pearson(&truth, &pred)
            }));
            let (baseline, genes_baseline) = mean_defined(genes.map(|g| pearson(&per_gene(g).0, &baseline_profile(g))));
            SummaryRow { class: class.to_string(), tracks: members.len(), genes_model, genes_baseline, model, baseline }
        })
        .collect();
    Summary { rows }
}

impl fmt::Display for Summary {
    /// ```text
    /// class  tracks  genes  model r  baseline r    gain
    /// A           3      2   0.9910      0.0000  0.9910
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.rows.iter().map(|r| r.class.chars().count()).max().unwrap_or(0).max("class".len());
        writeln!(f, "{:<width$}  {:>6}  {:>5}  {:>7}  {:>10}  {:>7}", "class", "tracks", "genes", "model r", "baseline r", "gain")?;
        for r in &self.rows {
            let genes = if r.genes_model == r.genes_baseline {
                r.genes_model.to_string()
            } else {
                format!("{}/{}", r.genes_model, r.genes_baseline)
            };
            writeln!(
                f,
                "{:<width$}  {:>6}  {:>5}  {:>7.4}  {:>10.4}  {:>+7.4}",
                r.class,
                r.tracks,
                genes,
                r.model,
                r.baseline,
                r.model - r.baseline
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hand_checked_example() {
        // Tracks t0..t2 are class A, t3..t4 class B. Gene g2's truth is constant in class A.
        let genes = strings(&["g0", "g1", "g2"]);
        let tracks = strings(&["t0", "t1", "t2", "t3", "t4"]);
        let classes = strings(&["A", "A", "A", "B", "B"]);
        let truth = [1.0, 2.0, 3.0, 5.0, 1.0, /**/ 3.0, 2.0, 1.0, 1.0, 5.0, /**/ 2.0, 2.0, 2.0, 3.0, 4.0];
        let pred = [1.0f32, 2.0, 4.0, 4.0, 2.0, /**/ 3.0, 2.0, 1.0, 2.0, 1.0, /**/ 1.0, 2.0, 3.0, 1.0, 2.0];
        let train = [0.0, 1.0, 2.0, 0.0, 0.0, /**/ 2.0, 3.0, 4.0, 2.0, 0.0];
        let mean = mean_profile(&train, 5);
        assert_eq!(mean, [1.0, 2.0, 3.0, 1.0, 0.0]);
        let set = TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes };
        let s = summarize(&set, &mean).unwrap();
        // Class A, model: g0 has centred truth (-1,0,1) and prediction (-4/3,-1/3,5/3), so
        // r = 3 / (sqrt(2)·sqrt(42)/3) = 9/sqrt(84); g1 is predicted exactly (r = 1); g2 is left out.
        // Baseline (1,2,3): r = 1 for g0, -1 for g1.
        let a = &s.rows[0];
        assert_eq!((a.class.as_str(), a.tracks, a.genes_model, a.genes_baseline), ("A", 3, 2, 2));
        assert!((a.model - (9.0 / 84f64.sqrt() + 1.0) / 2.0).abs() < 1e-12, "{}", a.model);
        assert!(a.baseline.abs() < 1e-12, "{}", a.baseline);
        // Class B (two tracks, r = ±1): model g0 +1, g1 -1, g2 (3,4) vs (1,2) +1; baseline (1,0):
        // g0 (5,1) +1, g1 (1,5) -1, g2 (3,4) -1.
        let b = &s.rows[1];
        assert_eq!((b.class.as_str(), b.tracks, b.genes_model, b.genes_baseline), ("B", 2, 3, 3));
        assert!((b.model - 1.0 / 3.0).abs() < 1e-12 && (b.baseline + 1.0 / 3.0).abs() < 1e-12, "{b:?}");
        assert_eq!(
            s.to_string(),
            "class  tracks  genes  model r  baseline r     gain\n\
             A           3      2   0.9910      0.0000  +0.9910\n\
             B           2      3   0.3333     -0.3333  +0.6667\n"
        );
    }

    #[test]
    fn per_gene_baselines_replace_the_one_profile() {
        let genes = strings(&["g0", "g1"]);
        let tracks = strings(&["t0", "t1", "t2"]);
        let classes = strings(&["A", "A", "A"]);
        let truth = [1.0, 2.0, 3.0, /**/ 3.0, 1.0, 2.0];
        let pred = [1.0f32, 2.0, 4.0, /**/ 3.0, 2.0, 1.0];
        let set = TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes };
        // The same profile for every gene is `summarize`.
        let profile = [1.0, 2.0, 3.0];
        assert_eq!(summarize_per_gene_baseline(&set, &profile.repeat(2)).unwrap(), summarize(&set, &profile).unwrap());
        // g0's baseline (1,2,3) has r = 1; g1's baseline (1,2,3) against (3,1,2): centred (1,-1,0) and
        // (-1,0,1), r = -1/2. The mean is 1/4.
        let s = summarize_per_gene_baseline(&set, &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]).unwrap();
        assert!((s.rows[0].baseline - 0.25).abs() < 1e-12, "{s:?}");
        // g1 with a baseline of its own truth: r = 1 for both genes.
        let s = summarize_per_gene_baseline(&set, &[1.0, 2.0, 3.0, 3.0, 1.0, 2.0]).unwrap();
        assert!((s.rows[0].baseline - 1.0).abs() < 1e-12, "{s:?}");
        let e = summarize_per_gene_baseline(&set, &profile).unwrap_err().to_string();
        assert!(e.contains("the baseline has 3 values, expected 6"), "{e}");
    }

    #[test]
    fn a_profile_of_the_wrong_length_is_an_error() {
        let genes = strings(&["g0"]);
        let tracks = strings(&["t0", "t1"]);
        let classes = strings(&["A", "A"]);
        let set = TestSet { pred: &[1.0, 2.0], truth: &[1.0, 2.0], genes: &genes, tracks: &tracks, classes: &classes };
        let e = summarize(&set, &[1.0]).unwrap_err().to_string();
        assert!(e.contains("the training mean profile has 1 values, expected 2"), "{e}");
    }
}
