//! FASTA input, one-hot encoded on the fly with the rules of the reference's writer
//! (`docs/data.md`, "FASTA"): upper-cased, A/C/G/T one-hot, every other letter (N, U, IUPAC) an
//! all-zero column, left-aligned, zero-padded (or cut) to one length. Records whose sequence is
//! ≤ 10 nt or reads `Sequence unavailable` are skipped, as the reference does.
//!
//! Unlike the reference, which reads only the first line after a header, a sequence may span
//! several lines (standard FASTA); single-line files read identically.

use std::path::Path;

use super::error::{DataError, DataResult};
use super::packed::PackedBases;
use super::seqset::SeqSet;

/// The reference skips sequences of this many nucleotides or fewer.
pub const MIN_FASTA_LENGTH: usize = 10;

/// One FASTA record: the header without `>` (trimmed) and the sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct FastaRecord {
    pub name: String,
    pub sequence: String,
}

/// Parses FASTA text; line numbers in errors are 1-based.
pub fn parse_fasta(path: &Path, text: &str) -> DataResult<Vec<FastaRecord>> {
    let mut records: Vec<FastaRecord> = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('>') {
            let name = h.trim();
            if name.is_empty() {
                return Err(DataError::line(path, k + 1, "FASTA header without a name"));
            }
            records.push(FastaRecord { name: name.to_string(), sequence: String::new() });
        } else {
            let rec = records
                .last_mut()
                .ok_or_else(|| DataError::line(path, k + 1, "not a FASTA file: sequence text before the first '>' header"))?;
            rec.sequence.push_str(line);
        }
    }
    if records.is_empty() {
        return Err(DataError::file(path, "no FASTA records (expected '>name' lines followed by sequence lines)"));
    }
    Ok(records)
}

/// Reads a FASTA file into one-hot sequences sorted by name. `length`: pad/cut every sequence to
/// this length; `None` uses the longest sequence (the reference's default).
pub fn read_fasta(path: &Path, length: Option<usize>) -> DataResult<SeqSet> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
    let records: Vec<FastaRecord> = parse_fasta(path, &text)?
        .into_iter()
        .filter(|r| r.sequence != "Sequence unavailable" && r.sequence.len() > MIN_FASTA_LENGTH)
        .collect();
    if records.is_empty() {
        return Err(DataError::file(path, format!("no FASTA record longer than {MIN_FASTA_LENGTH} nt")));
    }
    let l = length.unwrap_or_else(|| records.iter().map(|r| r.sequence.len()).max().unwrap_or(0));
    if l == 0 {
        return Err(DataError::file(path, "sequence length 0"));
    }
    let mut bases = PackedBases::with_capacity(l, records.len());
    for r in &records {
        let seq = r.sequence.as_bytes();
        // Left-aligned: bases beyond the sequence are padding (empty positions).
        bases.push_row((0..l).map(|p| seq.get(p).and_then(|&b| base_channel(b)).map(|c| c as u8)));
    }
    let names = records.into_iter().map(|r| r.name).collect();
    SeqSet { source: path.to_path_buf(), names, length: l, bases, reverse_complement: false }.sorted_by_name()
}

/// Channel (A,C,G,T) of a base, case-insensitive; `None` for every other letter.
pub fn base_channel(b: u8) -> Option<usize> {
    match b.to_ascii_uppercase() {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' => Some(3),
        _ => None,
    }
}
