//! What the first-layer kernels learned (`--kernel_analysis`, drg-after-training.md §6–§7):
//!
//! * the reference's weight PPM of each kernel (§6.1, `kernel_to_ppm`) and its IUPAC string
//!   (§6.2), written as `<prefix>_kernel_ppms.meme`;
//! * an activation PPM of each kernel: the base frequencies of the sequence windows where the
//!   kernel responds most over the training sequences (`<prefix>_kernel_actppms.meme`, drg-rs's
//!   addition, asked for by issue 13);
//! * each kernel's importance per track, by replacing its output channel with a constant at every
//!   position and predicting again (§7.2), as the tables `_kernattrack.dat` (correlation),
//!   `_kernmsetrack.dat` (RMSE), `_kernimpact.dat` (effect) and `_kerneffct.dat` (summed effect).
//!
//! Replacing output channel k of the first convolution by the constant m_k is done through the
//! weights: kernel k's weights set to 0 and its bias to m_k give exactly m_k at every position, on
//! both strands of a reverse-complement stem (whose max of two equal values is that value).
//! m_k is the mean of the kernel's activation over uniformly random bases (the reference's
//! `nullify=mean`), computed exactly (bias + ¼ Σ W) instead of from 200,000 random seqlets.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::meme::{write_meme, Motif};
use crate::data::Dataset;
use crate::device::DrgDevice;
use crate::eval::atomic_file::write_atomically;
use crate::eval::float_text::{numpy_round, python_repr, python_round};
use crate::import::load::{export_state_dict, load_state_dict, LoadOptions};
use crate::model::DrgModel;
use crate::train::passes::predict;
use crate::train::progress::Progress;

/// §6.1: the reference's PPM of a `(4, l)` kernel with bias `b`, in float32, rounded to 3 dp.
pub fn kernel_to_ppm(w: &[f32], bias: f32) -> Vec<f32> {
    let l = w.len() / 4;
    let mut v: Vec<f32> = w.iter().map(|&x| x + bias / (4 * l) as f32).collect();
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt();
    v.iter_mut().for_each(|x| *x = (*x / sd + (0.25f32).log2()).exp2());
    let max_col = (0..l).map(|j| (0..4).map(|c| v[c * l + j]).sum::<f32>()).fold(0f32, f32::max);
    v.iter().map(|x| numpy_round(f64::from(x / max_col), 3) as f32).collect()
}

/// §6.2: the IUPAC letter of each position of a `(4, l)` PPM (bases with probability > 0.3).
pub fn iupac(ppm: &[f32]) -> String {
    let l = ppm.len() / 4;
    (0..l)
        .map(|j| {
            let present: Vec<bool> = (0..4).map(|c| ppm[c * l + j] > 0.3).collect();
            match present.as_slice() {
                [true, false, false, false] => 'A',
                [false, true, false, false] => 'C',
                [false, false, true, false] => 'G',
                [false, false, false, true] => 'T',
                [true, false, true, false] => 'R',
                [false, true, false, true] => 'Y',
                [false, true, true, false] => 'S',
                [true, false, false, true] => 'W',
                [false, false, true, true] => 'K',
                [true, true, false, false] => 'M',
                [false, true, true, true] => 'B',
                [true, false, true, true] => 'D',
                [true, true, false, true] => 'H',
                [true, true, true, false] => 'V',
                _ => 'N',
            }
        })
        .collect()
}

/// The activation PPM of a `(4, l)` kernel over the forward strand of `seqs` (rows of `(4, L)`
/// one-hot): the windows whose activation W·x + b is at least half the largest (at most `cap`
/// of the highest), their base counts normalised per position. `None` if no window responds
/// positively.
pub fn activation_ppm(w: &[f32], bias: f32, seqs: &[f32], len: usize, cap: usize) -> Option<Vec<f32>> {
    let l = w.len() / 4;
    if len < l {
        return None;
    }
    let mut acts: Vec<(f32, usize, usize)> = Vec::new();
    for (r, x) in seqs.chunks_exact(4 * len).enumerate() {
        // the base at each position (None: padding or N)
        let bases: Vec<Option<usize>> = (0..len).map(|p| (0..4).find(|&c| x[c * len + p] == 1.0)).collect();
        for p in 0..=len - l {
            let a = bias + (0..l).map(|j| bases[p + j].map_or(0.0, |c| w[c * l + j])).sum::<f32>();
            acts.push((a, r, p));
        }
    }
    let max = acts.iter().map(|a| a.0).fold(f32::NEG_INFINITY, f32::max);
    if max <= 0.0 {
        return None;
    }
    acts.retain(|a| a.0 >= 0.5 * max);
    acts.sort_by(|a, b| b.0.total_cmp(&a.0));
    acts.truncate(cap);
    let mut counts = vec![0f32; 4 * l];
    for &(_, r, p) in &acts {
        let x = &seqs[r * 4 * len..(r + 1) * 4 * len];
        for j in 0..l {
            (0..4).for_each(|c| counts[c * l + j] += x[c * len + p + j]);
        }
    }
    for j in 0..l {
        let s: f32 = (0..4).map(|c| counts[c * l + j]).sum();
        if s > 0.0 {
            (0..4).for_each(|c| counts[c * l + j] /= s);
        }
    }
    Some(counts)
}

/// `round(1 − r, 4)` of two vectors (2.0 when either is constant, as the reference).
fn corrdist(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa == 0.0 || bb == 0.0 {
        return 2.0;
    }
    python_round(1.0 - ab / (aa * bb).sqrt(), 4)
}

fn rmse(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64).sqrt()
}

/// The per-kernel tables of §7.2 (K rows × ΣT columns each).
#[derive(Debug, Clone)]
pub struct KernelImportance {
    pub importance: Vec<Vec<f64>>,
    pub mse_importance: Vec<Vec<f64>>,
    pub effect: Vec<Vec<f64>>,
    pub abs_effect: Vec<Vec<f64>>,
}

/// Column `t` of a `rows × total` matrix.
fn column(m: &[f64], total: usize, t: usize) -> Vec<f64> {
    m.iter().skip(t).step_by(total).copied().collect()
}

/// §7.2 steps 1–4 from the baseline predictions `p`, the masked predictions `pm` and the
/// measured `y` (all `rows × total`), appended as kernel rows to `out`.
fn importance_rows(p: &[f64], pm: &[f64], y: &[f64], total: usize, out: &mut KernelImportance) {
    let rows = p.len() / total;
    let mut imp = Vec::with_capacity(total);
    let mut mse = Vec::with_capacity(total);
    for t in 0..total {
        let (pc, pmc, yc) = (column(p, total, t), column(pm, total, t), column(y, total, t));
        imp.push(python_round(corrdist(&pmc, &yc) - corrdist(&pc, &yc), 3));
        mse.push(python_round(rmse(&pmc, &yc) - rmse(&pc, &yc), 6));
    }
    let d: Vec<f64> = p.iter().zip(pm).map(|(a, b)| a - b).collect();
    let denom: Vec<f64> = (0..rows).map(|g| d[g * total..(g + 1) * total].iter().map(|v| v * v).sum()).collect();
    let effect: Vec<f64> = (0..total).map(|t| python_round((0..rows).map(|g| d[g * total + t].powi(3) / denom[g]).sum(), 6)).collect();
    let abs_effect: Vec<f64> = (0..total).map(|t| python_round((0..rows).map(|g| d[g * total + t]).sum(), 6)).collect();
    out.importance.push(imp);
    out.mse_importance.push(mse);
    out.effect.push(effect);
    out.abs_effect.push(abs_effect);
}

/// What `--kernel_analysis` computed.
#[derive(Debug, Clone)]
pub struct KernelAnalysis {
    pub kernels: Vec<Motif>,
    pub weight_ppms: Vec<Motif>,
    pub activation_ppms: Vec<Motif>,
    pub iupac: Vec<String>,
    pub tables: KernelImportance,
    pub tracks: Vec<String>,
}

/// Runs the analysis on `model` over every row of `data` (the reference uses all rows); activation
/// PPMs over the training rows.
pub fn analyse_kernels<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    batch_size: usize,
) -> anyhow::Result<KernelAnalysis> {
    let sd = export_state_dict(model);
    let kernels = super::meme::first_layer_kernels(&sd);
    if kernels.is_empty() {
        bail!("--kernel_analysis: model {} has no first convolution (`convolutions.conv1d`)", M::SPEC.name);
    }
    let keys: Vec<String> = sd.entries.keys().filter(|k| k.contains("convolutions.conv1d") && k.ends_with(".weight")).cloned().collect();
    let rows: Vec<usize> = (0..data.n_genes()).collect();
    let total: usize = data.n_tracks().iter().sum();
    let quiet = Progress::auto(0);
    let base: Vec<f64> = predict(model, dev, data, &rows, batch_size, &quiet)?.into_iter().map(f64::from).collect();
    let y: Vec<f64> = crate::train::data_fit::targets_side_by_side(data, &rows).into_iter().map(f64::from).collect();
    let mut tables = KernelImportance { importance: vec![], mse_importance: vec![], effect: vec![], abs_effect: vec![] };
    let mut weight_ppms = Vec::new();
    let mut activation_ppms = Vec::new();
    let mut iupacs = Vec::new();
    let train_rows = if data.split.train.is_empty() { rows.clone() } else { data.split.train.clone() };
    let mut k_global = 0;
    for (layer, key) in keys.iter().enumerate() {
        let e = &sd.entries[key];
        let (nk, l) = (e.shape[0], e.shape[2]);
        let bias_key = format!("{}.bias", key.trim_end_matches(".weight"));
        // the input this trunk reads: trunks are in input order
        let input = layer.min(data.inputs.len() - 1);
        let seqs = data.gather_input(input, &train_rows);
        let len = data.inputs[input].length;
        for j in 0..nk {
            let m = &kernels[k_global];
            k_global += 1;
            let bias = m.bias.unwrap_or(0.0);
            let ppm = kernel_to_ppm(&m.values, bias);
            iupacs.push(iupac(&ppm));
            weight_ppms.push(Motif { name: m.name.clone(), values: ppm, width: l, bias: None });
            if let Some(a) = activation_ppm(&m.values, bias, &seqs, len, 1000) {
                activation_ppms.push(Motif { name: m.name.clone(), values: a, width: l, bias: None });
            }
            // nullify: weights 0, bias = the mean activation over uniform random bases
            let mean = bias + 0.25 * m.values.iter().sum::<f32>();
            let mut masked = sd.clone();
            let w = masked.entries.get_mut(key).context("kernel weights")?;
            w.values[j * 4 * l..(j + 1) * 4 * l].iter_mut().for_each(|v| *v = 0.0);
            match masked.entries.get_mut(&bias_key) {
                Some(b) => b.values[j] = mean,
                None if mean != 0.0 => bail!("--kernel_analysis: {key} has no bias, so kernel {j} cannot be set to its mean"),
                None => {}
            }
            let mut copy = model.clone();
            load_state_dict(&mut copy, &masked, &LoadOptions { allow_unused: true, ..LoadOptions::default() })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let pm: Vec<f64> = predict(&mut copy, dev, data, &rows, batch_size, &quiet)?.into_iter().map(f64::from).collect();
            importance_rows(&base, &pm, &y, total, &mut tables);
        }
    }
    Ok(KernelAnalysis { kernels, weight_ppms, activation_ppms, iupac: iupacs, tables, tracks: data.eval_track_names.concat() })
}

/// One table: `# Kernel IUPAC <tracks>` and `<filter> <IUPAC> <values>` rows, space-separated.
fn write_table(path: &PathBuf, a: &KernelAnalysis, values: &[Vec<f64>]) -> anyhow::Result<()> {
    write_atomically(path, |w| {
        writeln!(w, "# Kernel IUPAC {}", a.tracks.join(" "))?;
        for ((m, iu), row) in a.kernels.iter().zip(&a.iupac).zip(values) {
            let vals: Vec<String> = row.iter().map(|&v| python_repr(v)).collect();
            writeln!(w, "{} {iu} {}", m.name, vals.join(" "))?;
        }
        Ok(())
    })
}

/// Writes the analysis under `prefix` with the reference's file names; returns the files.
pub fn write_kernel_analysis(prefix: &str, a: &KernelAnalysis) -> anyhow::Result<Vec<PathBuf>> {
    let file = |s: &str| PathBuf::from(format!("{prefix}{s}"));
    let mut files = vec![file("_kernel_ppms.meme"), file("_kernel_actppms.meme")];
    write_meme(&files[0], &a.weight_ppms)?;
    write_meme(&files[1], &a.activation_ppms)?;
    for (suffix, values) in [
        ("_kernattrack.dat", &a.tables.importance),
        ("_kernmsetrack.dat", &a.tables.mse_importance),
        ("_kernimpact.dat", &a.tables.effect),
        ("_kerneffct.dat", &a.tables.abs_effect),
    ] {
        let path = file(suffix);
        write_table(&path, a, values)?;
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_ppm_follows_the_reference_formula() {
        // one kernel (4, 2) preferring A then G: P[c,j] = 2^(W/σ) / max_j Σ_c 2^(W/σ); the bias cancels
        let w = [1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let p = kernel_to_ppm(&w, 0.7);
        let sd = (w.iter().map(|x| (x - 0.25) * (x - 0.25)).sum::<f32>() / 8.0).sqrt();
        let e = (1.0 / sd).exp2();
        let col = e + 3.0;
        let want = [e / col, 1.0 / col, 1.0 / col, 1.0 / col, 1.0 / col, e / col, 1.0 / col, 1.0 / col];
        for (g, w) in p.iter().zip(want) {
            assert!((g - (w * 1000.0).round() / 1000.0).abs() < 1e-6, "{p:?} vs {want:?}");
        }
        assert_eq!(iupac(&p), "AG");
        // (4, 2): A, C and G above 0.3 at position 0, nothing at position 1
        assert_eq!(iupac(&[0.4, 0.1, 0.4, 0.1, 0.4, 0.1, 0.1, 0.0]), "VN");
    }

    #[test]
    fn activation_ppm_counts_the_best_windows() {
        // kernel "AC" (2 bp) over a sequence ACGTAC: windows at 0 and 4 score 2, others ≤ 0
        let w = [1.0f32, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        let seq = "ACGTAC";
        let mut x = vec![0f32; 4 * 6];
        for (p, b) in seq.bytes().enumerate() {
            x["ACGT".bytes().position(|c| c == b).unwrap() * 6 + p] = 1.0;
        }
        let p = activation_ppm(&w, 0.0, &x, 6, 10).unwrap();
        assert_eq!(p, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn importance_is_the_change_of_correlation_distance() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let p = [1.0, 2.0, 3.0, 4.0];
        let pm = [1.0, 3.0, 2.0, 4.0];
        let mut t = KernelImportance { importance: vec![], mse_importance: vec![], effect: vec![], abs_effect: vec![] };
        importance_rows(&p, &pm, &y, 1, &mut t);
        // r(pm, y) = 0.8: distance 0.2 against 0.0
        assert_eq!(t.importance, vec![vec![0.2]]);
        assert_eq!(t.mse_importance, vec![vec![python_round((0.5f64).sqrt(), 6)]]);
        assert_eq!(t.abs_effect, vec![vec![0.0]]);
    }
}
