//! [`SeqSet`]: the one-hot sequences of one model input, in the layout the model consumes.

use std::path::PathBuf;

use super::error::{DataError, DataResult};
use super::packed::{column_base, PackedBases};

/// One-hot sequences of one input, one row per gene.
///
/// The sequences are held as bases, 3 bits per position ([`PackedBases`]); a row expands into
/// the reference's channel-first float layout `(4, L)` (channel order A, C, G, T), what the
/// reference's loader produces after transposing the `(N, L, 4)` file layout, only when a batch
/// is built. An all-zero column is an `N` base or padding.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqSet {
    /// The file the sequences came from (for messages).
    pub source: PathBuf,
    /// Gene names, one per row; unique.
    pub names: Vec<String>,
    /// Sequence length L.
    pub length: usize,
    /// The rows' bases.
    pub bases: PackedBases,
    /// Metadata: whether the model's stem should also scan the reverse complement of this input.
    /// Batching never flips sequences; the stem does (`docs/data.md`, "Reverse complement").
    pub reverse_complement: bool,
}

impl SeqSet {
    /// Number of sequences N.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// A set from channel-first one-hot values `(N, 4, L)` (tests, in-memory data); an error
    /// names the first position that is not one-hot.
    pub fn from_channel_first(
        source: PathBuf,
        names: Vec<String>,
        length: usize,
        values: &[f32],
        reverse_complement: bool,
    ) -> DataResult<SeqSet> {
        let n = names.len();
        if values.len() != n * 4 * length {
            return Err(DataError::file(&source, format!("{} values for {n} sequences of 4 x {length}", values.len())));
        }
        let mut bases = PackedBases::with_capacity(length, n);
        for (i, row) in values.chunks_exact((4 * length).max(1)).take(n).enumerate() {
            let col = |p: usize| [0, 1, 2, 3].map(|c| f64::from(row[c * length + p]));
            let mut positions = Vec::with_capacity(length);
            for p in 0..length {
                let base = column_base(col(p))
                    .map_err(|_| DataError::file(&source, format!("gene '{}' position {p} holds {:?}, not one-hot", names[i], col(p))))?;
                positions.push(base);
            }
            bases.push_row(positions);
        }
        Ok(SeqSet { source, names, length, bases, reverse_complement })
    }

    /// One sequence expanded, `(4, L)` channel-first.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0.0; 4 * self.length];
        self.bases.expand_row(i, &mut out);
        out
    }

    /// A new set holding rows `idx` in that order.
    pub fn select(&self, idx: &[usize]) -> SeqSet {
        SeqSet {
            source: self.source.clone(),
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            length: self.length,
            bases: self.bases.select(idx),
            reverse_complement: self.reverse_complement,
        }
    }

    /// Sorts the rows by gene name (the reference sorts every input by name) and rejects
    /// duplicate names, which would make the alignment by name ambiguous.
    pub fn sorted_by_name(self) -> DataResult<SeqSet> {
        let order = sorted_unique_order(&self.names)
            .map_err(|g| DataError::file(&self.source, format!("gene name '{g}' occurs more than once")))?;
        if order.iter().enumerate().all(|(k, &i)| k == i) {
            return Ok(self);
        }
        Ok(self.select(&order))
    }
}

/// The permutation that sorts `names`; `Err(name)` for the first duplicated name.
pub(crate) fn sorted_unique_order(names: &[String]) -> Result<Vec<usize>, String> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| names[a].cmp(&names[b]));
    for w in order.windows(2) {
        if names[w[0]] == names[w[1]] {
            return Err(names[w[0]].clone());
        }
    }
    Ok(order)
}

/// Checks that an input has a length the model was compiled for; the message lists those lengths.
pub fn check_length(input: &SeqSet, compiled_lengths: &[usize]) -> DataResult<()> {
    if compiled_lengths.contains(&input.length) {
        return Ok(());
    }
    let list: Vec<String> = compiled_lengths.iter().map(|l| l.to_string()).collect();
    Err(DataError::file(
        &input.source,
        format!(
            "sequences are {} bp long, but the model was compiled for length {} only; \
             re-encode the input to one of these lengths or compile the model for {}",
            input.length,
            list.join(" or "),
            input.length
        ),
    ))
}
