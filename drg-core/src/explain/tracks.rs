//! Which model outputs an attribution explains: the reference's `TRACKS` argument of
//! `--sequence_attributions` (names, indices, `all`, `a-to-b`, comma lists) and its
//! `--average_outclasses` grouping, where one explained output is the mean of several tracks
//! (drg-after-training.md §8.1, §8.2).

use std::path::Path;

use anyhow::{bail, Context};

/// The explained outputs: output `g` is the mean of the tracks `members[g]` (indices into the
/// heads' concatenated tracks), written under `names[g]` in the npz's `experiments`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackGroups {
    pub names: Vec<String>,
    pub members: Vec<Vec<usize>>,
}

impl TrackGroups {
    /// One group per selected track, in the given order (duplicates kept, as the reference).
    pub fn single(selected: &[usize], names: &[String]) -> Self {
        TrackGroups { names: selected.iter().map(|&t| names[t].clone()).collect(), members: selected.iter().map(|&t| vec![t]).collect() }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The weights that turn the concatenated outputs (`total` tracks) into group `g`'s mean.
    pub fn weights(&self, g: usize, total: usize) -> Vec<f32> {
        let mut w = vec![0f32; total];
        let share = 1.0 / self.members[g].len() as f32;
        for &t in &self.members[g] {
            w[t] += share;
        }
        w
    }
}

/// Resolves the reference's `TRACKS` text against the track names (after the file-class
/// renaming): `all`/`complete`, `a-to-b` (a … b−1), a comma list of indices or names, one index
/// or one name. An unknown name or an index out of range is an error naming it.
pub fn select_tracks(spec: &str, names: &[String]) -> anyhow::Result<Vec<usize>> {
    let n = names.len();
    let one = |item: &str| -> anyhow::Result<usize> {
        if let Ok(i) = item.parse::<usize>() {
            if i >= n {
                bail!("--sequence_attributions: track index {i} is out of range (the model has {n} tracks)");
            }
            return Ok(i);
        }
        names.iter().position(|t| t == item).with_context(|| {
            let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
            format!(
                "--sequence_attributions: unknown track '{item}' (tracks: {}{})",
                shown.join(", "),
                if n > shown.len() { ", ..." } else { "" }
            )
        })
    };
    let spec = spec.trim();
    if spec.is_empty() {
        bail!("--sequence_attributions: no tracks given");
    }
    if spec == "all" || spec == "complete" {
        return Ok((0..n).collect());
    }
    if let Some((a, b)) = spec.split_once("-to-") {
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            if a >= b || b > n {
                bail!("--sequence_attributions: tracks {spec} is not a range within 0..{n}");
            }
            return Ok((a..b).collect());
        }
    }
    spec.split(',').map(|s| one(s.trim())).collect()
}

/// Groups `selected` by the mean class each track has in the `--average_outclasses` file
/// (`track class` per line, `#` comments; looked up by the **raw** header name `raw[t]`); groups
/// are ordered by sorted class name, members keep their order.
pub fn group_by_class(selected: &[usize], raw: &[String], file: &Path) -> anyhow::Result<TrackGroups> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read the class file", file.display()))?;
    let mut table: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        match (it.next(), it.next()) {
            (Some(t), Some(c)) => table.push((t.to_string(), c.to_string())),
            _ => bail!("{}: line {} has no class (want `track class`)", file.display(), i + 1),
        }
    }
    let mut classes: Vec<(String, Vec<usize>)> = Vec::new();
    for &t in selected {
        let class = table
            .iter()
            .find(|(name, _)| *name == raw[t])
            .map(|(_, c)| c.clone())
            .with_context(|| format!("{}: track '{}' has no class", file.display(), raw[t]))?;
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, m)) => m.push(t),
            None => classes.push((class, vec![t])),
        }
    }
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(TrackGroups { names: classes.iter().map(|(c, _)| c.clone()).collect(), members: classes.into_iter().map(|(_, m)| m).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["Tcell.IL1b", "Tcell.IL2", "Bcell.IL1b", "Bcell.IL2"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tracks_by_name_index_range_and_all() {
        let n = names();
        assert_eq!(select_tracks("all", &n).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(select_tracks("1-to-3", &n).unwrap(), vec![1, 2]);
        assert_eq!(select_tracks("Bcell.IL2,0", &n).unwrap(), vec![3, 0]);
        assert_eq!(select_tracks("2", &n).unwrap(), vec![2]);
        assert_eq!(select_tracks("Tcell.IL2", &n).unwrap(), vec![1]);
        let e = select_tracks("Tcell.IL99", &n).unwrap_err().to_string();
        assert!(e.starts_with("--sequence_attributions: unknown track 'Tcell.IL99' (tracks: Tcell.IL1b,"), "{e}");
        assert!(select_tracks("7", &n).unwrap_err().to_string().contains("index 7 is out of range"));
        assert!(select_tracks("3-to-9", &n).is_err());
    }

    #[test]
    fn class_groups_are_sorted_and_average_their_members() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("classes.txt");
        std::fs::write(&f, "# track class\nTcell.IL1b T\nTcell.IL2 T\nBcell.IL1b B\nBcell.IL2 B\n").unwrap();
        let g = group_by_class(&[0, 2, 1], &names(), &f).unwrap();
        assert_eq!(g.names, vec!["B", "T"]);
        assert_eq!(g.members, vec![vec![2], vec![0, 1]]);
        assert_eq!(g.weights(1, 4), vec![0.5, 0.5, 0.0, 0.0]);
        std::fs::write(&f, "Tcell.IL1b T\n").unwrap();
        let e = group_by_class(&[3], &names(), &f).unwrap_err().to_string();
        assert!(e.ends_with("track 'Bcell.IL2' has no class"), "{e}");
    }
}
