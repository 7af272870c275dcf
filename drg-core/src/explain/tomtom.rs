//! Comparing motifs in the style of Tomtom (Gupta et al. 2007): two `(4, w)` matrices are
//! aligned at every offset with at least `min_overlap` overlapping positions, on both strands of
//! the query; each overlapping column pair is scored by the Pearson correlation of its four
//! values (Tomtom's "PCC" column comparison), and an alignment scores the mean over its columns.
//! The best alignment's score is the similarity. Tomtom turns column scores into p-values against
//! a motif database; here the match threshold is a similarity, checked for selectivity against
//! random motifs by the tests that use it.

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
}
