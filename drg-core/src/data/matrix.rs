//! Output matrices (genes × tracks) in the reference's text format (`docs/data.md`, "Output matrices"):
//! column 0 holds the gene name, the other columns numbers; an optional first line containing
//! `#` lists the track names only (`# C0,C1,...`); without it tracks are named `C0..C{n-1}`;
//! lines starting with `#` are comments; no transform is applied. `.npz` outputs (`counts`,
//! `names`, optional `celltypes`) are read too.
//!
//! Where the reference would silently misread (a header naming the row-name column, a literal
//! `\t` delimiter, NaN values, ragged rows), drg-rs stops with one line naming file and line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::atomic::write_atomically;
use super::error::{DataError, DataResult};
use super::seqset::sorted_unique_order;
use crate::import::npz::read_npz;

/// One output file: values `(N, T)` row-major f32, rows sorted by gene name.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// The file the values came from.
    pub file: PathBuf,
    /// Gene (row) names, unique, sorted after reading.
    pub genes: Vec<String>,
    /// Track (column) names, as in the header.
    pub track_names: Vec<String>,
    /// `(N, T)` row-major.
    pub values: Vec<f32>,
}

impl Matrix {
    pub fn n_tracks(&self) -> usize {
        self.track_names.len()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let t = self.n_tracks();
        &self.values[i * t..(i + 1) * t]
    }

    /// A new matrix holding rows `idx` in that order.
    pub fn select(&self, idx: &[usize]) -> Matrix {
        let mut values = Vec::with_capacity(idx.len() * self.n_tracks());
        for &i in idx {
            values.extend_from_slice(self.row(i));
        }
        Matrix {
            file: self.file.clone(),
            genes: idx.iter().map(|&i| self.genes[i].clone()).collect(),
            track_names: self.track_names.clone(),
            values,
        }
    }

    fn sorted_by_name(self) -> DataResult<Matrix> {
        let order = sorted_unique_order(&self.genes)
            .map_err(|g| DataError::file(&self.file, format!("gene name '{g}' occurs on more than one row")))?;
        Ok(self.select(&order))
    }
}

/// Parses the `--delimiter` argument: one character, where the two characters `\t` (as typed
/// in a shell without `$'\t'`) and the word `tab` also mean a tab.
pub fn parse_delimiter(s: &str) -> Result<char, String> {
    match s {
        "\\t" | "tab" | "TAB" => return Ok('\t'),
        "space" => return Ok(' '),
        _ => {}
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("delimiter '{s}' must be a single character (use '\\t' for a tab)")),
    }
}

/// Reads one output matrix (tsv/csv with `delimiter`, or `.npz`), validated, rows sorted by name.
pub fn read_matrix(path: &Path, delimiter: char) -> DataResult<Matrix> {
    if path.extension().is_some_and(|e| e == "npz") {
        return read_matrix_npz(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
    parse_matrix(path, &text, delimiter)?.sorted_by_name()
}

fn split_fields(line: &str, delimiter: char) -> Vec<&str> {
    if delimiter == ' ' {
        line.split_whitespace().collect()
    } else {
        line.split(delimiter).map(str::trim).collect()
    }
}

/// Parses matrix text (rows in file order).
pub fn parse_matrix(path: &Path, text: &str, delimiter: char) -> DataResult<Matrix> {
    let mut lines = text.lines().enumerate().peekable();
    let mut header: Option<(usize, Vec<String>)> = None;
    if let Some((_, first)) = lines.peek() {
        if first.contains('#') {
            let names = first.trim().trim_matches('#').trim();
            let names: Vec<String> = split_fields(names, delimiter).into_iter().map(str::to_string).collect();
            header = Some((1, names));
            lines.next();
        }
    }
    let mut genes = Vec::new();
    let mut values = Vec::new();
    let mut n_values: Option<(usize, usize)> = None; // (count, line)
    for (k, raw) in lines {
        let line_no = k + 1;
        let line = raw.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields = split_fields(line, delimiter);
        if fields.len() < 2 {
            let d = if delimiter == '\t' { "\\t".to_string() } else { format!("'{delimiter}'") };
            return Err(DataError::line(
                path,
                line_no,
                format!("expected a gene name and values separated by {d}, found {} field (wrong --delimiter?)", fields.len()),
            ));
        }
        let count = fields.len() - 1;
        match n_values {
            None => n_values = Some((count, line_no)),
            Some((c, first)) if c != count => {
                return Err(DataError::line(
                    path,
                    line_no,
                    format!("ragged row: gene '{}' has {count} values, but line {first} has {c}", fields[0]),
                ))
            }
            _ => {}
        }
        let gene = fields[0];
        for (t, f) in fields[1..].iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| {
                let hint = if genes.is_empty() && header.is_none() { " (a header line must start with '#')" } else { "" };
                DataError::line(path, line_no, format!("gene '{gene}' column {}: '{f}' is not a number{hint}", t + 1))
            })?;
            if !v.is_finite() {
                return Err(DataError::line(
                    path,
                    line_no,
                    format!("gene '{gene}' column {}: value {f} is not finite (NaN and infinite targets are not allowed)", t + 1),
                ));
            }
            values.push(v as f32);
        }
        genes.push(gene.to_string());
    }
    let Some((t, _)) = n_values else {
        return Err(DataError::file(path, "no data rows"));
    };
    let track_names = match header {
        None => (0..t).map(|i| format!("C{i}")).collect(),
        Some((line, names)) => {
            if names.len() != t {
                let hint =
                    if names.len() == t + 1 { "; the header must list only the track names, not a name for the gene column" } else { "" };
                return Err(DataError::line(path, line, format!("header names {} tracks but rows have {t} values{hint}", names.len())));
            }
            names
        }
    };
    Ok(Matrix { file: path.to_path_buf(), genes, track_names, values })
}

fn read_matrix_npz(path: &Path) -> DataResult<Matrix> {
    let npz = read_npz(path)?;
    let err = |m: String| DataError::file(path, m);
    let counts = npz.arrays.get("counts").ok_or_else(|| err("no array 'counts'".into()))?;
    let names = npz.arrays.get("names").and_then(|a| a.strings()).ok_or_else(|| err("no string array 'names'".into()))?;
    if counts.shape.len() != 2 || counts.shape[0] != names.len() {
        return Err(err(format!("'counts' has shape {:?}, expected ({}, tracks)", counts.shape, names.len())));
    }
    let t = counts.shape[1];
    let values = counts.to_f32().ok_or_else(|| err("'counts' holds strings".into()))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(err(format!("gene '{}' track {}: value is not finite", names[i / t], i % t)));
    }
    let track_names = match npz.arrays.get("celltypes").and_then(|a| a.strings()) {
        Some(c) if c.len() == t => c.to_vec(),
        Some(c) => return Err(err(format!("'celltypes' has {} names for {t} tracks", c.len()))),
        None => (0..t).map(|i| format!("C{i}")).collect(),
    };
    Matrix { file: path.to_path_buf(), genes: names.to_vec(), track_names, values }.sorted_by_name()
}

/// Writes a matrix in the reference's format (`# t0<D>t1...` header, `gene<D>v...` rows, values
/// with 4 decimals), atomically.
pub fn write_matrix(path: &Path, m: &Matrix, delimiter: char) -> DataResult<()> {
    write_atomically(path, |w| {
        let d = delimiter.to_string();
        writeln!(w, "# {}", m.track_names.join(&d))?;
        let mut line = String::new();
        for (i, g) in m.genes.iter().enumerate() {
            line.clear();
            line.push_str(g);
            for v in m.row(i) {
                let _ = write!(line, "{delimiter}{v:.4}");
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
}
