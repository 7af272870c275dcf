//! The built-in simulator: a complete dataset in exactly the reference's formats, with biology
//! that is plausible and, above all, learnable beyond the "average condition profile".
//!
//! Model (all rates in log space):
//! * every TF motif m has an activity vector `a_m` over the tracks (cell type × condition),
//!   drawn independently per track and centred across motifs, so no motif mix is "typical";
//! * a gene's DNA (TSS at the centre) carries TF motif occurrences in its promoter (weight 1)
//!   and in upstream enhancers (weight 0.5, either strand); its transcription profile is
//!   `kt = base_g + Σ_occ w_occ · a_m + s·shared`;
//! * its mRNA (5′UTR · CDS · 3′UTR, left-aligned, zero-padded) carries RBP motif occurrences in
//!   the 3′UTR, each with a degradation activity vector `d_r`: `kd = base'_g + Σ_occ d_r + s'·shared'`;
//! * expression `ex = kt − kd`; each observed matrix adds independent Gaussian noise.
//!
//! Every binding *site* is a homotypic cluster of [`SimOptions::site_copies`] copies of its motif
//! (contributing its activity once), and the motifs are 10 bp (TF) and 8 bp (RBP) long. With
//! single 7–8 bp occurrences and 20 motifs the signal is learnable by a ridge regression on known
//! motif counts but too sparse for the demo CNNs to discover from 1,280 training genes: they
//! memorise the training genes and stay at the baseline on held-out ones (measured with model D,
//! 2026-11-25); with clusters of longer motifs model D beats the baseline by about +0.1 in r
//! (`BENCHMARKS.md`).
//!
//! The shared components (`shared`, a general response to each condition) are kept small, so the
//! per-gene correlation across conditions of a predictor that gives every gene the training
//! set's average profile stays low, while the noiseless generative profile scores high
//! ([`learnability`]). Deterministic for a seed: same options ⇒ byte-identical files.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson};

use super::atomic::write_atomically;
use super::error::DataResult;
use super::fasta::base_channel;
use super::matrix::{write_matrix, Matrix};
use super::onehot::write_onehot_npz;

/// Sizes and knobs of a simulated dataset; [`Default`] is the built-in dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    pub n_genes: usize,
    /// DNA window around the TSS (bp); the TSS is at `dna_length / 2`.
    pub dna_length: usize,
    /// RNA input length (bp): the mature mRNA, left-aligned, padded or cut.
    pub rna_length: usize,
    pub n_cell_types: usize,
    /// Conditions (interleukins) per cell type.
    pub n_conditions: usize,
    pub n_tf_motifs: usize,
    pub n_rbp_motifs: usize,
    /// Motif lengths (bp).
    pub tf_motif_length: usize,
    pub rbp_motif_length: usize,
    /// Copies of the motif planted per binding site (a homotypic cluster; the site's activity
    /// counts once).
    pub site_copies: usize,
    /// Standard deviation of the measurement noise relative to the gene-specific signal.
    pub noise: f32,
    /// Weight of the shared (every gene alike) condition response relative to the gene-specific one.
    pub shared: f32,
    /// Number of cross-validation sets.
    pub cv_sets: usize,
    pub seed: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            n_genes: 1600,
            dna_length: 2000,
            rna_length: 2000,
            n_cell_types: 3,
            n_conditions: 7,
            n_tf_motifs: 8,
            n_rbp_motifs: 6,
            tf_motif_length: 10,
            rbp_motif_length: 8,
            site_copies: 3,
            noise: 0.6,
            shared: 0.45,
            cv_sets: 10,
            seed: 1,
        }
    }
}

const INTERLEUKINS: [&str; 12] = ["IL1b", "IL2", "IL4", "IL6", "IL10", "IL12", "IL17", "IL21", "IL23", "IFNg", "TNFa", "TGFb"];
const CELL_TYPES: [&str; 6] = ["Tcell", "Bcell", "Mono", "NK", "DC", "Neutro"];

/// A simulated dataset in memory.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub genes: Vec<String>,
    /// Track names `celltype.condition`, the same in every matrix.
    pub tracks: Vec<String>,
    /// Cell type of every track (the evaluation class).
    pub track_cell_types: Vec<String>,
    /// DNA and RNA in the file layout `(N, L, 4)`, 0/1.
    pub dna: Vec<i8>,
    pub rna: Vec<i8>,
    /// Observed (noisy) matrices `(N, T)`: expression, degradation, transcription.
    pub expression: Vec<f32>,
    pub degradation: Vec<f32>,
    pub transcription: Vec<f32>,
    /// Noiseless expression `(N, T)`, the best any model could predict.
    pub expression_truth: Vec<f32>,
    /// Cross-validation sets of gene indices.
    pub cv_sets: Vec<Vec<usize>>,
    /// The planted motifs (consensus sequences), for motif analyses of trained models.
    pub tf_motifs: Vec<Vec<u8>>,
    pub rbp_motifs: Vec<Vec<u8>>,
    /// Every planted motif copy, in planting order (a later copy may overwrite part of an
    /// earlier one), for checking attributions against the truth (`sim_truth`).
    pub sites: Vec<PlantedSite>,
}

/// Which input a planted site lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteInput {
    Dna,
    Rna,
}

/// One planted motif copy: gene index, input, motif name (`TF<m>`, `RBP<m>`), first position
/// (0-based, bp of the input), length, and strand (`forward` false: the reverse complement was
/// planted). RBP sites of the mRNA appear twice: in the RNA and, where the transcript's start
/// lies inside the DNA window (downstream of the TSS), in the DNA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedSite {
    pub gene: usize,
    pub input: SiteInput,
    pub motif: String,
    pub start: usize,
    pub length: usize,
    pub forward: bool,
}

/// The files of a dataset written by [`write_dataset`] (and used by the built-in dataset).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetPaths {
    pub dir: PathBuf,
    pub dna: PathBuf,
    pub rna: PathBuf,
    pub expression: PathBuf,
    pub degradation: PathBuf,
    pub transcription: PathBuf,
    pub classes: PathBuf,
    pub crossvalidation: PathBuf,
}

impl DatasetPaths {
    /// The standard file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        DatasetPaths {
            dir: dir.to_path_buf(),
            dna: dir.join("dna.npz"),
            rna: dir.join("rna.npz"),
            expression: dir.join("expression.tsv"),
            degradation: dir.join("degradation.tsv"),
            transcription: dir.join("transcription.tsv"),
            classes: dir.join("condition.class.txt"),
            crossvalidation: dir.join("testsetcv10.txt"),
        }
    }

    pub fn all(&self) -> [&Path; 7] {
        [&self.dna, &self.rna, &self.expression, &self.degradation, &self.transcription, &self.classes, &self.crossvalidation]
    }
}

/// A motif: a consensus with a little degeneracy at the flanks.
fn random_motif(rng: &mut StdRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| b"ACGT"[rng.gen_range(0..4)]).collect()
}

fn random_seq(rng: &mut StdRng, len: usize, gc: f64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            let strong = rng.gen_bool(gc);
            let first = rng.gen_bool(0.5);
            match (strong, first) {
                (true, true) => b'C',
                (true, false) => b'G',
                (false, true) => b'A',
                (false, false) => b'T',
            }
        })
        .collect()
}

fn revcomp(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|&b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            _ => b'A',
        })
        .collect()
}

/// Activity vectors (motifs × tracks), independent per track, centred across motifs per track
/// and scaled to unit variance, so that only a gene's own motif mix shapes its profile.
fn activities(rng: &mut StdRng, n_motifs: usize, n_tracks: usize) -> Vec<Vec<f32>> {
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let mut a: Vec<Vec<f32>> = (0..n_motifs).map(|_| (0..n_tracks).map(|_| normal.sample(rng)).collect()).collect();
    for t in 0..n_tracks {
        let mean = a.iter().map(|r| r[t]).sum::<f32>() / n_motifs as f32;
        for r in a.iter_mut() {
            r[t] -= mean;
        }
    }
    a
}

/// Plants `motif` at `pos` (overwriting).
fn plant(seq: &mut [u8], pos: usize, motif: &[u8]) {
    seq[pos..pos + motif.len()].copy_from_slice(motif);
}

/// Plants one binding site: `copies` copies of `motif` at positions drawn by `pick`, each on a
/// random strand when `either_strand` (DNA) and on the forward strand otherwise (mRNA).
fn plant_site(
    rng: &mut StdRng,
    seq: &mut [u8],
    motif: &[u8],
    copies: usize,
    either_strand: bool,
    mut pick: impl FnMut(&mut StdRng) -> usize,
) -> Vec<(usize, bool)> {
    let rc = either_strand.then(|| revcomp(motif));
    let mut planted = Vec::with_capacity(copies);
    for _ in 0..copies {
        let pos = pick(rng);
        let (m, forward) = match &rc {
            Some(rc) if !rng.gen_bool(0.5) => (rc.as_slice(), false),
            _ => (motif, true),
        };
        plant(seq, pos, m);
        planted.push((pos, forward));
    }
    planted
}

/// `profile += w · activity`, track by track.
fn add_activity(profile: &mut [f32], activity: &[f32], w: f32) {
    profile.iter_mut().zip(activity).for_each(|(p, a)| *p += w * a);
}

/// One-hot `(L, 4)` of `seq`, left-aligned, zero-padded/cut to `l`, appended to `out`.
fn push_onehot(out: &mut Vec<i8>, seq: &[u8], l: usize) {
    let start = out.len();
    out.resize(start + l * 4, 0);
    for (p, &b) in seq.iter().take(l).enumerate() {
        if let Some(c) = base_channel(b) {
            out[start + p * 4 + c] = 1;
        }
    }
}

/// Generates a dataset in memory.
pub fn simulate(o: &SimOptions) -> Result<Simulation, String> {
    if o.n_genes < o.cv_sets.max(2) * 2 {
        return Err(format!("--genes {} is too small (need at least {})", o.n_genes, o.cv_sets.max(2) * 2));
    }
    if o.dna_length < 600 || o.rna_length < 300 {
        return Err("--length must be at least 600 bp for DNA and --rna-length at least 300 bp".into());
    }
    if o.n_cell_types == 0 || o.n_cell_types > CELL_TYPES.len() || o.n_conditions < 2 || o.n_conditions > INTERLEUKINS.len() {
        return Err(format!("need 1..={} cell types and 2..={} conditions", CELL_TYPES.len(), INTERLEUKINS.len()));
    }
    let mut rng = StdRng::seed_from_u64(o.seed);
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let n_tracks = o.n_cell_types * o.n_conditions;
    let mut tracks = Vec::new();
    let mut track_cell_types = Vec::new();
    for cell in &CELL_TYPES[..o.n_cell_types] {
        for il in &INTERLEUKINS[..o.n_conditions] {
            tracks.push(format!("{cell}.{il}"));
            track_cell_types.push(cell.to_string());
        }
    }
    if o.n_tf_motifs == 0 || o.n_rbp_motifs == 0 || o.site_copies == 0 {
        return Err("need at least one TF motif, one RBP motif and one copy per site".into());
    }
    if !(4..=20).contains(&o.tf_motif_length) || !(4..=20).contains(&o.rbp_motif_length) {
        return Err("motif lengths must be 4..=20 bp".into());
    }
    let tf_motifs: Vec<Vec<u8>> = (0..o.n_tf_motifs).map(|_| random_motif(&mut rng, o.tf_motif_length)).collect();
    let rbp_motifs: Vec<Vec<u8>> = (0..o.n_rbp_motifs).map(|_| random_motif(&mut rng, o.rbp_motif_length)).collect();
    let tf_act = activities(&mut rng, o.n_tf_motifs, n_tracks);
    let rbp_act = activities(&mut rng, o.n_rbp_motifs, n_tracks);
    let shared_kt: Vec<f32> = (0..n_tracks).map(|_| normal.sample(&mut rng)).collect();
    let shared_kd: Vec<f32> = (0..n_tracks).map(|_| normal.sample(&mut rng)).collect();

    let width = (o.n_genes as f64).log10().floor() as usize + 1;
    let genes: Vec<String> = (0..o.n_genes).map(|i| format!("Gene_{:0width$}", i + 1)).collect();
    let tss = o.dna_length / 2;
    let (mut dna, mut rna) = (Vec::new(), Vec::new());
    let mut kt_true = vec![0f32; o.n_genes * n_tracks];
    let mut kd_true = vec![0f32; o.n_genes * n_tracks];
    let n_prom = Poisson::new(1.5f64).expect("valid poisson");
    let n_enh = Poisson::new(2.0f64).expect("valid poisson");
    let n_utr = Poisson::new(2.0f64).expect("valid poisson");
    let mut sites = Vec::new();
    for g in 0..o.n_genes {
        // mRNA: 5'UTR, CDS (ATG ... stop), 3'UTR.
        let utr5 = rng.gen_range(50..150);
        let cds = 3 * rng.gen_range(60..(o.rna_length / 6).max(61));
        let utr3 = rng.gen_range(200..(o.rna_length / 2).max(201));
        let mut mrna = random_seq(&mut rng, utr5, 0.55);
        mrna.extend_from_slice(b"ATG");
        mrna.extend(random_seq(&mut rng, cds - 6, 0.5));
        mrna.extend_from_slice(b"TAA");
        let utr3_start = mrna.len();
        mrna.extend(random_seq(&mut rng, utr3, 0.4));
        mrna.extend_from_slice(b"AATAAA");
        mrna.truncate(o.rna_length);
        let utr3_end = mrna.len().saturating_sub(6).max(utr3_start);

        let kt = &mut kt_true[g * n_tracks..(g + 1) * n_tracks];
        let kd = &mut kd_true[g * n_tracks..(g + 1) * n_tracks];
        let base_kt = 2.0 + 0.8 * normal.sample(&mut rng);
        let base_kd = -1.0 + 0.5 * normal.sample(&mut rng);
        let shared_w = o.shared * (0.6 + 0.8 * rng.gen::<f32>());
        for t in 0..n_tracks {
            kt[t] = base_kt + shared_w * shared_kt[t];
            kd[t] = base_kd + 0.5 * shared_w * shared_kd[t];
        }

        // RBP motifs in the 3'UTR (forward strand: the RNA input has no reverse complement).
        let mut rbp_sites: Vec<(usize, usize, bool)> = Vec::new();
        let k_utr = n_utr.sample(&mut rng) as usize + 1;
        for _ in 0..k_utr {
            let m = rng.gen_range(0..o.n_rbp_motifs);
            let len = rbp_motifs[m].len();
            if utr3_end < utr3_start + len {
                break;
            }
            let planted =
                plant_site(&mut rng, &mut mrna, &rbp_motifs[m], o.site_copies, false, |r| r.gen_range(utr3_start..=utr3_end - len));
            rbp_sites.extend(planted.into_iter().map(|(start, forward)| (m, start, forward)));
            add_activity(kd, &rbp_act[m], 0.6);
        }
        push_onehot(&mut rna, &mrna, o.rna_length);
        for &(m, start, forward) in &rbp_sites {
            let motif = format!("RBP{m}");
            sites.push(PlantedSite { gene: g, input: SiteInput::Rna, motif: motif.clone(), start, length: o.rbp_motif_length, forward });
        }

        // DNA: upstream background, promoter and enhancer motifs, then the transcript's start.
        let mut seq = random_seq(&mut rng, o.dna_length, 0.42);
        let copy = (o.dna_length - tss).min(mrna.len());
        seq[tss..tss + copy].copy_from_slice(&mrna[..copy]);
        // the transcript's RBP sites, as far as its start lies in the DNA window
        for &(m, start, forward) in rbp_sites.iter().filter(|s| s.1 + o.rbp_motif_length <= copy) {
            sites.push(PlantedSite {
                gene: g,
                input: SiteInput::Dna,
                motif: format!("RBP{m}"),
                start: tss + start,
                length: o.rbp_motif_length,
                forward,
            });
        }
        let k_prom = n_prom.sample(&mut rng) as usize + 1;
        let prom_lo = tss.saturating_sub(250);
        for _ in 0..k_prom {
            let m = rng.gen_range(0..o.n_tf_motifs);
            let hi = tss - 10 - o.tf_motif_length.saturating_sub(8);
            let planted = plant_site(&mut rng, &mut seq, &tf_motifs[m], o.site_copies, true, |r| r.gen_range(prom_lo..hi));
            sites.extend(planted.into_iter().map(|(start, forward)| PlantedSite {
                gene: g,
                input: SiteInput::Dna,
                motif: format!("TF{m}"),
                start,
                length: o.tf_motif_length,
                forward,
            }));
            add_activity(kt, &tf_act[m], 1.0);
        }
        let k_enh = n_enh.sample(&mut rng) as usize;
        let enh_hi = prom_lo.saturating_sub(60);
        for _ in 0..k_enh {
            if enh_hi < 20 {
                break;
            }
            let m = rng.gen_range(0..o.n_tf_motifs);
            // an enhancer: the cluster within 100 bp
            let lo = rng.gen_range(10..enh_hi.saturating_sub(100).max(11));
            let last = prom_lo - o.tf_motif_length;
            let planted = plant_site(&mut rng, &mut seq, &tf_motifs[m], o.site_copies, true, |r| {
                r.gen_range(lo..lo + 100 - o.tf_motif_length).min(last)
            });
            sites.extend(planted.into_iter().map(|(start, forward)| PlantedSite {
                gene: g,
                input: SiteInput::Dna,
                motif: format!("TF{m}"),
                start,
                length: o.tf_motif_length,
                forward,
            }));
            add_activity(kt, &tf_act[m], 0.5);
        }
        push_onehot(&mut dna, &seq, o.dna_length);
    }

    let noisy = |rng: &mut StdRng, v: &[f32]| -> Vec<f32> { v.iter().map(|&x| x + o.noise * normal.sample(rng)).collect() };
    let expression_truth: Vec<f32> = kt_true.iter().zip(&kd_true).map(|(a, b)| a - b).collect();
    let transcription = noisy(&mut rng, &kt_true);
    let degradation = noisy(&mut rng, &kd_true);
    let expression = noisy(&mut rng, &expression_truth);

    let mut order: Vec<usize> = (0..o.n_genes).collect();
    order.shuffle(&mut rng);
    let mut cv_sets: Vec<Vec<usize>> = order
        .chunks(o.n_genes.div_ceil(o.cv_sets))
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_unstable();
            c
        })
        .collect();
    cv_sets.truncate(o.cv_sets);
    Ok(Simulation {
        genes,
        tracks,
        track_cell_types,
        dna,
        rna,
        expression,
        degradation,
        transcription,
        expression_truth,
        cv_sets,
        tf_motifs,
        rbp_motifs,
        sites,
    })
}

/// Writes a simulation as a complete dataset into `dir` (each file atomically).
pub fn write_dataset(sim: &Simulation, o: &SimOptions, dir: &Path) -> DataResult<DatasetPaths> {
    use std::io::Write;
    let p = DatasetPaths::in_dir(dir);
    write_onehot_npz(&p.dna, &sim.genes, o.dna_length, &sim.dna, true)?;
    write_onehot_npz(&p.rna, &sim.genes, o.rna_length, &sim.rna, true)?;
    let matrix = |path: &Path, values: &[f32]| Matrix {
        file: path.to_path_buf(),
        genes: sim.genes.clone(),
        track_names: sim.tracks.clone(),
        values: values.to_vec(),
    };
    write_matrix(&p.expression, &matrix(&p.expression, &sim.expression), '\t')?;
    write_matrix(&p.degradation, &matrix(&p.degradation, &sim.degradation), '\t')?;
    write_matrix(&p.transcription, &matrix(&p.transcription, &sim.transcription), '\t')?;
    write_atomically(&p.classes, |w| {
        writeln!(w, "# track cell_type")?;
        for (t, c) in sim.tracks.iter().zip(&sim.track_cell_types) {
            writeln!(w, "{t} {c}")?;
        }
        Ok(())
    })?;
    write_atomically(&p.crossvalidation, |w| {
        for (j, set) in sim.cv_sets.iter().enumerate() {
            writeln!(w, "# Set_{j}")?;
            let names: Vec<&str> = set.iter().map(|&i| sim.genes[i].as_str()).collect();
            writeln!(w, "{}", names.join(" "))?;
        }
        Ok(())
    })?;
    Ok(p)
}

pub mod learnability {
    //! How much of the simulated signal is "beyond the average profile": the score the use cases
    //! judge by (per gene, Pearson correlation across conditions within each cell type, averaged)
    //! for the average-profile baseline and for the noiseless truth, on held-out genes.

    /// Pearson correlation; 0 for a constant vector.
    pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n;
        let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n;
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (dx, dy) = (x as f64 - ma, y as f64 - mb);
            sab += dx * dy;
            saa += dx * dx;
            sbb += dy * dy;
        }
        if saa == 0.0 || sbb == 0.0 {
            0.0
        } else {
            sab / (saa * sbb).sqrt()
        }
    }

    /// Mean over `rows` and over classes of the per-gene correlation across the tracks of a class.
    pub fn mean_class_correlation(
        pred: impl Fn(usize) -> Vec<f32>,
        obs: &[f32],
        n_tracks: usize,
        classes: &[String],
        rows: &[usize],
    ) -> f64 {
        let mut labels: Vec<&String> = classes.iter().collect();
        labels.sort();
        labels.dedup();
        let mut total = 0.0;
        let mut count = 0usize;
        for &g in rows {
            let p = pred(g);
            let o = &obs[g * n_tracks..(g + 1) * n_tracks];
            for c in &labels {
                let idx: Vec<usize> = (0..n_tracks).filter(|&t| &classes[t] == *c).collect();
                let pc: Vec<f32> = idx.iter().map(|&t| p[t]).collect();
                let oc: Vec<f32> = idx.iter().map(|&t| o[t]).collect();
                total += pearson(&pc, &oc);
                count += 1;
            }
        }
        total / count.max(1) as f64
    }

    /// `(baseline, truth)`: the average-profile baseline (mean training profile given to every
    /// held-out gene) and the noiseless expression, each scored against the observed expression.
    pub fn expression_scores(sim: &super::Simulation, train: &[usize], test: &[usize]) -> (f64, f64) {
        let t = sim.tracks.len();
        let mut avg = vec![0f32; t];
        for &g in train {
            for (a, &v) in avg.iter_mut().zip(&sim.expression[g * t..(g + 1) * t]) {
                *a += v / train.len() as f32;
            }
        }
        let baseline = mean_class_correlation(|_| avg.clone(), &sim.expression, t, &sim.track_cell_types, test);
        let truth =
            mean_class_correlation(|g| sim.expression_truth[g * t..(g + 1) * t].to_vec(), &sim.expression, t, &sim.track_cell_types, test);
        (baseline, truth)
    }
}
