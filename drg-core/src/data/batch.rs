//! Batching (`docs/data.md`, "Batches"): index batches over one set, shuffled with a seeded RNG
//! every epoch (training, and the reference's validation loader) or sequential (prediction),
//! with the reference's `drop_last = (N mod batch < 10)` rule, plus gathering the rows of a batch
//! into contiguous host tensors. Reverse complement is the stem's job, so nothing is flipped here.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::Dataset;

/// The reference's rule: the incomplete last batch is dropped when it has fewer than 10 rows
/// (with batch 8 it is therefore always dropped).
pub fn reference_drop_last(n: usize, batch_size: usize) -> bool {
    n % batch_size < 10
}

/// Yields batches of row indices over a fixed set of rows.
#[derive(Debug, Clone)]
pub struct Batcher {
    rows: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    rng: Option<StdRng>,
}

impl Batcher {
    /// Shuffles `rows` anew each epoch with an RNG seeded by `seed`; applies the reference's
    /// drop rule.
    pub fn shuffled(rows: &[usize], batch_size: usize, seed: u64) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batcher {
            rows: rows.to_vec(),
            batch_size,
            drop_last: reference_drop_last(rows.len(), batch_size),
            rng: Some(StdRng::seed_from_u64(seed)),
        }
    }

    /// The reference's validation loader: batch `min(batch_size, rows)`, also shuffled, same
    /// drop rule (so up to `rows mod batch` rows are left out of each validation pass).
    pub fn validation(rows: &[usize], batch_size: usize, seed: u64) -> Self {
        Self::shuffled(rows, batch_size.min(rows.len()).max(1), seed)
    }

    /// Rows in the given order, every row kept (prediction: `batched_predict` in the reference).
    pub fn sequential(rows: &[usize], batch_size: usize) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batcher { rows: rows.to_vec(), batch_size, drop_last: false, rng: None }
    }

    /// Overrides the drop rule.
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of rows the batcher covers per epoch (dropped rows excluded).
    pub fn rows_per_epoch(&self) -> usize {
        let n = self.rows.len();
        if self.drop_last {
            n - n % self.batch_size
        } else {
            n
        }
    }

    /// The batches of the next epoch (a fresh shuffle for a shuffled batcher).
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        let mut order = self.rows.clone();
        if let Some(rng) = self.rng.as_mut() {
            order.shuffle(rng);
        }
        let keep = if self.drop_last { order.len() - order.len() % self.batch_size } else { order.len() };
        order[..keep].chunks(self.batch_size).map(<[usize]>::to_vec).collect()
    }
}

impl Dataset {
    /// Input `k` for `rows`, as `(B, 4, L)` row-major f32.
    pub fn gather_input(&self, k: usize, rows: &[usize]) -> Vec<f32> {
        let mut out = vec![0.0; rows.len() * 4 * self.inputs[k].length];
        self.gather_input_into(k, rows, &mut out);
        out
    }

    /// [`Self::gather_input`] into `out` (`rows.len() · 4 · L` values), e.g. a buffer that
    /// becomes a tensor without another copy. Panics if `out` has another length.
    pub fn gather_input_into(&self, k: usize, rows: &[usize], out: &mut [f32]) {
        let s = &self.inputs[k];
        let w = 4 * s.length;
        assert_eq!(out.len(), rows.len() * w, "gather_input_into: buffer of the wrong length");
        for (&i, dst) in rows.iter().zip(out.chunks_exact_mut(w.max(1))) {
            s.bases.expand_row(i, dst);
        }
    }

    /// Every input for `rows`.
    pub fn gather_inputs(&self, rows: &[usize]) -> Vec<Vec<f32>> {
        (0..self.inputs.len()).map(|k| self.gather_input(k, rows)).collect()
    }

    /// Targets of every output file for `rows`, each `(B, T_i)` row-major f32.
    pub fn gather_targets(&self, rows: &[usize]) -> Vec<Vec<f32>> {
        self.outputs
            .iter()
            .map(|m| {
                let mut out = Vec::with_capacity(rows.len() * m.n_tracks());
                for &i in rows {
                    out.extend_from_slice(m.row(i));
                }
                out
            })
            .collect()
    }
}
