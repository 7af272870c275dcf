//! [`SeqSet`]: the one-hot sequences of one model input, in the layout the model consumes.

use std::path::PathBuf;

use super::error::{DataError, DataResult};

/// One-hot sequences of one input, one row per gene.
///
/// `data` is float32 in the reference's channel-first layout `(N, 4, L)` (channel order A, C, G, T),
/// i.e. what the reference's loader produces after transposing the `(N, L, 4)` file layout. An
/// all-zero column is an `N` base or padding.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqSet {
    /// The file the sequences came from (for messages).
    pub source: PathBuf,
    /// Gene names, one per row; unique.
    pub names: Vec<String>,
    /// Sequence length L.
    pub length: usize,
    /// `(N, 4, L)` row-major one-hot values.
    pub data: Vec<f32>,
    /// Metadata: whether the model's stem should also scan the reverse complement of this input.
    /// Batching never flips sequences; the stem does (drg-behaviour.md §2.1 P1).
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

    /// Values of one sequence, `(4, L)`.
    pub fn row(&self, i: usize) -> &[f32] {
        let w = 4 * self.length;
        &self.data[i * w..(i + 1) * w]
    }

    /// A new set holding rows `idx` in that order.
    pub fn select(&self, idx: &[usize]) -> SeqSet {
        let mut data = Vec::with_capacity(idx.len() * 4 * self.length);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        SeqSet {
            source: self.source.clone(),
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            length: self.length,
            data,
            reverse_complement: self.reverse_complement,
        }
    }

    /// Sorts the rows by gene name (the reference sorts every input by name) and rejects
    /// duplicate names, which would make the alignment by name ambiguous.
    pub fn sorted_by_name(self) -> DataResult<SeqSet> {
        let order = sorted_unique_order(&self.names).map_err(|g| {
            DataError::file(&self.source, format!("gene name '{g}' occurs more than once"))
        })?;
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
