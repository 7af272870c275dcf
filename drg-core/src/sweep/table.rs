//! The summary table of a collected sweep: per model and class, the mean per-gene Pearson r of
//! the joined predictions of every seed (mean ± sd over seeds), of the ensemble, and of the
//! average-profile baseline (each gene predicted as the mean profile of the training set of the
//! fold that held it out). Written as `summary.tsv` (for scripts) and `summary.txt` (aligned).

use std::fmt::Write;

/// One model's line for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub model: String,
    pub class: String,
    pub tracks: usize,
    /// Genes with a defined correlation (of the first seed's joined predictions).
    pub genes: usize,
    /// `(seed, mean per-gene r)` of every seed whose folds are all there.
    pub per_seed: Vec<(u64, f64)>,
    /// The ensemble's mean per-gene r (two seeds or more).
    pub ensemble: Option<f64>,
    pub baseline: f64,
}

impl TableRow {
    /// Mean over seeds.
    pub fn mean(&self) -> f64 {
        self.per_seed.iter().map(|s| s.1).sum::<f64>() / self.per_seed.len() as f64
    }

    /// Sample standard deviation over seeds (n − 1 in the denominator; NaN for one seed).
    pub fn sd(&self) -> f64 {
        let n = self.per_seed.len();
        if n < 2 {
            return f64::NAN;
        }
        let m = self.mean();
        (self.per_seed.iter().map(|s| (s.1 - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    }

    /// The model's best single figure: the ensemble's r, or the seeds' mean without one.
    pub fn headline(&self) -> f64 {
        self.ensemble.unwrap_or_else(|| self.mean())
    }
}

fn num(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else {
        format!("{x:.4}")
    }
}

/// `summary.tsv`: a header line, then one line per row.
pub fn table_tsv(rows: &[TableRow]) -> String {
    let mut s = String::from("model\tclass\ttracks\tgenes\tseeds\tr_mean\tr_sd\tr_ensemble\tr_baseline\tr_per_seed\n");
    for r in rows {
        let per_seed: Vec<String> = r.per_seed.iter().map(|(seed, v)| format!("{seed}:{}", num(*v))).collect();
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.model,
            r.class,
            r.tracks,
            r.genes,
            r.per_seed.len(),
            num(r.mean()),
            num(r.sd()),
            r.ensemble.map_or("nan".into(), num),
            num(r.baseline),
            per_seed.join(",")
        );
    }
    s
}

/// `summary.txt`: the same table aligned, with the gain of the headline figure over the baseline.
pub fn table_text(rows: &[TableRow]) -> String {
    let header = ["model", "class", "tracks", "genes", "seeds", "r mean ± sd", "ensemble r", "baseline r", "gain"];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.model.clone(),
                r.class.clone(),
                r.tracks.to_string(),
                r.genes.to_string(),
                r.per_seed.len().to_string(),
                if r.per_seed.len() < 2 { num(r.mean()) } else { format!("{} ± {}", num(r.mean()), num(r.sd())) },
                r.ensemble.map_or("-".into(), num),
                num(r.baseline),
                format!("{:+.4}", r.headline() - r.baseline),
            ]
        })
        .collect();
    let widths: Vec<usize> =
        (0..header.len()).map(|i| cells.iter().map(|c| c[i].chars().count()).chain([header[i].chars().count()]).max().unwrap()).collect();
    let line = |c: &[String]| -> String {
        let parts: Vec<String> = c
            .iter()
            .enumerate()
            .map(|(i, v)| if i < 2 { format!("{v:<w$}", w = widths[i]) } else { format!("{v:>w$}", w = widths[i]) })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut s = line(&header.map(String::from));
    for c in &cells {
        s.push_str(&line(c));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_and_both_layouts() {
        let r = TableRow {
            model: "model_d".into(),
            class: "Bcellex".into(),
            tracks: 7,
            genes: 200,
            per_seed: vec![(1, 0.40), (2, 0.44), (3, 0.45)],
            ensemble: Some(0.47),
            baseline: 0.30,
        };
        // mean 0.43; deviations -0.03, 0.01, 0.02: sum of squares 0.0014 / 2 -> sd sqrt(0.0007)
        assert!((r.mean() - 0.43).abs() < 1e-12);
        assert!((r.sd() - 0.0007f64.sqrt()).abs() < 1e-12);
        let one = TableRow { per_seed: vec![(1, 0.4)], ensemble: None, model: "model_e".into(), ..r.clone() };
        assert!(one.sd().is_nan());
        assert_eq!(one.headline(), 0.4);
        assert_eq!(
            table_tsv(&[r.clone(), one.clone()]),
            "model\tclass\ttracks\tgenes\tseeds\tr_mean\tr_sd\tr_ensemble\tr_baseline\tr_per_seed\n\
             model_d\tBcellex\t7\t200\t3\t0.4300\t0.0265\t0.4700\t0.3000\t1:0.4000,2:0.4400,3:0.4500\n\
             model_e\tBcellex\t7\t200\t1\t0.4000\tnan\tnan\t0.3000\t1:0.4000\n"
        );
        assert_eq!(
            table_text(&[r, one]),
            "model    class    tracks  genes  seeds      r mean ± sd  ensemble r  baseline r     gain\n\
             model_d  Bcellex       7    200      3  0.4300 ± 0.0265      0.4700      0.3000  +0.1700\n\
             model_e  Bcellex       7    200      1           0.4000           -      0.3000  +0.1000\n"
        );
    }
}
