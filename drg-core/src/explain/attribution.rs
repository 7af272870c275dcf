//! Per-base attributions of a model's predictions (drg-after-training.md §8): gradients of the
//! (group-mean) outputs with respect to the one-hot inputs (the reference's `grad`, "TISM"), and
//! in-silico saturation mutagenesis (`ism`), both in the reference's zero-mean gauge, optionally
//! restricted to a window of positions.
//!
//! Gradients run in batches through the model's own forward pass (the same ops as training) in
//! eval mode: every input carries a leaky `OwnedTape`, one backward pass per explained output
//! gives the gradient of every sequence of the batch (rows are independent in eval mode).

use std::ops::Range;

use anyhow::{bail, ensure, Context};
use dfdx::prelude::*;

use super::tracks::TrackGroups;
use crate::data::Dataset;
use crate::device::DrgDevice;
use crate::layers::Ctx;
use crate::model::{DrgModel, InputBatch};

/// What an attribution map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The gradient, zero-mean over the 4 bases at each position (the reference's `grad`).
    Grad,
    /// The zero-mean gradient times the one-hot input: the contribution of each present base
    /// (zero at absent bases and at padding). Not in the reference; its `top` selection scores
    /// positions by exactly this value.
    GradTimesInput,
    /// In-silico saturation mutagenesis: prediction(variant) − prediction(reference) for every
    /// base that is not the reference's, zero-mean over the 4 bases (the reference's `ism`).
    Ism,
}

impl Method {
    /// `grad`, `gradxinput` or `ism`; anything else is an error naming the choices.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "grad" => Method::Grad,
            "gradxinput" => Method::GradTimesInput,
            "ism" => Method::Ism,
            other => bail!("--sequence_attributions: unknown type '{other}' (grad, gradxinput or ism)"),
        })
    }

    /// The type's name in the output file name (`<prefix>_<type><tracks>.npz`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Grad => "grad",
            Method::GradTimesInput => "gradxinput",
            Method::Ism => "ism",
        }
    }
}

/// The positions an attribution covers, `start..end` in bp of the sequence (`--attribution_window
/// START:END`); the whole sequence by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
}

impl Window {
    /// Parses `START:END` and checks it against every input length: one error line naming the
    /// window and the length it exceeds.
    pub fn parse(text: &str, lengths: &[usize]) -> anyhow::Result<Self> {
        let (a, b) = text.split_once(':').with_context(|| format!("--attribution_window '{text}': want START:END in bp"))?;
        let start: usize = a.trim().parse().with_context(|| format!("--attribution_window '{text}': START is not a position"))?;
        let end: usize = b.trim().parse().with_context(|| format!("--attribution_window '{text}': END is not a position"))?;
        ensure!(start < end, "--attribution_window {text}: START must be below END");
        let shortest = lengths.iter().copied().min().unwrap_or(0);
        ensure!(end <= shortest, "--attribution_window {text}: the window lies outside the sequence (length {shortest} bp)");
        Ok(Window { start, end })
    }

    /// The whole sequence of the shortest input.
    pub fn whole(lengths: &[usize]) -> Self {
        Window { start: 0, end: lengths.iter().copied().min().unwrap_or(0) }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// The attribution maps of a set of genes: for every input, `genes × groups × 4 × window`
/// row-major (the reference's `(N, T, 4, L)` layout restricted to the window).
#[derive(Debug, Clone)]
pub struct Attributions {
    pub method: Method,
    pub genes: Vec<String>,
    pub experiments: Vec<String>,
    pub window: Window,
    pub per_input: Vec<Vec<f64>>,
}

impl Attributions {
    /// The value of input `k`, gene `i`, group `t`, base `c`, window position `p`.
    pub fn at(&self, k: usize, i: usize, t: usize, c: usize, p: usize) -> f64 {
        let (nt, w) = (self.experiments.len(), self.window.len());
        self.per_input[k][((i * nt + t) * 4 + c) * w + p]
    }
}

/// Subtracts, at every position of every `(4, w)` block, the mean over the 4 bases: the
/// reference's zero-mean gauge (`correct_by_mean`), the attribution against a uniform 0.25
/// baseline.
pub fn zero_mean_gauge(values: &mut [f64], w: usize) {
    for block in values.chunks_exact_mut(4 * w) {
        for p in 0..w {
            let mean = (0..4).map(|c| block[c * w + p]).sum::<f64>() / 4.0;
            (0..4).for_each(|c| block[c * w + p] -= mean);
        }
    }
}

/// The one-hot inputs of `rows`, input `k` as `rows × 4 × L` row-major.
fn host_inputs(data: &Dataset, rows: &[usize]) -> Vec<Vec<f32>> {
    data.gather_inputs(rows)
}

/// Copies `(4, L)` rows of a `(b, 4, L)` buffer, window positions only, into `(b, 4, w)`.
fn crop(full: &[f32], l: usize, window: Window) -> Vec<f64> {
    full.chunks_exact(l).flat_map(|row| row[window.range()].iter().map(|&v| f64::from(v))).collect()
}

/// Gradient maps ([`Method::Grad`] or [`Method::GradTimesInput`]) of `rows` for every group, in
/// batches of `batch_size`.
#[allow(clippy::too_many_arguments)]
pub fn gradients<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    groups: &TrackGroups,
    window: Window,
    batch_size: usize,
    times_input: bool,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let widths = data.n_tracks();
    let total: usize = widths.iter().sum();
    let lengths = data.lengths();
    let (nt, w) = (groups.len(), window.len());
    let mut out: Vec<Vec<f64>> = lengths.iter().map(|_| vec![0.0; rows.len() * nt * 4 * w]).collect();
    for (chunk_index, chunk) in rows.chunks(batch_size.max(1)).enumerate() {
        let b = chunk.len();
        let host = host_inputs(data, chunk);
        for g in 0..nt {
            let xs: Vec<InputBatch<D, NoneTape>> =
                host.iter().zip(&lengths).map(|(x, &l)| dev.tensor_from_vec(x.clone(), (b, 4, l))).collect();
            let inputs: Vec<InputBatch<D, OwnedTape<f32, D>>> = xs.iter().map(|x| x.clone().retaped::<OwnedTape<f32, D>>()).collect();
            let heads = model.forward(inputs, &mut Ctx::eval());
            ensure!(
                heads.len() == widths.len(),
                "model {} returned {} outputs for {} output files",
                M::SPEC.name,
                heads.len(),
                widths.len()
            );
            let weights = groups.weights(g, total);
            let mut objective: Option<Tensor<Rank0, f32, D, OwnedTape<f32, D>>> = None;
            let mut offset = 0;
            for (head, &wh) in heads.into_iter().zip(&widths) {
                let mask: Vec<f32> = (0..b).flat_map(|_| weights[offset..offset + wh].iter().copied()).collect();
                let mask = dev.tensor_from_vec(mask, (b, wh));
                let term = (head * mask).sum::<Rank0, _>();
                objective = Some(match objective {
                    None => term,
                    Some(o) => o + term,
                });
                offset += wh;
            }
            let grads = objective.context("the model has no outputs")?.backward();
            for (k, x) in xs.iter().enumerate() {
                let l = lengths[k];
                let grad = grads.get(x).as_vec();
                let mut gw = crop(&grad, l, window);
                zero_mean_gauge(&mut gw, w);
                if times_input {
                    let xw = crop(&host[k], l, window);
                    gw.iter_mut().zip(&xw).for_each(|(v, x)| *v *= x);
                }
                for (r, block) in gw.chunks_exact(4 * w).enumerate() {
                    let i = chunk_index * batch_size.max(1) + r;
                    let dst = ((i * nt) + g) * 4 * w;
                    out[k][dst..dst + 4 * w].copy_from_slice(block);
                }
            }
        }
        dev.end_pass();
    }
    Ok(out)
}

/// The model's predictions of one batch (`inputs[k]` is `b × 4 × L_k`), heads concatenated, as
/// the group means: `b × groups`.
pub fn group_predictions<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    inputs: Vec<Vec<f32>>,
    lengths: &[usize],
    b: usize,
    widths: &[usize],
    groups: &TrackGroups,
) -> Vec<f64> {
    let xs: Vec<InputBatch<D, NoneTape>> = inputs.into_iter().zip(lengths).map(|(x, &l)| dev.tensor_from_vec(x, (b, 4, l))).collect();
    let heads: Vec<Vec<f32>> = model.forward(xs, &mut Ctx::eval()).iter().map(|h| h.as_vec()).collect();
    let total: usize = widths.iter().sum();
    let mut out = vec![0f64; b * groups.len()];
    for r in 0..b {
        let mut row = Vec::with_capacity(total);
        for (h, &wh) in heads.iter().zip(widths) {
            row.extend_from_slice(&h[r * wh..(r + 1) * wh]);
        }
        for (g, members) in groups.members.iter().enumerate() {
            out[r * groups.len() + g] = members.iter().map(|&t| f64::from(row[t])).sum::<f64>() / members.len() as f64;
        }
    }
    out
}

/// One mutation of ISM: input `input`, window position `p` (absolute), set to base `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub input: usize,
    pub position: usize,
    pub base: usize,
}

/// The variants of one gene in the window: for every input and position, every base whose
/// one-hot entry is 0 (3 at a normal base, 4 at padding or N), as the reference enumerates them.
pub fn variants(seqs: &[Vec<f32>], lengths: &[usize], window: Window) -> Vec<Variant> {
    let mut v = Vec::new();
    for (k, (x, &l)) in seqs.iter().zip(lengths).enumerate() {
        for p in window.range() {
            for c in 0..4 {
                if x[c * l + p] == 0.0 {
                    v.push(Variant { input: k, position: p, base: c });
                }
            }
        }
    }
    v
}

/// Sets column `p` of a `(4, L)` one-hot sequence to base `c`.
pub fn mutate(x: &mut [f32], l: usize, p: usize, c: usize) {
    (0..4).for_each(|b| x[b * l + p] = 0.0);
    x[c * l + p] = 1.0;
}

/// Naive ISM: every variant of every gene predicted in full, `batch_size` variants at a time; the
/// reference predictions of the genes in batches of `batch_size` (the reference's `ism`).
#[allow(clippy::too_many_arguments)]
pub fn ism_naive<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    groups: &TrackGroups,
    window: Window,
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let widths = data.n_tracks();
    let lengths = data.lengths();
    let (nt, w, bs) = (groups.len(), window.len(), batch_size.max(1));
    let mut out: Vec<Vec<f64>> = lengths.iter().map(|_| vec![0.0; rows.len() * nt * 4 * w]).collect();
    let mut reference = Vec::with_capacity(rows.len() * nt);
    for chunk in rows.chunks(bs) {
        reference.extend(group_predictions(model, dev, host_inputs(data, chunk), &lengths, chunk.len(), &widths, groups));
    }
    for (i, &row) in rows.iter().enumerate() {
        let seqs = host_inputs(data, &[row]);
        let all = variants(&seqs, &lengths, window);
        for batch in all.chunks(bs) {
            let b = batch.len();
            let mut inputs: Vec<Vec<f32>> = lengths.iter().map(|&l| Vec::with_capacity(b * 4 * l)).collect();
            for v in batch {
                for (k, x) in seqs.iter().enumerate() {
                    let start = inputs[k].len();
                    inputs[k].extend_from_slice(x);
                    if k == v.input {
                        mutate(&mut inputs[k][start..], lengths[k], v.position, v.base);
                    }
                }
            }
            let preds = group_predictions(model, dev, inputs, &lengths, b, &widths, groups);
            for (r, v) in batch.iter().enumerate() {
                for g in 0..nt {
                    let delta = preds[r * nt + g] - reference[i * nt + g];
                    out[v.input][((i * nt + g) * 4 + v.base) * w + v.position - window.start] = delta;
                }
            }
        }
        dev.end_pass();
    }
    out.iter_mut().for_each(|o| zero_mean_gauge(o, w));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_checked_against_every_input() {
        assert_eq!(Window::parse("10:20", &[100, 50]).unwrap(), Window { start: 10, end: 20 });
        let e = Window::parse("40:60", &[100, 50]).unwrap_err().to_string();
        assert_eq!(e, "--attribution_window 40:60: the window lies outside the sequence (length 50 bp)");
        assert!(Window::parse("20:10", &[100]).unwrap_err().to_string().contains("START must be below END"));
        assert!(Window::parse("x:10", &[100]).is_err());
        assert!(Window::parse("10", &[100]).is_err());
    }

    #[test]
    fn gauge_makes_every_position_zero_mean() {
        // two (4, 2) blocks
        let mut v = vec![1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 6.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0];
        zero_mean_gauge(&mut v, 2);
        assert_eq!(&v[..8], &[-2.0, -1.0, -1.0, -1.0, 0.0, -1.0, 3.0, 3.0]);
        assert_eq!(&v[8..], &[-1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 3.0, 0.0]);
    }

    #[test]
    fn variants_are_the_absent_bases_and_four_at_padding() {
        // (4, 3): A, padding, T
        let x = vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let v = variants(std::slice::from_ref(&x), &[3], Window { start: 0, end: 3 });
        assert_eq!(v.len(), 3 + 4 + 3);
        assert!(v.iter().all(|v| x[v.base * 3 + v.position] == 0.0));
        let mut y = x.clone();
        mutate(&mut y, 3, 0, 2);
        assert_eq!(y, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
