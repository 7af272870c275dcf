//! Comparing motifs in the style of Tomtom (Gupta et al. 2007): two `(4, w)` matrices are
//! aligned at every offset with at least `min_overlap` overlapping positions, on both strands of
//! the query; each overlapping column pair is scored by the Pearson correlation of its four
//! values (Tomtom's "PCC" column comparison), and an alignment scores the mean over its columns.
//! The best alignment's score is the similarity.
//!
//! [`best_match`] adds Tomtom's null model: against a database of target motifs, the score of
//! query column `i` is distributed as its scores against every column of every target (the
//! background), alignments sum independent column scores (so the null of an alignment is the
//! convolution of its columns' distributions), the best offset's p-value is corrected for the
//! number of offsets tried, and the best target's for the number of targets.

/// The best alignment of a query against a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// Mean column Pearson correlation over the overlap, in [-1, 1].
    pub similarity: f64,
    /// Target position of the query's first column (negative: the query starts before it).
    pub offset: isize,
    /// Whether the query was reverse-complemented.
    pub reverse: bool,
    pub overlap: usize,
}

/// The reverse complement of a `(4, w)` matrix (A, C, G, T rows).
pub fn reverse_complement(m: &[f32], w: usize) -> Vec<f32> {
    let mut out = vec![0f32; 4 * w];
    for c in 0..4 {
        for j in 0..w {
            out[(3 - c) * w + (w - 1 - j)] = m[c * w + j];
        }
    }
    out
}

/// Pearson correlation of column `i` of `a` and column `j` of `b`; 0 when either is constant.
fn column_pcc(a: &[f32], wa: usize, i: usize, b: &[f32], wb: usize, j: usize) -> f64 {
    let x: Vec<f64> = (0..4).map(|c| f64::from(a[c * wa + i])).collect();
    let y: Vec<f64> = (0..4).map(|c| f64::from(b[c * wb + j])).collect();
    let (mx, my) = (x.iter().sum::<f64>() / 4.0, y.iter().sum::<f64>() / 4.0);
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for c in 0..4 {
        xy += (x[c] - mx) * (y[c] - my);
        xx += (x[c] - mx) * (x[c] - mx);
        yy += (y[c] - my) * (y[c] - my);
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    }
}

/// The best alignment of `query` (width `wq`) against `target` (width `wt`) over offsets with at
/// least `min_overlap` columns (capped at the shorter width), both strands of the query.
pub fn compare(query: &[f32], wq: usize, target: &[f32], wt: usize, min_overlap: usize) -> Alignment {
    let min_overlap = min_overlap.min(wq).min(wt).max(1);
    let rc = reverse_complement(query, wq);
    let mut best = Alignment { similarity: f64::NEG_INFINITY, offset: 0, reverse: false, overlap: 0 };
    for (reverse, q) in [(false, query), (true, rc.as_slice())] {
        for offset in -(wq as isize - min_overlap as isize)..=(wt as isize - min_overlap as isize) {
            let cols: Vec<(usize, usize)> = (0..wq)
                .filter_map(|i| {
                    let j = offset + i as isize;
                    (j >= 0 && (j as usize) < wt).then_some((i, j as usize))
                })
                .collect();
            if cols.len() < min_overlap {
                continue;
            }
            let s = cols.iter().map(|&(i, j)| column_pcc(q, wq, i, target, wt, j)).sum::<f64>() / cols.len() as f64;
            if s > best.similarity {
                best = Alignment { similarity: s, offset, reverse, overlap: cols.len() };
            }
        }
    }
    best
}

/// Column scores are binned at this width for the null distributions (101 bins over [-1, 1]).
const BIN: f64 = 0.02;
const BINS: usize = 101;

fn bin(score: f64) -> usize {
    (((score + 1.0) / BIN).round() as usize).min(BINS - 1)
}

/// A query's best match in a database of targets with Tomtom's p-values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DatabaseMatch {
    /// Index of the best target.
    pub target: usize,
    pub alignment: Alignment,
    /// The best target's p-value: the best offset's, corrected for the offsets tried.
    pub p_target: f64,
    /// `p_target` corrected for the number of targets, `1 − (1 − p)^n`: the chance that a query
    /// whose columns score like the background matches some target this well.
    pub p_database: f64,
}

/// The survival function of the summed binned column scores of query columns `a..b` (`b − a ≥
/// min_overlap`), from the per-column background distributions `columns`: `tails[(a, b)][s]` =
/// P(sum ≥ s), sums as bin indices.
fn range_tails(columns: &[Vec<f64>], min_overlap: usize) -> std::collections::HashMap<(usize, usize), Vec<f64>> {
    let w = columns.len();
    let mut tails = std::collections::HashMap::new();
    for a in 0..=w - min_overlap {
        let mut dist = vec![1.0];
        for b in a + 1..=w {
            let col = &columns[b - 1];
            let mut next = vec![0.0; dist.len() + BINS - 1];
            for (i, &p) in dist.iter().enumerate().filter(|(_, p)| **p > 0.0) {
                for (j, &q) in col.iter().enumerate() {
                    next[i + j] += p * q;
                }
            }
            dist = next;
            if b - a >= min_overlap {
                let mut tail = dist.clone();
                for s in (0..tail.len() - 1).rev() {
                    tail[s] += tail[s + 1];
                }
                tails.insert((a, b), tail);
            }
        }
    }
    tails
}

/// The best match of `query` (width `wq`) among `targets` with Tomtom's p-values (module docs),
/// alignments of at least `min_overlap` columns on both strands; `None` for an empty database.
pub fn best_match(query: &[f32], wq: usize, targets: &[(Vec<f32>, usize)], min_overlap: usize) -> Option<DatabaseMatch> {
    if targets.is_empty() {
        return None;
    }
    let rc = reverse_complement(query, wq);
    let mut best: Option<DatabaseMatch> = None;
    let strands = [(false, query), (true, rc.as_slice())];
    let nulls: Vec<_> = strands
        .iter()
        .map(|(_, q)| {
            let columns: Vec<Vec<f64>> = (0..wq)
                .map(|i| {
                    let mut h = vec![0.0; BINS];
                    let mut n = 0usize;
                    for (t, wt) in targets {
                        for j in 0..*wt {
                            h[bin(column_pcc(q, wq, i, t, *wt, j))] += 1.0;
                            n += 1;
                        }
                    }
                    h.iter_mut().for_each(|v| *v /= n as f64);
                    h
                })
                .collect();
            columns
        })
        .collect();
    for (k, (target, wt)) in targets.iter().enumerate() {
        let min_overlap = min_overlap.min(wq).min(*wt).max(1);
        let (mut p_min, mut tried, mut best_here) = (f64::INFINITY, 0usize, None);
        for ((reverse, q), columns) in strands.iter().zip(&nulls) {
            let tails = range_tails(columns, min_overlap);
            for offset in -(wq as isize - min_overlap as isize)..=(*wt as isize - min_overlap as isize) {
                let a = (-offset).max(0) as usize;
                let b = wq.min((*wt as isize - offset) as usize);
                if b < a + min_overlap {
                    continue;
                }
                tried += 1;
                let scores: Vec<f64> = (a..b).map(|i| column_pcc(q, wq, i, target, *wt, (offset + i as isize) as usize)).collect();
                let sum: usize = scores.iter().map(|&s| bin(s)).sum();
                let p = tails[&(a, b)].get(sum).copied().unwrap_or(0.0);
                if p < p_min {
                    p_min = p;
                    let similarity = scores.iter().sum::<f64>() / scores.len() as f64;
                    best_here = Some(Alignment { similarity, offset, reverse: *reverse, overlap: b - a });
                }
            }
        }
        let Some(alignment) = best_here else { continue };
        let p_target = 1.0 - (1.0 - p_min).powi(tried as i32);
        if best.is_none_or(|b| p_target < b.p_target) {
            best = Some(DatabaseMatch { target: k, alignment, p_target, p_database: 0.0 });
        }
    }
    best.map(|mut m| {
        m.p_database = 1.0 - (1.0 - m.p_target).powi(targets.len() as i32);
        m
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onehot(s: &str) -> Vec<f32> {
        let w = s.len();
        let mut m = vec![0f32; 4 * w];
        for (j, b) in s.bytes().enumerate() {
            m["ACGT".bytes().position(|c| c == b).unwrap() * w + j] = 1.0;
        }
        m
    }

    #[test]
    fn finds_shifted_and_reverse_complemented_copies() {
        let target = onehot("TTGACGTCAGGA");
        let a = compare(&onehot("ACGTCAG"), 7, &target, 12, 5);
        assert_eq!((a.similarity, a.offset, a.reverse, a.overlap), (1.0, 3, false, 7));
        // CTGACGT is the reverse complement of ACGTCAG
        let b = compare(&onehot("CTGACGT"), 7, &target, 12, 5);
        assert_eq!((b.similarity, b.offset, b.reverse), (1.0, 3, true));
        // an unrelated motif stays well below
        let c = compare(&onehot("CCCCCCC"), 7, &target, 12, 5);
        assert!(c.similarity < 0.5, "{c:?}");
        assert_eq!(reverse_complement(&reverse_complement(&target, 12), 12), target);
    }

    /// A planted copy in a database of random motifs is found with the p-value that the
    /// background predicts (4^-8 per offset for eight matching one-hot columns, corrected for
    /// offsets and targets), and random queries against the same database get p-values no smaller
    /// than a null model allows (at most 12.5 % at or below 0.05, at least 30 % above 0.5).
    #[test]
    fn database_p_values_single_out_real_copies() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut random = |w: usize| -> Vec<f32> {
            let mut m = vec![0f32; 4 * w];
            (0..w).for_each(|j| m[rng.gen_range(0..4) * w + j] = 1.0);
            m
        };
        let mut db: Vec<(Vec<f32>, usize)> = (0..30).map(|_| (random(12), 12)).collect();
        db[17] = (onehot("GGTTGACGTCAG"), 12);
        let hit = best_match(&onehot("TGACGTCA"), 8, &db, 6).unwrap();
        assert_eq!((hit.target, hit.alignment.similarity, hit.alignment.offset), (17, 1.0, 3));
        // Eight matching one-hot columns: about 4^-8 per offset, 18 offsets (two strands, overlap
        // at least 6), then 30 targets.
        let per_offset = 0.25f64.powi(8);
        assert!(hit.p_target > 9.0 * per_offset && hit.p_target < 36.0 * per_offset, "{hit:?}");
        assert!((hit.p_database - (1.0 - (1.0 - hit.p_target).powi(30))).abs() < 1e-12, "{hit:?}");
        assert!(hit.p_database < 0.01, "{hit:?}");
        let null: Vec<f64> = (0..200).map(|_| best_match(&random(8), 8, &db, 6).unwrap().p_database).collect();
        let small = null.iter().filter(|&&p| p <= 0.05).count();
        let large = null.iter().filter(|&&p| p > 0.5).count();
        eprintln!("random queries: {small} of 200 at p <= 0.05, {large} above 0.5");
        assert!(small <= 25, "{small} of 200 random queries at p <= 0.05");
        assert!(large >= 60, "{null:?}");
        assert!(best_match(&onehot("ACGT"), 4, &[], 3).is_none());
    }
}
