//! MEME motif files as the reference writes them (`write_meme_file`, drg-after-training.md §5.3),
//! and the first-layer kernels of a model as such motifs (§5.1, `--save_kernel_filters`).
//!
//! The layout is byte-exact: a three-line header, then per motif a blank line, `MOTIF <name> `,
//! `letter-probability matrix: alength= 4 w= <w> [bias= <b>] ` and one tab-separated row per
//! position; no trailing newline at the end of the file. All-zero matrices are skipped entirely
//! (the reference writes their rows under the previous motif, a bug).

use std::path::Path;

use crate::eval::atomic_file::write_bytes_atomically;
use crate::eval::float_text::python_repr;
use crate::import::state_dict::StateDict;

/// numpy's `str()` of a float32: the shortest digits that round-trip as f32, in Python's form.
pub fn float32_repr(x: f32) -> String {
    let shortest: f64 = format!("{x:e}").parse().unwrap_or(f64::from(x));
    python_repr(if x.is_finite() { shortest } else { f64::from(x) })
}

/// One motif: `(4, w)` channel-major (A, C, G, T rows), with a name and an optional bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    pub name: String,
    /// `4 × width`, row `c` = base c.
    pub values: Vec<f32>,
    pub width: usize,
    pub bias: Option<f32>,
}

impl Motif {
    /// The value of base `c` at position `j`.
    pub fn at(&self, c: usize, j: usize) -> f32 {
        self.values[c * self.width + j]
    }
}

/// The text of a MEME file of `motifs` (with `bias=` on the header lines when every motif has
/// one, as the reference's `biases=` argument).
pub fn meme_text(motifs: &[Motif]) -> String {
    let mut s = String::from("MEME version 4 \nALPHABET= ACGT \nstrands: + -\n");
    let with_bias = !motifs.is_empty() && motifs.iter().all(|m| m.bias.is_some());
    for m in motifs {
        if m.values.iter().map(|v| if v.is_finite() { v.abs() } else { 0.0 }).sum::<f32>() <= 0.0 {
            continue;
        }
        // w counts the positions whose column sum is non-zero
        let w = (0..m.width).filter(|&j| (0..4).map(|c| m.at(c, j)).sum::<f32>() != 0.0).count();
        s.push_str(&format!("\nMOTIF {} \nletter-probability matrix: alength= 4 w= {w}", m.name));
        match m.bias.filter(|_| with_bias) {
            Some(b) => s.push_str(&format!(" bias= {} \n", python_repr(f64::from(b)))),
            None => s.push_str(" \n"),
        }
        for j in 0..m.width {
            let row: Vec<String> = (0..4).map(|c| float32_repr(m.at(c, j))).collect();
            s.push_str(&row.join("\t"));
            s.push('\n');
        }
    }
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// Writes `motifs` to `path` atomically.
pub fn write_meme(path: &Path, motifs: &[Motif]) -> anyhow::Result<()> {
    write_bytes_atomically(path, meme_text(motifs).as_bytes())
}

/// The first-layer kernels of a state dict (§5.1): every key containing
/// `convolutions.conv1d` and ending in `.weight`, in key order, named `filter<j>` and, when several
/// layers match, `filter<j>_<tag>` with the first dotted component unique to the key (`CNN1`).
/// Each kernel is `(4, l)` with its bias (0 without one).
pub fn first_layer_kernels(sd: &StateDict) -> Vec<Motif> {
    let keys: Vec<&String> = sd.entries.keys().filter(|k| k.contains("convolutions.conv1d") && k.ends_with(".weight")).collect();
    let mut motifs = Vec::new();
    for (layer, key) in keys.iter().enumerate() {
        let e = &sd.entries[*key];
        if e.shape.len() != 3 || e.shape[1] != 4 {
            continue;
        }
        let (k, l) = (e.shape[0], e.shape[2]);
        let bias_key = format!("{}.bias", key.trim_end_matches(".weight"));
        let bias = sd.entries.get(&bias_key).map(|b| b.values.clone()).unwrap_or_else(|| vec![0.0; k]);
        let tag = if keys.len() > 1 {
            let parts: Vec<&str> = key.split('.').collect();
            let mut unique: Vec<&str> =
                parts.iter().copied().filter(|p| keys.iter().filter(|other| other.split('.').any(|q| q == *p)).count() == 1).collect();
            unique.sort_unstable();
            Some(unique.first().map(|s| s.to_string()).unwrap_or_else(|| format!("CNN{layer}")))
        } else {
            None
        };
        for (j, &b) in bias.iter().enumerate().take(k) {
            let name = match &tag {
                Some(t) => format!("filter{j}_{t}"),
                None => format!("filter{j}"),
            };
            motifs.push(Motif { name, values: e.values[j * 4 * l..(j + 1) * 4 * l].to_vec(), width: l, bias: Some(b) });
        }
    }
    motifs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_text_is_numpys() {
        assert_eq!(float32_repr(0.123), "0.123");
        assert_eq!(float32_repr(-0.123_456_79), "-0.12345679");
        assert_eq!(float32_repr(1.0), "1.0");
        assert_eq!(float32_repr(1e-5), "1e-05");
        assert_eq!(float32_repr(0.1), "0.1");
    }

    #[test]
    fn meme_layout_is_the_references() {
        let m = |name: &str, v: Vec<f32>, bias| Motif { name: name.into(), values: v, width: 2, bias };
        let motifs = vec![m("filter0", vec![0.5, 0.0, 0.25, 0.0, 0.25, 0.0, 0.0, 0.0], Some(0.1)), m("filter1", vec![0.0; 8], Some(0.0))];
        let text = meme_text(&motifs);
        assert_eq!(
            text,
            "MEME version 4 \nALPHABET= ACGT \nstrands: + -\n\nMOTIF filter0 \nletter-probability matrix: alength= 4 w= 1 bias= 0.10000000149011612 \n0.5\t0.25\t0.25\t0.0\n0.0\t0.0\t0.0\t0.0"
        );
    }
}
