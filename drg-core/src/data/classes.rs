//! Track classes: the `--split_outclasses` file (`docs/data.md`, "Track classes") and the
//! `--add_fileclasses` renaming of classes and tracks across several output files (`docs/data.md`,
//! "`--add_fileclasses`"). Classes only group tracks for evaluation; they never change training.

use std::collections::HashMap;
use std::path::Path;

use super::error::{DataError, DataResult};

/// One list of names per output file.
pub type NamesPerFile = Vec<Vec<String>>;

/// Reads a class file: whitespace-separated `track class` lines (extra columns ignored),
/// `#` comments. Returns track → class.
pub fn read_class_file(path: &Path) -> DataResult<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
    let mut map: HashMap<String, (String, usize)> = HashMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 2 {
            return Err(DataError::line(path, k + 1, format!("expected 'track_name class_name', found '{line}'")));
        }
        if let Some((c, prev)) = map.get(f[0]) {
            if c != f[1] {
                return Err(DataError::line(
                    path,
                    k + 1,
                    format!("track '{}' is assigned to class '{}' here and to '{c}' on line {prev}", f[0], f[1]),
                ));
            }
        }
        map.insert(f[0].to_string(), (f[1].to_string(), k + 1));
    }
    if map.is_empty() {
        return Err(DataError::file(path, "no 'track_name class_name' lines"));
    }
    Ok(map.into_iter().map(|(t, (c, _))| (t, c)).collect())
}

/// The class of every track of every output file; every track must be in the class file.
pub fn assign_classes(path: &Path, map: &HashMap<String, String>, tracks: &[Vec<String>]) -> DataResult<Vec<Vec<String>>> {
    tracks
        .iter()
        .map(|ts| {
            ts.iter()
                .map(|t| map.get(t).cloned().ok_or_else(|| DataError::file(path, format!("track '{t}' has no class in this file"))))
                .collect()
        })
        .collect()
}

/// Evaluation names after `--add_fileclasses` (default tags `0,1,2,...`):
/// 1. a class whose tracks come from more than one file gets its file's tag appended
///    (`T0` → `T0ex`, `T0kd`);
/// 2. if any track name occurs in more than one file, every track of such a multi-file class
///    gets `_<tag>` appended (`C0` → `C0_ex`).
///
/// Returns `(classes, track_names)` per file. Only names change; values do not.
pub fn apply_file_classes(
    tags: &[String],
    classes: &[Vec<String>],
    tracks: &[Vec<String>],
) -> Result<(NamesPerFile, NamesPerFile), String> {
    if tags.len() != tracks.len() {
        return Err(format!("--add_fileclasses has {} tags for {} output files", tags.len(), tracks.len()));
    }
    let mut files_of_class: HashMap<&str, Vec<usize>> = HashMap::new();
    for (f, cs) in classes.iter().enumerate() {
        for c in cs {
            let e = files_of_class.entry(c.as_str()).or_default();
            if !e.contains(&f) {
                e.push(f);
            }
        }
    }
    let mut files_of_track: HashMap<&str, Vec<usize>> = HashMap::new();
    for (f, ts) in tracks.iter().enumerate() {
        for t in ts {
            files_of_track.entry(t.as_str()).or_default().push(f);
        }
    }
    let duplicated = files_of_track.values().any(|v| v.len() > 1);
    let mut new_classes = Vec::new();
    let mut new_tracks = Vec::new();
    for (f, (cs, ts)) in classes.iter().zip(tracks).enumerate() {
        let mut nc = Vec::new();
        let mut nt = Vec::new();
        for (c, t) in cs.iter().zip(ts) {
            let multi = files_of_class[c.as_str()].len() > 1;
            nc.push(if multi { format!("{c}{}", tags[f]) } else { c.clone() });
            nt.push(if multi && duplicated { format!("{t}_{}", tags[f]) } else { t.clone() });
        }
        new_classes.push(nc);
        new_tracks.push(nt);
    }
    Ok((new_classes, new_tracks))
}
