//! The simulator's planted truth as files, for checking what a trained model learned: the
//! motifs as a MEME file of position probability matrices (the consensus, probability 1 per
//! position) and every planted site per gene as a tsv (`gene input motif start end strand`,
//! 0-based, end exclusive). `drg simulate` writes both next to the dataset.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::meme::{write_meme, Motif};
use crate::data::simulate::{Simulation, SiteInput};
use crate::eval::atomic_file::write_atomically;

/// The planted motifs as one-hot PPMs named `TF<m>` and `RBP<m>`.
pub fn planted_motifs(sim: &Simulation) -> Vec<Motif> {
    let one = |name: String, seq: &[u8]| {
        let w = seq.len();
        let mut values = vec![0f32; 4 * w];
        for (j, b) in seq.iter().enumerate() {
            let c = match b {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                _ => 3,
            };
            values[c * w + j] = 1.0;
        }
        Motif { name, values, width: w, bias: None }
    };
    let tf = sim.tf_motifs.iter().enumerate().map(|(m, s)| one(format!("TF{m}"), s));
    let rbp = sim.rbp_motifs.iter().enumerate().map(|(m, s)| one(format!("RBP{m}"), s));
    tf.chain(rbp).collect()
}

/// The name of an input in the sites file.
pub fn input_name(i: SiteInput) -> &'static str {
    match i {
        SiteInput::Dna => "dna",
        SiteInput::Rna => "rna",
    }
}

/// Writes `<dir>/planted_motifs.meme` and `<dir>/planted_sites.tsv`; returns both paths.
pub fn write_truth(sim: &Simulation, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let motifs = dir.join("planted_motifs.meme");
    write_meme(&motifs, &planted_motifs(sim))?;
    let sites = dir.join("planted_sites.tsv");
    write_atomically(&sites, |w| {
        writeln!(w, "#gene\tinput\tmotif\tstart\tend\tstrand")?;
        for s in &sim.sites {
            let strand = if s.forward { '+' } else { '-' };
            writeln!(w, "{}\t{}\t{}\t{}\t{}\t{strand}", sim.genes[s.gene], input_name(s.input), s.motif, s.start, s.start + s.length)?;
        }
        Ok(())
    })?;
    Ok((motifs, sites))
}

/// Per gene, a mask of the positions of input `input` (length `l`) covered by a planted site.
pub fn site_mask(sim: &Simulation, gene: usize, input: SiteInput, l: usize) -> Vec<bool> {
    let mut mask = vec![false; l];
    for s in sim.sites.iter().filter(|s| s.gene == gene && s.input == input) {
        mask[s.start.min(l)..(s.start + s.length).min(l)].iter_mut().for_each(|m| *m = true);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::simulate::{simulate, SimOptions};

    #[test]
    fn planted_sites_carry_their_motif() {
        let o = SimOptions { n_genes: 40, ..SimOptions::default() };
        let sim = simulate(&o).unwrap();
        assert!(sim.sites.len() > 40 * 3);
        let t = sim.tracks.len();
        assert_eq!(sim.expression.len(), 40 * t);
        let revcomp = |s: &[u8]| -> Vec<u8> {
            s.iter()
                .rev()
                .map(|b| match b {
                    b'A' => b'T',
                    b'C' => b'G',
                    b'G' => b'C',
                    _ => b'A',
                })
                .collect()
        };
        // Every base of a site that no later site (same gene and input) covers is the motif's:
        // sites are listed in planting order, and a later copy may overwrite part of an earlier.
        let mut checked = 0;
        for (i, s) in sim.sites.iter().enumerate() {
            let (seq, l) = match s.input {
                SiteInput::Dna => (&sim.dna, o.dna_length),
                SiteInput::Rna => (&sim.rna, o.rna_length),
            };
            let m: usize = s.motif.trim_start_matches(char::is_alphabetic).parse().unwrap();
            let motif = if s.motif.starts_with("TF") { &sim.tf_motifs[m] } else { &sim.rbp_motifs[m] };
            let want = if s.forward { motif.clone() } else { revcomp(motif) };
            let later = &sim.sites[i + 1..];
            for (j, p) in (s.start..s.start + s.length).enumerate() {
                if later.iter().any(|t| t.gene == s.gene && t.input == s.input && (t.start..t.start + t.length).contains(&p)) {
                    continue;
                }
                let row = &seq[(s.gene * l + p) * 4..(s.gene * l + p) * 4 + 4];
                let base = b"ACGT"[row.iter().position(|&v| v == 1).unwrap()];
                assert_eq!(base, want[j], "site {i} {s:?}: base {j}");
                checked += 1;
            }
        }
        assert!(checked * 10 >= sim.sites.iter().map(|s| s.length).sum::<usize>() * 8, "{checked} bases checked");
        let dir = tempfile::tempdir().unwrap();
        let (m, s) = write_truth(&sim, dir.path()).unwrap();
        let meme = std::fs::read_to_string(m).unwrap();
        assert_eq!(meme.matches("MOTIF ").count(), o.n_tf_motifs + o.n_rbp_motifs);
        let tsv = std::fs::read_to_string(s).unwrap();
        assert_eq!(tsv.lines().count(), sim.sites.len() + 1);
    }
}
