//! `--select_tracks ARG`: training, fine-tuning or predicting on a subset of the output tracks
//! (drg-after-training.md §2.4), e.g. a model trained on 88 conditions fine-tuned on 12.
//!
//! ARG is a comma-separated list, else the name of an existing file whose whitespace- or
//! comma-separated tokens are the list (`#` starts a comment), else one token. A token is a
//! track name of the output files' headers (the names before `--add_fileclasses` adds `_ex`
//! suffixes, as the reference matches them) or, where no track has that name, a 0-based column
//! index into the output files' tracks side by side (an addition: the reference takes names
//! only). Every output keeps its selected columns in the file's order, whatever the order of
//! the list. An unknown name, an index out of range, or an output left without tracks is one
//! error line naming the token or the file.

use std::path::Path;

use super::error::{DataError, DataResult};
use super::Dataset;

/// The tracks each output keeps: for output `k`, ascending column indices into its
/// `full_widths[k]` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSelection {
    pub per_output: Vec<Vec<usize>>,
    pub full_widths: Vec<usize>,
}

impl TrackSelection {
    /// Track counts after the selection.
    pub fn widths(&self) -> Vec<usize> {
        self.per_output.iter().map(Vec::len).collect()
    }

    /// Whether the selection keeps every track of every output.
    pub fn keeps_all(&self) -> bool {
        self.per_output.iter().zip(&self.full_widths).all(|(s, &w)| s.len() == w)
    }
}

/// The tokens of `--select_tracks ARG` (see the module docs).
pub fn select_tracks_tokens(arg: &str) -> DataResult<Vec<String>> {
    let split = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let tokens = if arg.contains(',') {
        split(arg)
    } else if Path::new(arg).is_file() {
        let text = std::fs::read_to_string(arg).map_err(|e| DataError::io(arg, "read", e))?;
        let tokens = split(&text);
        if tokens.is_empty() {
            return Err(DataError::file(arg, "--select_tracks: the file lists no track"));
        }
        tokens
    } else {
        split(arg)
    };
    if tokens.is_empty() {
        return Err(DataError::Other("--select_tracks: no track given".into()));
    }
    Ok(tokens)
}

/// Resolves `tokens` against the track names of every output (`names[k]`, one per column;
/// `files[k]` names output `k` in messages).
pub fn resolve_tracks(tokens: &[String], names: &[Vec<String>], files: &[String]) -> DataResult<TrackSelection> {
    let total: usize = names.iter().map(Vec::len).sum();
    let mut keep: Vec<Vec<bool>> = names.iter().map(|n| vec![false; n.len()]).collect();
    for token in tokens {
        let mut found = false;
        for (k, file_names) in names.iter().enumerate() {
            for (c, n) in file_names.iter().enumerate() {
                if n == token {
                    keep[k][c] = true;
                    found = true;
                }
            }
        }
        if found {
            continue;
        }
        match token.parse::<usize>() {
            Ok(i) if i < total => {
                let (mut k, mut c) = (0, i);
                while c >= names[k].len() {
                    c -= names[k].len();
                    k += 1;
                }
                keep[k][c] = true;
            }
            Ok(i) => {
                return Err(DataError::Other(format!(
                    "--select_tracks: index {i} is out of range: the outputs have {total} tracks (0 to {})",
                    total.saturating_sub(1)
                )))
            }
            Err(_) => {
                let examples: Vec<&str> = names.iter().flatten().take(6).map(String::as_str).collect();
                return Err(DataError::Other(format!(
                    "--select_tracks: no track is named '{token}' in {} (their tracks: {}{})",
                    files.join(", "),
                    examples.join(", "),
                    if total > examples.len() { format!(", ... {total} in all") } else { String::new() }
                )));
            }
        }
    }
    let per_output: Vec<Vec<usize>> = keep.iter().map(|k| k.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect()).collect();
    if let Some(k) = per_output.iter().position(Vec::is_empty) {
        return Err(DataError::file(
            &files[k],
            "--select_tracks selects none of its tracks; the model needs at least one track per output (select some of every output file)",
        ));
    }
    Ok(TrackSelection { per_output, full_widths: names.iter().map(Vec::len).collect() })
}

impl Dataset {
    /// The raw track names of every output file (as in the headers).
    pub fn raw_track_names(&self) -> Vec<Vec<String>> {
        self.outputs.iter().map(|m| m.track_names.clone()).collect()
    }

    /// Resolves `--select_tracks` tokens against this data's output files.
    pub fn resolve_tracks(&self, tokens: &[String]) -> DataResult<TrackSelection> {
        let files: Vec<String> = self.outputs.iter().map(|m| m.file.display().to_string()).collect();
        resolve_tracks(tokens, &self.raw_track_names(), &files)
    }

    /// Keeps only the selected columns of every output (values, names, classes).
    pub fn select_tracks(&mut self, sel: &TrackSelection) {
        assert_eq!(sel.full_widths, self.n_tracks(), "a track selection for other outputs");
        for (k, cols) in sel.per_output.iter().enumerate() {
            let m = &mut self.outputs[k];
            let t = m.n_tracks();
            m.values = m.values.chunks_exact(t.max(1)).flat_map(|row| cols.iter().map(move |&c| row[c])).collect();
            let pick = |v: &[String]| cols.iter().map(|&c| v[c].clone()).collect::<Vec<_>>();
            m.track_names = pick(&m.track_names);
            self.track_classes[k] = pick(&self.track_classes[k]);
            self.eval_track_names[k] = pick(&self.eval_track_names[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Matrix, Split};

    fn names(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter().map(|f| f.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn names_indices_and_files_select_columns_in_file_order() {
        let n = names(&[&["a", "b", "c"], &["a", "x"]]);
        let files = ["ex.tsv".to_string(), "kd.tsv".to_string()];
        let sel = |arg: &str| resolve_tracks(&select_tracks_tokens(arg).unwrap(), &n, &files);
        // A name selects its column in every file that has it; order of the list is irrelevant.
        assert_eq!(sel("c,a").unwrap().per_output, vec![vec![0, 2], vec![0]]);
        // Indices count the outputs' tracks side by side: 4 is kd's `x`.
        assert_eq!(sel("1,4").unwrap().per_output, vec![vec![1], vec![1]]);
        let s = sel("b,x").unwrap();
        assert_eq!((s.widths(), s.full_widths.clone(), s.keeps_all()), (vec![1, 1], vec![3, 2], false));
        // From a file: whitespace or commas, `#` comments.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tracks.txt");
        std::fs::write(&f, "# kept tracks\nb\tc # two\n3\n").unwrap();
        assert_eq!(sel(f.to_str().unwrap()).unwrap().per_output, vec![vec![1, 2], vec![0]]);
        // Errors: unknown name, index out of range, an output left empty.
        let e = sel("a,zz").unwrap_err().to_string();
        assert_eq!(e, "--select_tracks: no track is named 'zz' in ex.tsv, kd.tsv (their tracks: a, b, c, a, x)");
        assert_eq!(sel("7,a").unwrap_err().to_string(), "--select_tracks: index 7 is out of range: the outputs have 5 tracks (0 to 4)");
        assert!(sel("b").unwrap_err().to_string().starts_with("kd.tsv: --select_tracks selects none of its tracks"));
        assert!(select_tracks_tokens(",").is_err());
    }

    #[test]
    fn a_dataset_keeps_the_selected_columns() {
        let m = Matrix {
            file: "ex.tsv".into(),
            genes: vec!["g1".into(), "g2".into()],
            track_names: names(&[&["a", "b", "c"]]).remove(0),
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let mut d = Dataset {
            genes: m.genes.clone(),
            inputs: Vec::new(),
            outputs: vec![m],
            track_classes: names(&[&["T", "B", "T"]]),
            eval_track_names: names(&[&["a_ex", "b_ex", "c_ex"]]),
            split: Split { train: vec![0], val: vec![], test: vec![1] },
        };
        let sel = d.resolve_tracks(&["c".into(), "a".into()]).unwrap();
        d.select_tracks(&sel);
        assert_eq!(d.outputs[0].values, vec![1.0, 3.0, 4.0, 6.0]);
        assert_eq!(d.outputs[0].track_names, ["a", "c"]);
        assert_eq!(
            (d.track_classes[0].clone(), d.eval_track_names[0].clone()),
            (names(&[&["T", "T"]]).remove(0), names(&[&["a_ex", "c_ex"]]).remove(0))
        );
        assert_eq!(d.n_tracks(), vec![2]);
    }
}
