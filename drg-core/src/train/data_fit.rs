//! How the trainer reads a [`Dataset`]: checked against a model's [`ModelSpec`] first, so that a
//! mismatch is one clear error instead of a panic inside the model; then the helpers that view the
//! outputs as one matrix with the heads side by side (the layout of the reference's concatenated
//! predictions, `_pred.npz` and the evaluation).

use anyhow::ensure;

use crate::data::Dataset;
use crate::model::{ModelSpec, WidthMismatch};

/// Checks sizes and the split of `data`, and that it fits the model `spec`.
pub fn check_fits(data: &Dataset, spec: &ModelSpec) -> anyhow::Result<()> {
    let n = data.n_genes();
    ensure!(
        data.inputs.len() == spec.inputs.len(),
        "model {} takes {} input(s), the data has {}",
        spec.name,
        spec.inputs.len(),
        data.inputs.len()
    );
    ensure!(
        data.outputs.len() == spec.outputs.len(),
        "model {} has {} output(s), the data has {} output file(s)",
        spec.name,
        spec.outputs.len(),
        data.outputs.len()
    );
    for (x, s) in data.inputs.iter().zip(spec.inputs) {
        let src = x.source.display();
        ensure!(
            s.channels == 4 && x.length == s.length,
            "{src}: sequences are 4 x {} (channels x length), model {} input '{}' needs {} x {}",
            x.length,
            spec.name,
            s.name,
            s.channels,
            s.length
        );
        ensure!(
            x.len() == n && x.bases.len() == n && x.bases.length() == x.length,
            "{src}: {} sequences of {} positions for {n} genes of length {}",
            x.bases.len(),
            x.bases.length(),
            x.length
        );
    }
    check_widths(data, spec)?;
    for (k, y) in data.outputs.iter().enumerate() {
        let src = y.file.display();
        ensure!(y.values.len() == n * y.n_tracks(), "{src}: {} values for {n} genes x {} tracks", y.values.len(), y.n_tracks());
        for (what, per_track) in [("class labels", data.track_classes.get(k)), ("track names", data.eval_track_names.get(k))] {
            let got = per_track.map_or(0, Vec::len);
            ensure!(got == y.n_tracks(), "{src}: {got} {what} for {} tracks", y.n_tracks());
        }
    }
    for (what, rows) in [("training", &data.split.train), ("validation", &data.split.val), ("test", &data.split.test)] {
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            anyhow::bail!("{what} set: row {bad} does not exist ({n} genes)");
        }
    }
    Ok(())
}

/// Checks the data's track counts against the model's outputs: a fixed width (`ex[88]`) must
/// match its file, and outputs served by one shared head must have equal widths; the error
/// names the files and their widths.
pub fn check_widths(data: &Dataset, spec: &ModelSpec) -> anyhow::Result<()> {
    let widths = data.n_tracks();
    let Some(mismatch) = spec.width_mismatch(&widths) else { return Ok(()) };
    let file = |i: usize| data.outputs[i].file.display();
    let name = |i: usize| spec.outputs[i].name;
    anyhow::bail!(match mismatch {
        WidthMismatch::Count => format!("model {} has {} output(s), the data has {} output file(s)", spec.name, spec.outputs.len(), widths.len()),
        WidthMismatch::Empty { output } => format!("{}: no tracks (columns of values)", file(output)),
        WidthMismatch::Fixed { output, declared } => format!(
            "{}: {} tracks, but model {} declares output '{}' with {declared} (`{}[{declared}]`; write `{}[_]` in its declaration to take the data's track count)",
            file(output),
            widths[output],
            spec.name,
            name(output),
            name(output),
            name(output)
        ),
        WidthMismatch::Unequal { first, other } => format!(
            "{} has {} tracks and {} has {}: model {} predicts outputs '{}' and '{}' with one head per trunk shared by all outputs (`shared`), so they need the same number of tracks",
            file(first),
            widths[first],
            file(other),
            widths[other],
            spec.name,
            name(first),
            name(other)
        ),
    })
}

/// Appends `rows × ΣT` values from per-head `(rows, T_h)` matrices, heads side by side per row.
pub fn append_side_by_side(heads: &[Vec<f32>], widths: &[usize], rows: usize, out: &mut Vec<f32>) {
    out.reserve(rows * widths.iter().sum::<usize>());
    for r in 0..rows {
        for (h, &w) in heads.iter().zip(widths) {
            out.extend_from_slice(&h[r * w..(r + 1) * w]);
        }
    }
}

/// Targets of `rows`, `rows × ΣT` with the heads side by side.
pub fn targets_side_by_side(data: &Dataset, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    append_side_by_side(&data.gather_targets(rows), &data.n_tracks(), rows.len(), &mut out);
    out
}

/// Evaluation names of every head's tracks, concatenated.
pub fn track_names(data: &Dataset) -> Vec<String> {
    data.eval_track_names.concat()
}

/// Class labels of every head's tracks, concatenated.
pub fn track_classes(data: &Dataset) -> Vec<String> {
    data.track_classes.concat()
}

/// Names of `rows`.
pub fn gene_names(data: &Dataset, rows: &[usize]) -> Vec<String> {
    rows.iter().map(|&r| data.genes[r].clone()).collect()
}
