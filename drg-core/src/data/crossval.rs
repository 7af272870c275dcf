//! Train / validation / test splits (`docs/data.md`, "Cross-validation"), in the reference's two modes:
//! * **file mode**: each non-comment line lists the genes of one set; fold i uses set i for
//!   validation and set i+1 (mod S) for test; every other row trains;
//! * **integer mode**: `folds` contiguous slices of a numpy `RandomState(1010)` permutation,
//!   stratified by a 0/1 class per gene (any |y| ≥ cutoff); test = fold f, validation = f−1
//!   (the last fold when f = 0). Reproduces the reference's slicing formula exactly.

use std::collections::HashMap;
use std::path::Path;

use super::error::{DataError, DataResult};
use super::numpy_rng::Mt19937;

/// The seed the reference's `create_sets` passes to `np.random.seed`.
pub const REFERENCE_CV_SEED: u32 = 1010;

/// Row indices (into the aligned gene list) of each set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Rows of `0..n` in neither `a` nor `b`, ascending (numpy `delete(arange(n), append(a, b))`).
fn complement(n: usize, a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut used = vec![false; n];
    for &i in a.iter().chain(b) {
        used[i] = true;
    }
    (0..n).filter(|&i| !used[i]).collect()
}

/// The sets of a cross-validation file, as row indices of `genes` (ascending within a set).
/// Names that match no gene are ignored (the file may cover genes the data lacks), but a file
/// none of whose names match is an error.
pub fn read_cv_sets(path: &Path, genes: &[String]) -> DataResult<Vec<Vec<usize>>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
    let pos: HashMap<&str, usize> = genes.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect();
    let mut sets = Vec::new();
    let mut total = 0usize;
    for raw in text.lines() {
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let mut set: Vec<usize> = raw.split_whitespace().filter_map(|n| pos.get(n).copied()).collect();
        total += raw.split_whitespace().count();
        set.sort_unstable();
        set.dedup();
        sets.push(set);
    }
    if sets.is_empty() {
        return Err(DataError::file(path, "no sets (expected one line of whitespace-separated gene names per set)"));
    }
    if sets.iter().all(|s| s.is_empty()) {
        return Err(DataError::file(
            path,
            format!(
                "none of its {total} gene names is in the data (e.g. data genes: {})",
                genes.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(sets)
}

/// File mode: validation = set `fold`, test = set `fold+1 (mod S)`, train = all other rows.
pub fn split_from_sets(path: &Path, sets: &[Vec<usize>], n_genes: usize, fold: usize) -> DataResult<Split> {
    let s = sets.len();
    if fold >= s {
        return Err(DataError::file(path, format!("fold {fold} requested, but the file has {s} sets (folds 0..{})", s - 1)));
    }
    let (v, t) = (fold, (fold + 1) % s);
    for (which, i) in [("validation", v), ("test", t)] {
        if sets[i].is_empty() {
            return Err(DataError::file(path, format!("set {i} (the {which} set of fold {fold}) has no gene of the data")));
        }
    }
    let val = sets[v].clone();
    let test = sets[t].clone();
    Ok(Split { train: complement(n_genes, &test, &val), val, test })
}

/// Integer mode, exactly as the reference's `create_sets(n, folds, fold, seed=1010, Yclass)`.
/// `classes`: one class per row (e.g. 1 if any |y| ≥ cutoff); `None` puts all rows in one class.
pub fn split_integer(n: usize, folds: usize, fold: usize, classes: Option<&[u8]>) -> Result<Split, String> {
    if folds < 2 || fold >= folds {
        return Err(format!("cross-validation fold {fold} of {folds}: need folds ≥ 2 and 0 ≤ fold < folds"));
    }
    let ones = vec![1u8; n];
    let yclass = classes.unwrap_or(&ones);
    let permut = Mt19937::new(REFERENCE_CV_SEED).permutation(n);
    let mut labels: Vec<u8> = yclass.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let valfold = if fold == 0 { folds - 1 } else { fold - 1 };
    let (mut test, mut val) = (Vec::new(), Vec::new());
    let slice = |f: usize, tot: usize| -> (usize, usize) {
        let modulos = tot % folds;
        let added = if f < modulos { f } else { 0 };
        let start = ((f as f64 / folds as f64) * tot as f64) as usize + added;
        let end = (((f + 1) as f64 / folds as f64) * tot as f64) as usize + added + usize::from(f + 1 < modulos);
        (start.min(tot), end.min(tot).max(start.min(tot)))
    };
    for cla in labels {
        let members: Vec<usize> = permut.iter().copied().filter(|&i| yclass[i] == cla).collect();
        let tot = members.len();
        let (s, e) = slice(fold, tot);
        test.extend_from_slice(&members[s..e]);
        let (s, e) = slice(valfold, tot);
        val.extend_from_slice(&members[s..e]);
    }
    Ok(Split { train: complement(n, &test, &val), val, test })
}

/// The reference's stratification class: 1 where any |y| ≥ cutoff in the row, else 0.
pub fn cutoff_classes(rows: impl Iterator<Item = impl IntoIterator<Item = f32>>, cutoff: f32) -> Vec<u8> {
    rows.map(|r| u8::from(r.into_iter().any(|v| v.abs() >= cutoff))).collect()
}
