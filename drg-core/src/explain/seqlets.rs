//! Motifs from attribution maps, a small TF-MoDISco (Shrikumar et al. 2018): the stretches of
//! sequence where a model's attributions peak ("seqlets") are cut from the one-hot *sequence*
//! (not from the attributions), grouped by their similarity as motifs, and each group's aligned
//! windows are counted into a position probability matrix.
//!
//! 1. **Seqlets.** Per gene, the attribution score of each position (|attribution of the base
//!    present|, summed over the output groups: [`position_scores`]) is summed over a sliding
//!    `core`-bp window; the strongest windows, at least `core` bp apart, are the seqlets, each
//!    widened by `flank` bp on either side.
//! 2. **Seeds.** In order of decreasing score, each of the `max_seeding` strongest seqlets is compared with every cluster's
//!    current PPM by the Tomtom-style similarity ([`super::tomtom::compare`], both strands, every
//!    offset with at least `core` columns overlapping); at `min_similarity` or above it joins the
//!    best cluster, its window re-cut from the sequence at the aligned offset and strand, else it
//!    starts a new cluster ([`cluster_seqlets`]).
//! 3. **Distinct seeds.** Clusters with at least `min_members` seqlets, trimmed to the span
//!    between the first and last column whose information content reaches `trim_bits` (spans
//!    shorter than `min_width` are dropped), are the seeds, largest first; a seed as similar as
//!    `merge_similarity` to a larger one is the same motif found at another offset, and is
//!    dropped ([`distinct_seeds`]).
//! 4. **Motifs.** Every seqlet joins the seed it matches best (the whole seed inside the
//!    seqlet's window, similarity at least `min_similarity`), its aligned window counted anew
//!    ([`assign_seqlets`]). Steps 3 and 4 run twice: the re-counted groups, trimmed again,
//!    are the second round's seeds, since a seed's frame can shift when its members are counted
//!    anew, and only then do two frames of one motif show as repeats. Groups of at least
//!    `min_members`, trimmed, are the motifs ([`cluster_motifs`]).
//!
//! Greedy clustering with one re-assignment replaces TF-MoDISco's graph clustering (Leiden): it
//! groups the copies of a planted motif (measured in `drg-core/tests/explain_models.rs`) and is
//! deterministic.

use super::attribution::Attributions;
use super::meme::Motif;
use super::tomtom::{compare, Alignment};
use crate::data::Dataset;

/// Knobs of seqlet extraction and clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqletOptions {
    /// Width (bp) of the window whose summed score ranks seqlets, and the least distance between
    /// two seqlets of a gene; also the least overlap of an alignment.
    pub core: usize,
    /// Bases added on either side of the core window.
    pub flank: usize,
    /// Seqlets per gene (the strongest windows).
    pub per_gene: usize,
    /// Least similarity (mean column Pearson r) for a seqlet to join a cluster.
    pub min_similarity: f64,
    /// Least number of seqlets for a cluster to become a motif.
    pub min_members: usize,
    /// Columns at the ends with less information content (bits) are trimmed.
    pub trim_bits: f64,
    /// Least width of a trimmed motif.
    pub min_width: usize,
    /// Seeds come from the strongest this many seqlets (greedy clustering costs seqlets × clusters
    /// comparisons); every seqlet is then assigned to them.
    pub max_seeding: usize,
    /// Seeds at least this similar (over all but two columns of the narrower seed or the core,
    /// whichever is less) are one motif.
    pub merge_similarity: f64,
}

impl Default for SeqletOptions {
    fn default() -> Self {
        SeqletOptions {
            core: 10,
            flank: 3,
            per_gene: 3,
            min_similarity: 0.6,
            min_members: 10,
            trim_bits: 1.0,
            min_width: 5,
            merge_similarity: 0.8,
            max_seeding: 3000,
        }
    }
}

impl SeqletOptions {
    /// The seqlet window: core plus both flanks.
    pub fn width(&self) -> usize {
        self.core + 2 * self.flank
    }
}

/// A seqlet: gene (row of the sequences), first position of its window, and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seqlet {
    pub gene: usize,
    pub start: usize,
    pub score: f64,
}

/// A cluster of aligned seqlets: base counts per column and how many seqlets contributed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqletCluster {
    /// `(4, width)` base counts, A, C, G, T rows.
    pub counts: Vec<f32>,
    pub width: usize,
    pub members: usize,
    /// Summed score of the members.
    pub score: f64,
}

impl SeqletCluster {
    /// The base frequencies per column (columns without counts stay zero).
    pub fn ppm(&self) -> Vec<f32> {
        let w = self.width;
        let mut p = self.counts.clone();
        for j in 0..w {
            let s: f32 = (0..4).map(|c| self.counts[c * w + j]).sum();
            if s > 0.0 {
                (0..4).for_each(|c| p[c * w + j] /= s);
            }
        }
        p
    }
}

/// Per gene and position, the summed |attribution| of the base present, from maps laid out
/// `(n_genes, n_groups, 4, len)` and one-hot sequences `(n_genes, 4, len)` of the same genes and
/// positions: `(n_genes, len)`.
pub fn position_scores(maps: &[f64], seqs: &[f32], n_genes: usize, n_groups: usize, len: usize) -> Vec<f64> {
    let mut out = vec![0f64; n_genes * len];
    for i in 0..n_genes {
        let x = &seqs[i * 4 * len..(i + 1) * 4 * len];
        for p in 0..len {
            let Some(c) = (0..4).find(|&c| x[c * len + p] == 1.0) else { continue };
            out[i * len + p] = (0..n_groups).map(|t| maps[((i * n_groups + t) * 4 + c) * len + p].abs()).sum();
        }
    }
    out
}

/// The seqlets of `scores` (`(n_genes, len)`, module docs step 1), strongest first.
pub fn find_seqlets(scores: &[f64], len: usize, o: &SeqletOptions) -> Vec<Seqlet> {
    let w = o.width();
    let mut out = Vec::new();
    if len < w || o.core == 0 {
        return out;
    }
    for (gene, s) in scores.chunks_exact(len).enumerate() {
        // windowed sums of the core, for cores whose flanks fit in the sequence
        let first = o.flank;
        let last = len - o.flank - o.core;
        let mut sums: Vec<(f64, usize)> = (first..=last).map(|p| (s[p..p + o.core].iter().sum::<f64>(), p)).collect();
        sums.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut taken: Vec<usize> = Vec::new();
        for (sum, p) in sums {
            if taken.len() == o.per_gene || sum <= 0.0 {
                break;
            }
            if taken.iter().all(|&q| q.abs_diff(p) >= o.core) {
                taken.push(p);
                out.push(Seqlet { gene, start: p - o.flank, score: sum });
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.gene.cmp(&b.gene)).then(a.start.cmp(&b.start)));
    out
}

/// The `(4, w)` one-hot window of gene `gene` at `start` (may reach outside the sequence: those
/// columns are zero), reverse-complemented when `reverse`.
fn window(seqs: &[f32], len: usize, gene: usize, start: isize, w: usize, reverse: bool) -> Vec<f32> {
    let x = &seqs[gene * 4 * len..(gene + 1) * 4 * len];
    let mut m = vec![0f32; 4 * w];
    for j in 0..w {
        let p = start + j as isize;
        if p < 0 || p as usize >= len {
            continue;
        }
        for c in 0..4 {
            let v = x[c * len + p as usize];
            if reverse {
                m[(3 - c) * w + (w - 1 - j)] = v;
            } else {
                m[c * w + j] = v;
            }
        }
    }
    m
}

/// The first sequence position of the window (of the target's width `wt`) that lies on the
/// target when a seqlet window at `start` (width `wq`) is aligned to it by `a`: query column i
/// sits on target column i + offset. Forward, target column j is position start + j − offset.
/// Reverse, the reverse-complemented window's column i is position start + wq − 1 − i, so
/// target column j is start + wq − 1 − j + offset: the reverse complement of the window at
/// start + wq − wt + offset.
fn aligned_start(start: usize, wq: usize, wt: usize, a: &Alignment) -> isize {
    if a.reverse {
        start as isize + wq as isize - wt as isize + a.offset
    } else {
        start as isize - a.offset
    }
}

/// Greedy clustering of `seqlets` (module docs step 2) over one-hot `seqs` `(n_genes, 4, len)`.
pub fn cluster_seqlets(seqs: &[f32], len: usize, seqlets: &[Seqlet], o: &SeqletOptions) -> Vec<SeqletCluster> {
    let w = o.width();
    let mut clusters: Vec<SeqletCluster> = Vec::new();
    let mut ppms: Vec<Vec<f32>> = Vec::new();
    for s in seqlets {
        let own = window(seqs, len, s.gene, s.start as isize, w, false);
        let best = ppms
            .iter()
            .enumerate()
            .map(|(k, p)| (k, compare(&own, w, p, w, o.core)))
            .max_by(|a, b| a.1.similarity.total_cmp(&b.1.similarity).then(b.0.cmp(&a.0)));
        match best {
            Some((k, a)) if a.similarity >= o.min_similarity => {
                let m = window(seqs, len, s.gene, aligned_start(s.start, w, w, &a), w, a.reverse);
                let c = &mut clusters[k];
                c.counts.iter_mut().zip(&m).for_each(|(n, v)| *n += v);
                c.members += 1;
                c.score += s.score;
                ppms[k] = c.ppm();
            }
            _ => {
                clusters.push(SeqletCluster { counts: own.clone(), width: w, members: 1, score: s.score });
                ppms.push(own);
            }
        }
    }
    clusters
}

/// Information content (bits) of each column of a `(4, w)` PPM (columns without counts: 0).
pub fn information(ppm: &[f32], w: usize) -> Vec<f64> {
    (0..w)
        .map(|j| {
            let col: Vec<f64> = (0..4).map(|c| f64::from(ppm[c * w + j])).collect();
            if col.iter().sum::<f64>() <= 0.0 {
                return 0.0;
            }
            2.0 + col.iter().filter(|&&p| p > 0.0).map(|p| p * p.log2()).sum::<f64>()
        })
        .collect()
}

/// A cluster's PPM trimmed to its informative span (module docs step 3), or `None` when fewer
/// than `min_width` columns remain.
fn trimmed(c: &SeqletCluster, o: &SeqletOptions) -> Option<(Vec<f32>, usize)> {
    let ppm = c.ppm();
    let ic = information(&ppm, c.width);
    let a = ic.iter().position(|&b| b >= o.trim_bits)?;
    let b = ic.iter().rposition(|&b| b >= o.trim_bits)? + 1;
    if b - a < o.min_width {
        return None;
    }
    Some(((0..4).flat_map(|r| ppm[r * c.width + a..r * c.width + b].to_vec()).collect(), b - a))
}

/// The clusters with at least `min_members` seqlets, largest first (ties: higher summed score).
fn large(clusters: &[SeqletCluster], o: &SeqletOptions) -> Vec<SeqletCluster> {
    let mut kept: Vec<SeqletCluster> = clusters.iter().filter(|c| c.members >= o.min_members).cloned().collect();
    kept.sort_by(|a, b| b.members.cmp(&a.members).then(b.score.total_cmp(&a.score)));
    kept
}

/// The least overlap for two seeds of widths `a` and `b` to count as one motif: all but two
/// columns of the narrower seed, or of the core when both are wider (two frames of one motif
/// with different informative flanks overlap on the motif alone).
fn repeat_overlap(a: usize, b: usize, o: &SeqletOptions) -> usize {
    a.min(b).min(o.core).saturating_sub(2).max(1)
}

/// Module docs step 3: the trimmed PPMs of the large clusters, without those that repeat a
/// larger one.
pub fn distinct_seeds(clusters: &[SeqletCluster], o: &SeqletOptions) -> Vec<(Vec<f32>, usize)> {
    let mut seeds: Vec<(Vec<f32>, usize)> = Vec::new();
    for (ppm, w) in large(clusters, o).iter().filter_map(|c| trimmed(c, o)) {
        let repeats = seeds.iter().any(|(s, ws)| compare(&ppm, w, s, *ws, repeat_overlap(w, *ws, o)).similarity >= o.merge_similarity);
        if !repeats {
            seeds.push((ppm, w));
        }
    }
    seeds
}

/// Module docs step 4: each seqlet's aligned window counted into the seed it matches best.
pub fn assign_seqlets(seqs: &[f32], len: usize, seqlets: &[Seqlet], seeds: &[(Vec<f32>, usize)], o: &SeqletOptions) -> Vec<SeqletCluster> {
    let w = o.width();
    let mut clusters: Vec<SeqletCluster> =
        seeds.iter().map(|(_, ws)| SeqletCluster { counts: vec![0.0; 4 * ws], width: *ws, members: 0, score: 0.0 }).collect();
    for s in seqlets {
        let own = window(seqs, len, s.gene, s.start as isize, w, false);
        let best = seeds
            .iter()
            .enumerate()
            .filter(|(_, (_, ws))| *ws <= w)
            .map(|(k, (p, ws))| (k, compare(&own, w, p, *ws, *ws)))
            .max_by(|a, b| a.1.similarity.total_cmp(&b.1.similarity).then(b.0.cmp(&a.0)));
        if let Some((k, a)) = best.filter(|(_, a)| a.similarity >= o.min_similarity) {
            let c = &mut clusters[k];
            let m = window(seqs, len, s.gene, aligned_start(s.start, w, c.width, &a), c.width, a.reverse);
            c.counts.iter_mut().zip(&m).for_each(|(n, v)| *n += v);
            c.members += 1;
            c.score += s.score;
        }
    }
    clusters
}

/// The motifs of `clusters`: those with at least `min_members` seqlets, trimmed, named
/// `<prefix>seqlet<k>_n<members>` in order of decreasing member count.
pub fn cluster_motifs(clusters: &[SeqletCluster], o: &SeqletOptions, prefix: &str) -> Vec<Motif> {
    let mut out = Vec::new();
    for c in large(clusters, o) {
        if let Some((values, width)) = trimmed(&c, o) {
            out.push(Motif { name: format!("{prefix}seqlet{}_n{}", out.len(), c.members), values, width, bias: None });
        }
    }
    out
}

/// Seqlet motifs of attribution `maps` `(n_genes, n_groups, 4, len)` over one-hot `seqs`
/// `(n_genes, 4, len)`: module docs steps 1–4.
pub fn seqlet_motifs(maps: &[f64], seqs: &[f32], n_groups: usize, len: usize, o: &SeqletOptions, prefix: &str) -> Vec<Motif> {
    let n = seqs.len() / (4 * len).max(1);
    let scores = position_scores(maps, seqs, n, n_groups, len);
    let seqlets = find_seqlets(&scores, len, o);
    let mut clusters = cluster_seqlets(seqs, len, &seqlets[..seqlets.len().min(o.max_seeding)], o);
    for _ in 0..2 {
        let seeds = distinct_seeds(&clusters, o);
        clusters = assign_seqlets(seqs, len, &seqlets, &seeds, o);
    }
    cluster_motifs(&clusters, o, prefix)
}

/// The seqlet motifs (default options) of every input's map in `a` over the sequences of the
/// explained genes `rows` (rows of `data`) in the map's window, named
/// `<input>_seqlet<k>_n<members>`: what `--sequence_attributions` writes as
/// `<prefix>_<type><tracks>_seqlet_motifs.meme`.
pub fn attribution_motifs(data: &Dataset, a: &Attributions, rows: &[usize], inputs: &[&str]) -> Vec<Motif> {
    let w = a.window.len();
    let mut motifs = Vec::new();
    for (k, input) in inputs.iter().enumerate().take(a.per_input.len()) {
        let l = data.inputs[k].length;
        let full = data.gather_input(k, rows);
        let seqs: Vec<f32> = full.chunks_exact(l).flat_map(|row| row[a.window.range()].to_vec()).collect();
        motifs.extend(seqlet_motifs(&a.per_input[k], &seqs, a.experiments.len(), w, &SeqletOptions::default(), &format!("{input}_")));
    }
    motifs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::tomtom::reverse_complement;
    use rand::{Rng, SeedableRng};

    const MOTIF_A: &[u8] = b"TGACGTCATT";
    const MOTIF_B: &[u8] = b"GGGATTACCA";

    fn onehot(s: &[u8]) -> Vec<f32> {
        let w = s.len();
        let mut m = vec![0f32; 4 * w];
        for (j, b) in s.iter().enumerate() {
            m[b"ACGT".iter().position(|c| c == b).unwrap() * w + j] = 1.0;
        }
        m
    }

    fn revcomp(s: &[u8]) -> Vec<u8> {
        s.iter().rev().map(|b| b"TGCA"[b"ACGT".iter().position(|c| c == b).unwrap()]).collect()
    }

    /// `n` random genes of `len` bp; gene i carries motif A (i even) or B (i odd) once, on a
    /// random strand at a random place, and attributions are 1 on its bases (at the base present)
    /// plus noise up to 0.3 elsewhere.
    fn planted(n: usize, len: usize) -> (Vec<f32>, Vec<f64>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut seqs, mut maps) = (vec![0f32; n * 4 * len], vec![0f64; n * 4 * len]);
        for i in 0..n {
            let mut s: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.gen_range(0..4)]).collect();
            let m = if i % 2 == 0 { MOTIF_A } else { MOTIF_B };
            let m = if rng.gen_bool(0.5) { m.to_vec() } else { revcomp(m) };
            let at = rng.gen_range(0..len - m.len());
            s[at..at + m.len()].copy_from_slice(&m);
            for (p, b) in s.iter().enumerate() {
                let c = b"ACGT".iter().position(|x| x == b).unwrap();
                seqs[(i * 4 + c) * len + p] = 1.0;
                let hit = (at..at + m.len()).contains(&p);
                maps[(i * 4 + c) * len + p] = if hit { 1.0 } else { rng.gen_range(0.0..0.3) };
            }
        }
        (seqs, maps)
    }

    #[test]
    fn seqlets_are_the_strongest_windows_apart_from_each_other() {
        let o = SeqletOptions { core: 4, flank: 1, per_gene: 2, ..SeqletOptions::default() };
        let mut scores = vec![0f64; 2 * 20];
        scores[3..7].iter_mut().for_each(|v| *v = 1.0); // gene 0: a peak at 3..7
        scores[8] = 0.5;
        scores[20 + 16] = 2.0; // gene 1: one position near the end
        let s = find_seqlets(&scores, 20, &o);
        // gene 0: core 3..7 (sum 4), then the best core starting at least 4 away: 7..11, which
        // holds position 8 alone (the cores holding 3..7 and 8 start too close)
        assert_eq!(s[0], Seqlet { gene: 0, start: 2, score: 4.0 });
        // gene 1: the first core holding 16 whose flank fits (13..17; the last core is 15..19)
        assert_eq!(s[1], Seqlet { gene: 1, start: 12, score: 2.0 });
        assert_eq!(s[2], Seqlet { gene: 0, start: 6, score: 0.5 });
        assert_eq!(s.len(), 3, "{s:?}");
    }

    /// Two motifs planted once per gene on either strand come back as the two largest clusters,
    /// each matching its motif in every column (on one strand), and the seqlets of noise alone
    /// form no cluster large enough to count.
    #[test]
    fn clusters_recover_motifs_planted_on_both_strands() {
        let (n, len) = (60, 200);
        let (seqs, maps) = planted(n, len);
        let o = SeqletOptions { per_gene: 2, ..SeqletOptions::default() };
        let motifs = seqlet_motifs(&maps, &seqs, 1, len, &o, "dna_");
        assert_eq!(motifs.len(), 2, "{:?}", motifs.iter().map(|m| &m.name).collect::<Vec<_>>());
        for want in [MOTIF_A, MOTIF_B] {
            let target = onehot(want);
            let hit =
                motifs.iter().map(|m| compare(&target, 10, &m.values, m.width, 10)).fold(f64::NEG_INFINITY, |a, b| a.max(b.similarity));
            assert!(hit > 0.95, "{} not recovered: {hit}", String::from_utf8_lossy(want));
        }
        // each cluster holds the seqlets on its motif (30 genes each)
        for m in &motifs {
            let n: usize = m.name.rsplit("_n").next().unwrap().parse().unwrap();
            assert!((28..=32).contains(&n), "{}", m.name);
            assert!(m.name.starts_with("dna_seqlet"));
            assert!(m.width >= 10 && m.width <= 16, "{}", m.width);
        }
        // noise alone: no motif
        let (seqs, _) = planted(n, len);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let noise: Vec<f64> = (0..n * 4 * len).map(|_| rng.gen_range(0.0..1.0)).collect();
        assert!(seqlet_motifs(&noise, &seqs, 1, len, &o, "").is_empty());
    }

    /// A seqlet on the other strand, two bases off, joins the cluster as the very window the
    /// cluster was started from: gene 1 is the reverse complement of gene 0.
    #[test]
    fn aligned_windows_follow_the_strand_and_offset() {
        let gene0 = b"CATTAGCAGCTGACGTCATTGGCTAACGTA".to_vec();
        let len = gene0.len();
        let gene1 = revcomp(&gene0);
        let seqs: Vec<f32> = onehot(&gene0).into_iter().chain(onehot(&gene1)).collect();
        let o = SeqletOptions { core: 8, flank: 1, min_members: 2, trim_bits: 0.0, min_width: 1, ..SeqletOptions::default() };
        // gene 0 at 8..18; gene 1 at 10..20, which is gene 0's 10..20 on the other strand
        let seqlets = [Seqlet { gene: 0, start: 8, score: 2.0 }, Seqlet { gene: 1, start: 10, score: 1.0 }];
        let clusters = cluster_seqlets(&seqs, len, &seqlets, &o);
        assert_eq!(clusters.len(), 1, "{clusters:?}");
        assert_eq!(clusters[0].members, 2);
        let first = window(&seqs, len, 0, 8, 10, false);
        assert_eq!(clusters[0].counts, first.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        let motifs = cluster_motifs(&clusters, &o, "x_");
        assert_eq!((motifs[0].name.as_str(), &motifs[0].values), ("x_seqlet0_n2", &first));
        assert_eq!(reverse_complement(&window(&seqs, len, 1, 12, 10, true), 10), window(&seqs, len, 1, 12, 10, false));
        // one member is too few for min_members 2
        assert!(cluster_motifs(&cluster_seqlets(&seqs, len, &seqlets[..1], &o), &o, "").is_empty());
    }

    /// The same motif at two places of the window (flanks uniform, so trimmed away) is one seed,
    /// the larger cluster's; another motif is a second seed.
    #[test]
    fn seeds_that_repeat_a_larger_one_are_dropped() {
        let o = SeqletOptions::default();
        // `left` uniform columns, the motif, uniform columns up to 16
        let cluster = |m: &[u8], left: usize, members: usize| {
            let mut counts = vec![0.25 * members as f32; 64];
            let hot = onehot(m);
            for c in 0..4 {
                for j in 0..m.len() {
                    counts[c * 16 + left + j] = hot[c * m.len() + j] * members as f32;
                }
            }
            SeqletCluster { counts, width: 16, members, score: 1.0 }
        };
        let clusters = [cluster(MOTIF_A, 0, 12), cluster(&revcomp(MOTIF_A), 6, 20), cluster(MOTIF_B, 2, 11), cluster(MOTIF_B, 2, 3)];
        let seeds = distinct_seeds(&clusters, &o);
        // the larger copy of A (20 members) comes first; B's small cluster is below min_members
        assert_eq!(seeds, vec![(onehot(&revcomp(MOTIF_A)), 10), (onehot(MOTIF_B), 10)]);
    }
}
