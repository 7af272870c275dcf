//! Test-set correlations per class, as the reference's `--save_correlation_perclass` and
//! `--save_correlation_perpoint` compute them (checked against `fixtures/metrics.npz` in the tests below).
//!
//! For each class (tracks grouped by their class label; classes sorted as strings, like
//! `np.unique`):
//! * **per track** ("perclass"): 1 − Pearson r between truth and prediction of one track across the
//!   test genes;
//! * **per gene** ("perpoint"): 1 − Pearson r across the tracks of that class, for each test gene.
//!
//! The reference's constant-vector rule is kept: with n₁, n₂ the norms of the centred vectors, if
//! n₁·n₂ / max(n₁, n₂) < 1e-16 then r = −1 (value 2.0); when both vectors are constant that ratio is
//! 0/0, the rule does not fire and the value is NaN. Values are rounded to 4 decimals with numpy's
//! `around` (see [`super::float_text::numpy_round`]).

use std::collections::BTreeMap;

use super::float_text::numpy_round;

/// The reference's `nan_eps` of `correlation()`.
const CONSTANT_RATIO: f64 = 1e-16;

/// How numpy sums along the reduced axis, which decides the rounding of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOrder {
    /// A reduction over an axis that is not the contiguous one: one running sum per output,
    /// element after element.
    Sequential,
    /// A reduction over the contiguous axis: numpy's pairwise summation.
    Pairwise,
}

/// Float types numpy sums (f32 stays f32, as numpy does for `float32` arrays).
trait NumpyFloat: Copy + Default + std::ops::Add<Output = Self> {}
impl NumpyFloat for f32 {}
impl NumpyFloat for f64 {}

/// numpy's `pairwise_sum` (8 accumulators up to 128 values, halving above), added to the reduction
/// identity 0.
fn pairwise_sum<T: NumpyFloat>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        a.iter().fold(T::default(), |s, &v| s + v)
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc = *acc + v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res = res + v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

fn numpy_sum<T: NumpyFloat>(a: &[T], order: SumOrder) -> T {
    match order {
        SumOrder::Sequential => a.iter().fold(T::default(), |s, &v| s + v),
        SumOrder::Pairwise => T::default() + pairwise_sum(a),
    }
}

/// `1 − r` between `truth` (float64, as the reference reads the tsv) and `pred` (the model's
/// float32 output), rounded to 4 decimals, with the reference's constant-vector rule.
///
/// The arithmetic follows numpy's dtype rules in the reference's `correlation()`, because the
/// 4-decimal rounding makes the last bits visible (`-0.0` when r exceeds 1 by an ulp): the
/// prediction's mean, centred values and norm stay float32; products with the truth are float64.
pub fn correlation_distance(truth: &[f64], pred: &[f32], order: SumOrder) -> f64 {
    let n = truth.len();
    let mt = numpy_sum(truth, order) / n as f64;
    let mp = numpy_sum(pred, order) / n as f32;
    let a: Vec<f64> = truth.iter().map(|&t| t - mt).collect();
    let b: Vec<f32> = pred.iter().map(|&p| p - mp).collect();
    let aa: Vec<f64> = a.iter().map(|&x| x * x).collect();
    let bb: Vec<f32> = b.iter().map(|&x| x * x).collect();
    let ab: Vec<f64> = a.iter().zip(&b).map(|(&x, &y)| x * y as f64).collect();
    let n1 = numpy_sum(&aa, order).sqrt();
    let n2 = numpy_sum(&bb, order).sqrt() as f64;
    let y12 = numpy_sum(&ab, order);
    let n12 = n1 * n2;
    // Both constant: 0/0 is NaN, fails the comparison (as in numpy) and 0/0 stays NaN.
    let r = if n12 / n1.max(n2) < CONSTANT_RATIO { -1.0 } else { y12 / n12 };
    numpy_round(1.0 - r, 4)
}

/// The correlations of one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassCorrelations {
    /// The class label.
    pub class: String,
    /// Names of the class's tracks, in track order.
    pub tracks: Vec<String>,
    /// 1 − r per track across genes (one per entry of `tracks`).
    pub per_track: Vec<f64>,
    /// 1 − r per gene across the class's tracks (one per test gene, in the given gene order).
    pub per_gene: Vec<f64>,
}

/// A test-set prediction next to its truth, both `(genes, tracks)` in C order.
#[derive(Debug, Clone, Copy)]
pub struct TestSet<'a> {
    pub pred: &'a [f32],
    pub truth: &'a [f64],
    pub genes: &'a [String],
    pub tracks: &'a [String],
    /// Class label of every track.
    pub classes: &'a [String],
}

/// Inconsistent inputs to the evaluation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("evaluation: {what} has {got} values, expected {want} ({genes} genes x {tracks} tracks)")]
    Size { what: &'static str, got: usize, want: usize, genes: usize, tracks: usize },
    #[error("evaluation: {got} class labels for {tracks} tracks")]
    Classes { got: usize, tracks: usize },
    #[error("evaluation: no test genes")]
    NoGenes,
}

impl<'a> TestSet<'a> {
    /// Checks that every array agrees with `genes × tracks`.
    pub fn validate(&self) -> Result<(), MetricsError> {
        let (g, t) = (self.genes.len(), self.tracks.len());
        if g == 0 {
            return Err(MetricsError::NoGenes);
        }
        for (what, got) in [("the prediction", self.pred.len()), ("the truth", self.truth.len())] {
            if got != g * t {
                return Err(MetricsError::Size { what, got, want: g * t, genes: g, tracks: t });
            }
        }
        if self.classes.len() != t {
            return Err(MetricsError::Classes { got: self.classes.len(), tracks: t });
        }
        Ok(())
    }

    /// Track indices of each class, classes sorted as strings (`T0`, `T1`, `T10`).
    pub fn class_members(&self) -> BTreeMap<&'a str, Vec<usize>> {
        let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.classes.iter().enumerate() {
            members.entry(c.as_str()).or_default().push(i);
        }
        members
    }

    /// Truth and prediction of `genes × tracks` cells, gathered in `(gene, track)` order.
    fn gather(&self, genes: impl Iterator<Item = usize> + Clone, tracks: &[usize]) -> (Vec<f64>, Vec<f32>) {
        let cols = self.tracks.len();
        let cells = || genes.clone().flat_map(move |g| tracks.iter().map(move |&t| g * cols + t));
        (cells().map(|i| self.truth[i]).collect(), cells().map(|i| self.pred[i]).collect())
    }
}

/// Per-track and per-gene correlations of every class, classes in sorted order.
pub fn class_correlations(set: &TestSet<'_>) -> Result<Vec<ClassCorrelations>, MetricsError> {
    set.validate()?;
    let genes = 0..set.genes.len();
    Ok(set
        .class_members()
        .into_iter()
        .map(|(class, members)| {
            // The reference reduces `Y[:, class_tracks]`, which numpy's fancy indexing returns in
            // F order (and every elementwise result keeps that order): axis 0, per track, is the
            // contiguous one and is summed pairwise; axis 1, per gene, is summed sequentially.
            let per_track = members
                .iter()
                .map(|&t| {
                    let (truth, pred) = set.gather(genes.clone(), &[t]);
                    correlation_distance(&truth, &pred, SumOrder::Pairwise)
                })
                .collect();
            let per_gene = genes
                .clone()
                .map(|g| {
                    let (truth, pred) = set.gather(g..g + 1, &members);
                    correlation_distance(&truth, &pred, SumOrder::Sequential)
                })
                .collect();
            ClassCorrelations {
                class: class.to_string(),
                tracks: members.iter().map(|&t| set.tracks[t].clone()).collect(),
                per_track,
                per_gene,
            }
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::import::npz::{read_npz, Npz};

    pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
    }

    /// The `metrics.npz` archive and its inputs: (npz, pred, truth, genes, tracks, classes).
    type MetricsInputs = (Npz, Vec<f32>, Vec<f64>, Vec<String>, Vec<String>, Vec<String>);

    pub(crate) fn metrics_inputs() -> MetricsInputs {
        let npz = read_npz(fixture("metrics.npz")).unwrap();
        let pred = npz.f32("pred").unwrap().1;
        let truth = npz.get("truth").unwrap().to_f64().unwrap();
        let strings = |k: &str| npz.get(k).unwrap().strings().unwrap().to_vec();
        let (genes, tracks, classes) = (strings("genes"), strings("tracks"), strings("classes"));
        (npz, pred, truth, genes, tracks, classes)
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
    }

    #[test]
    fn correlations_match_the_reference_values() {
        let (npz, pred, truth, genes, tracks, classes) = metrics_inputs();
        let set = TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes };
        let result = class_correlations(&set).unwrap();
        let names: Vec<&str> = result.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(names, ["T0", "T1", "T10"]);
        for c in &result {
            let want_track = npz.get(&format!("perclass/{}", c.class)).unwrap().to_f64().unwrap();
            let want_gene = npz.get(&format!("perpoint/{}", c.class)).unwrap().to_f64().unwrap();
            assert_eq!(c.per_track.len(), want_track.len());
            assert_eq!(c.per_gene.len(), want_gene.len());
            for (g, w) in c.per_track.iter().zip(&want_track) {
                assert!(same(*g, *w), "class {} per track: {:?} vs {:?}", c.class, c.per_track, want_track);
            }
            for (g, w) in c.per_gene.iter().zip(&want_gene) {
                assert!(same(*g, *w), "class {} per gene: {:?} vs {:?}", c.class, c.per_gene, want_gene);
            }
        }
        // The edge cases named in the fixture's meta/json.
        let t1 = &result[1];
        assert_eq!(t1.per_track[t1.tracks.iter().position(|t| t == "C3").unwrap()], 2.0);
        let t10 = &result[2];
        assert!(t10.per_track[t10.tracks.iter().position(|t| t == "C5").unwrap()].is_nan());
    }

    #[test]
    fn constant_vector_rule() {
        for order in [SumOrder::Sequential, SumOrder::Pairwise] {
            // r = 0.9979487157886733 (Python, from the definition) -> 1 - r = 0.0021 at 4 decimals.
            assert_eq!(correlation_distance(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5], order), 0.0021);
            assert_eq!(correlation_distance(&[1.0, 1.0, 1.0], &[2.0, 4.0, 6.0], order), 2.0);
            assert_eq!(correlation_distance(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0], order), 2.0);
            assert!(correlation_distance(&[1.0, 1.0], &[3.0, 3.0], order).is_nan());
            assert_eq!(correlation_distance(&[1.0, 2.0], &[3.0, 1.0], order), 2.0);
        }
    }

    #[test]
    fn pairwise_sum_follows_numpys_blocking() {
        // Independent check in f64 arithmetic of the same blocking: 20 values -> 8 accumulators over
        // the first 16, combined as a tree, then the 4 remaining added in order.
        let a: Vec<f32> = (0..20).map(|i| 1.0 + (i as f32) * 1e-7).collect();
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        for j in 0..8 {
            r[j] += a[8 + j];
        }
        let mut want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[16..] {
            want += v;
        }
        assert_eq!(pairwise_sum(&a).to_bits(), want.to_bits());
        // Above 128 values the array is halved at a multiple of 8.
        let big: Vec<f64> = (0..300).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&big), (0..300).sum::<i32>() as f64);
    }

    #[test]
    fn summation_orders_follow_numpys_layout_of_the_class_slice() {
        // Per track, over 17 genes: a constant truth of 0.7 sums pairwise (8 accumulators of
        // 0.7 + 0.7 = 1.4, a tree to 11.2, then + 0.7) to exactly 11.9, whose mean is 0.7: the
        // centred truth is zero and the constant rule gives 2.0. Summed in order the mean
        // would be 0.6999999999999998 and the track a correlation near 0 instead.
        let sequential: f64 = (0..17).fold(0.0, |s, _| s + 0.7);
        assert_eq!(sequential / 17.0, 0.6999999999999998);
        let genes: Vec<String> = (0..17).map(|g| format!("g{g:02}")).collect();
        let tracks = vec!["a".to_string(), "b".to_string()];
        let classes = vec!["0".to_string(); 2];
        let truth: Vec<f64> = (0..17).flat_map(|g| [0.7, g as f64]).collect();
        let pred: Vec<f32> = (0..17).flat_map(|g| [(g % 5) as f32, (g * g) as f32]).collect();
        let c = &class_correlations(&TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes }).unwrap()[0];
        assert_eq!(c.per_track[0], 2.0);
        assert!(c.per_track[1] < 0.2, "{:?}", c.per_track);

        // Per gene, over a class of 10 tracks: 0.95 ten times summed in order is exactly 9.5
        // (mean 0.95, constant rule, 2.0); pairwise it would be 9.499999999999998.
        let in_order: f64 = (0..10).fold(0.0, |s, _| s + 0.95);
        assert_eq!(in_order, 9.5);
        assert_ne!(pairwise_sum(&[0.95f64; 10]), 9.5);
        let genes = vec!["g0".to_string(), "g1".to_string(), "g2".to_string()];
        let tracks: Vec<String> = (0..10).map(|t| format!("C{t}")).collect();
        let classes = vec!["T0".to_string(); 10];
        let truth: Vec<f64> = (0..3).flat_map(|g| (0..10).map(move |t| if g == 0 { 0.95 } else { (t * (g + 1)) as f64 })).collect();
        let pred: Vec<f32> = (0..30).map(|i| ((i * 7) % 11) as f32).collect();
        let c = &class_correlations(&TestSet { pred: &pred, truth: &truth, genes: &genes, tracks: &tracks, classes: &classes }).unwrap()[0];
        assert_eq!(c.per_gene[0], 2.0);
        assert_ne!(c.per_gene[1], 2.0);
    }

    #[test]
    fn inconsistent_inputs_are_errors() {
        let genes = vec!["g0".to_string(), "g1".to_string()];
        let tracks = vec!["a".to_string()];
        let classes = vec!["0".to_string()];
        let set = TestSet { pred: &[1.0], truth: &[1.0, 2.0], genes: &genes, tracks: &tracks, classes: &classes };
        assert_eq!(
            class_correlations(&set).unwrap_err().to_string(),
            "evaluation: the prediction has 1 values, expected 2 (2 genes x 1 tracks)"
        );
        let set = TestSet { pred: &[1.0, 2.0], truth: &[1.0, 2.0], genes: &genes, tracks: &tracks, classes: &[] };
        assert!(class_correlations(&set).unwrap_err().to_string().contains("0 class labels for 1 tracks"));
    }
}
