//! Aligning inputs and outputs by gene name (`docs/data.md`, "Alignment by gene name"): the rows kept are the
//! intersection of every input's and every output file's names, in ascending lexicographic
//! order, and every input and matrix is reordered to exactly those rows.

use std::collections::HashMap;

use super::error::{DataError, DataResult};
use super::matrix::Matrix;
use super::seqset::SeqSet;

/// The sorted names present in every list.
pub fn intersect_sorted(lists: &[&[String]]) -> Vec<String> {
    let Some((first, rest)) = lists.split_first() else { return Vec::new() };
    let mut counts: HashMap<&str, usize> = first.iter().map(|n| (n.as_str(), 1)).collect();
    for list in rest {
        for n in list.iter() {
            if let Some(c) = counts.get_mut(n.as_str()) {
                *c += 1;
            }
        }
    }
    let mut out: Vec<String> = counts.into_iter().filter(|&(_, c)| c == lists.len()).map(|(n, _)| n.to_string()).collect();
    out.sort();
    out
}

fn index_of(names: &[String], keep: &[String]) -> Vec<usize> {
    let pos: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    keep.iter().map(|n| pos[n.as_str()]).collect()
}

/// Restricts and reorders `inputs` and `outputs` to their common genes; returns those genes.
/// Fails with a message showing a few names of each file if they share no gene.
pub fn align_by_name(inputs: &mut [SeqSet], outputs: &mut [Matrix]) -> DataResult<Vec<String>> {
    let mut lists: Vec<&[String]> = inputs.iter().map(|s| s.names.as_slice()).collect();
    lists.extend(outputs.iter().map(|m| m.genes.as_slice()));
    let genes = intersect_sorted(&lists);
    if genes.is_empty() {
        let files: Vec<String> = inputs
            .iter()
            .map(|s| (s.source.display().to_string(), &s.names))
            .chain(outputs.iter().map(|m| (m.file.display().to_string(), &m.genes)))
            .map(|(f, n)| format!("{f} (e.g. {})", n.iter().take(2).cloned().collect::<Vec<_>>().join(", ")))
            .collect();
        return Err(DataError::Other(format!("no gene name is shared by all of: {}", files.join("; "))));
    }
    for s in inputs.iter_mut() {
        if s.names != genes {
            *s = s.select(&index_of(&s.names, &genes));
        }
    }
    for m in outputs.iter_mut() {
        if m.genes != genes {
            *m = m.select(&index_of(&m.genes, &genes));
        }
    }
    Ok(genes)
}
