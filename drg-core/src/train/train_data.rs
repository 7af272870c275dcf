//! What the trainer reads: a borrowed, host-side view of aligned inputs, outputs and the split.
//!
//! The view borrows (real inputs are N × 4 × 40000 floats, gigabytes: never copied whole); batches
//! are gathered from it row by row. [`TrainData::check_against`] compares it with a model's
//! [`ModelSpec`] so that a mismatch is one clear error instead of a panic inside the model.

use anyhow::ensure;

use crate::model::ModelSpec;

/// One sequence input: `n × channels × length` f32 in C order (channel-first, the reference's
/// layout after its transpose).
#[derive(Debug, Clone, Copy)]
pub struct InputData<'a> {
    /// The file it came from, for messages.
    pub source: &'a str,
    pub values: &'a [f32],
    pub channels: usize,
    pub length: usize,
}

/// One output matrix (one model head): `n × tracks` f32 in C order.
#[derive(Debug, Clone, Copy)]
pub struct OutputData<'a> {
    pub source: &'a str,
    pub values: &'a [f32],
    /// Track names as the evaluation files print them (with `_<tag>` suffixes where the reference
    /// adds them).
    pub tracks: &'a [String],
    /// Evaluation class of every track.
    pub classes: &'a [String],
}

impl OutputData<'_> {
    pub fn width(&self) -> usize {
        self.tracks.len()
    }
}

/// Aligned data of one run: row `i` of every input and output belongs to gene `genes[i]`.
#[derive(Debug, Clone)]
pub struct TrainData<'a> {
    pub genes: &'a [String],
    pub inputs: Vec<InputData<'a>>,
    pub outputs: Vec<OutputData<'a>>,
    /// Row indices of the training, validation and test sets (test in ascending name order).
    pub train: &'a [usize],
    pub val: &'a [usize],
    pub test: &'a [usize],
}

impl<'a> TrainData<'a> {
    pub fn n_rows(&self) -> usize {
        self.genes.len()
    }

    /// Widths of the outputs, in head order.
    pub fn widths(&self) -> Vec<usize> {
        self.outputs.iter().map(OutputData::width).collect()
    }

    /// Checks sizes and index lists, and that the data fits the model `spec`.
    pub fn check_against(&self, spec: &ModelSpec) -> anyhow::Result<()> {
        let n = self.n_rows();
        ensure!(self.inputs.len() == spec.inputs.len(), "model {} takes {} input(s), the data has {}", spec.name, spec.inputs.len(), self.inputs.len());
        ensure!(self.outputs.len() == spec.outputs.len(), "model {} has {} output(s), the data has {} output file(s)", spec.name, spec.outputs.len(), self.outputs.len());
        for (x, s) in self.inputs.iter().zip(spec.inputs) {
            ensure!(
                x.channels == s.channels && x.length == s.length,
                "{}: sequences are {} x {} (channels x length), model {} input '{}' needs {} x {}",
                x.source,
                x.channels,
                x.length,
                spec.name,
                s.name,
                s.channels,
                s.length
            );
            ensure!(x.values.len() == n * x.channels * x.length, "{}: {} values for {} sequences of {} x {}", x.source, x.values.len(), n, x.channels, x.length);
        }
        for (y, s) in self.outputs.iter().zip(spec.outputs) {
            ensure!(y.width() == s.width, "{}: {} tracks, model {} output '{}' predicts {}", y.source, y.width(), spec.name, s.name, s.width);
            ensure!(y.values.len() == n * y.width(), "{}: {} values for {} genes x {} tracks", y.source, y.values.len(), n, y.width());
            ensure!(y.classes.len() == y.width(), "{}: {} class labels for {} tracks", y.source, y.classes.len(), y.width());
        }
        for (what, rows) in [("training", self.train), ("validation", self.val), ("test", self.test)] {
            if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
                anyhow::bail!("{what} set: row {bad} does not exist ({n} genes)");
            }
        }
        Ok(())
    }

    /// Input `k` of `rows`, `(rows.len(), channels, length)` in C order.
    pub fn gather_input(&self, k: usize, rows: &[usize]) -> Vec<f32> {
        gather_rows(self.inputs[k].values, self.inputs[k].channels * self.inputs[k].length, rows)
    }

    /// Targets of every head for `rows`, concatenated per row (`rows.len() × ΣT`), the layout of
    /// the reference's concatenated predictions.
    pub fn gather_targets_concat(&self, rows: &[usize]) -> Vec<f32> {
        let total: usize = self.widths().iter().sum();
        let mut out = Vec::with_capacity(rows.len() * total);
        for &r in rows {
            for y in &self.outputs {
                let w = y.width();
                out.extend_from_slice(&y.values[r * w..(r + 1) * w]);
            }
        }
        out
    }

    /// Targets of head `h` for `rows`, `(rows.len(), T_h)`.
    pub fn gather_target(&self, h: usize, rows: &[usize]) -> Vec<f32> {
        gather_rows(self.outputs[h].values, self.outputs[h].width(), rows)
    }

    /// Track names of every head, concatenated.
    pub fn track_names(&self) -> Vec<String> {
        self.outputs.iter().flat_map(|y| y.tracks.iter().cloned()).collect()
    }

    /// Class labels of every head's tracks, concatenated.
    pub fn track_classes(&self) -> Vec<String> {
        self.outputs.iter().flat_map(|y| y.classes.iter().cloned()).collect()
    }

    /// Names of `rows`.
    pub fn gene_names(&self, rows: &[usize]) -> Vec<String> {
        rows.iter().map(|&r| self.genes[r].clone()).collect()
    }
}

/// Rows of a C-order matrix with `width` columns.
fn gather_rows(values: &[f32], width: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        out.extend_from_slice(&values[r * width..(r + 1) * width]);
    }
    out
}
