//! Fast in-silico saturation mutagenesis: the values of naive ISM ([`super::attribution::ism_naive`],
//! one full forward pass per variant) at a fraction of the cost, by the locality of the
//! convolutions (the idea of fastISM, Nair et al. 2022). Per gene, every node of every trunk is
//! computed once for the reference sequence and kept; a batch of variants at neighbouring
//! positions then recomputes each node only on the stretches its input changed
//! ([`super::ism_stretch`]), up to the trunk's last sequence node, whose whole `(C, L)` output
//! (reference values with the changed stretches over them) feeds the dense layers after
//! `flatten` and the heads, run in full for the batch (one small GEMM per layer).
//!
//! The model is walked through its declaration's IR with its own weights ([`ModelPlan`]); a
//! model whose layers have no stretch-wise rule (attention) is [`Unsupported`] and the caller
//! falls back to naive ISM. Values equal naive ISM's up to float rounding (the stretches are
//! summed in other blocks than the whole sequence): `tests/ism_fast.rs` checks every variant of a
//! window on seed models B, C and D.

use std::ops::Range;

use gemm::Parallelism;

use super::attribution::{zero_mean_gauge, Window};
use super::ism_plan::{DenseLayer, HeadsPlan, ModelPlan, Op, TrunkPlan, Unsupported};
use super::ism_stretch::{gather, step, Cached, NodeInput, Patch, RangeMin};
use super::tracks::TrackGroups;
use crate::data::Dataset;
use crate::device::DrgDevice;
use crate::import::export_state_dict;
use crate::model::DrgModel;
use crate::ops::gelu::gelu_value;
use crate::ops::sgemm::sgemm;

/// Positions mutated together in one batch (every variant at them): their changed stretches
/// overlap almost entirely, so the batch costs little more than one position and runs the
/// convolutions as batched GEMMs.
pub const POSITIONS_PER_BATCH: usize = 8;

/// A model prepared for fast ISM.
pub struct FastIsm {
    plan: ModelPlan,
}

impl FastIsm {
    /// The plan of `model` from its family's declaration text (`ModelFamily::DECLARATION`), or why
    /// it has none.
    pub fn new<M: DrgModel<D>, D: DrgDevice>(model: &M, declaration: &str) -> Result<Self, Unsupported> {
        let ir = drg_dsl::declared_model(declaration, M::SPEC.name).map_err(Unsupported)?;
        let plan = ModelPlan::new(&ir, M::SPEC.variant, &export_state_dict(model))?;
        Ok(FastIsm { plan })
    }

    /// ISM maps of `rows` for every group in the window: the layout and gauge of
    /// [`super::attribution::ism_naive`] (per input, `genes × groups × 4 × window`).
    pub fn run(&self, data: &Dataset, rows: &[usize], groups: &TrackGroups, window: Window) -> anyhow::Result<Vec<Vec<f64>>> {
        let lengths = data.lengths();
        anyhow::ensure!(
            lengths.len() == self.plan.trunks.len(),
            "fast ISM: {} inputs for {} trunks",
            lengths.len(),
            self.plan.trunks.len()
        );
        for (t, &l) in self.plan.trunks.iter().zip(&lengths) {
            anyhow::ensure!(t.nodes[0].len == l, "fast ISM: a sequence of {l} bp for a trunk of {} bp", t.nodes[0].len);
        }
        let (nt, w) = (groups.len(), window.len());
        let mut out: Vec<Vec<f64>> = lengths.iter().map(|_| vec![0.0; rows.len() * nt * 4 * w]).collect();
        for (i, &row) in rows.iter().enumerate() {
            let seqs = data.gather_inputs(&[row]);
            let caches: Vec<Vec<Cached>> = self.plan.trunks.iter().zip(&seqs).map(|(t, x)| reference_pass(t, x)).collect();
            let features: Vec<Vec<f32>> =
                self.plan.trunks.iter().zip(&caches).map(|(t, c)| dense(&t.dense, c.last().expect("nodes").data.clone(), 1)).collect();
            let reference = group_means(&outputs(&self.plan.heads, &features, 1), 1, groups);
            for (k, (trunk, x)) in self.plan.trunks.iter().zip(&seqs).enumerate() {
                let l = lengths[k];
                for start in window.range().step_by(POSITIONS_PER_BATCH) {
                    let positions = start..(start + POSITIONS_PER_BATCH).min(window.end);
                    let variants: Vec<(usize, usize)> =
                        positions.clone().flat_map(|p| (0..4).filter(move |&c| x[c * l + p] == 0.0).map(move |c| (p, c))).collect();
                    if variants.is_empty() {
                        continue;
                    }
                    let b = variants.len();
                    let mut trunk_features = features.clone();
                    trunk_features[k] = dense(&trunk.dense, variant_pass(trunk, &caches[k], x, positions.clone(), &variants), b);
                    for (t, f) in trunk_features.iter_mut().enumerate() {
                        if t != k {
                            *f = f.repeat(b);
                        }
                    }
                    let preds = group_means(&outputs(&self.plan.heads, &trunk_features, b), b, groups);
                    for (r, &(p, c)) in variants.iter().enumerate() {
                        for g in 0..nt {
                            out[k][((i * nt + g) * 4 + c) * w + p - window.start] = preds[r * nt + g] - reference[g];
                        }
                    }
                }
            }
        }
        out.iter_mut().for_each(|o| zero_mean_gauge(o, w));
        Ok(out)
    }
}

/// Whether node `n` of `trunk` is read by a pool that pads with its input's minimum.
fn feeds_min_pool(trunk: &TrunkPlan, n: usize) -> bool {
    trunk.nodes.iter().any(|m| matches!(m.op, Op::Pool { kind, .. } if kind != super::ism_plan::PoolKind::Mean) && m.inputs.contains(&n))
}

/// Every node of `trunk` for the reference sequence `x` (`(4, L)`): the same steps as a variant,
/// with the whole sequence as the changed stretch over an all-zero reference.
fn reference_pass(trunk: &TrunkPlan, x: &[f32]) -> Vec<Cached> {
    let mut cached: Vec<Cached> = Vec::with_capacity(trunk.nodes.len());
    for (n, node) in trunk.nodes.iter().enumerate() {
        let data = match node.op {
            Op::Input => x.to_vec(),
            _ => {
                let zeros: Vec<Cached> = node
                    .inputs
                    .iter()
                    .map(|&j| Cached { data: vec![0.0; trunk.nodes[j].channels * trunk.nodes[j].len], min: None })
                    .collect();
                let patches: Vec<Patch> = node
                    .inputs
                    .iter()
                    .map(|&j| Patch { ranges: std::iter::once(0..trunk.nodes[j].len).collect(), values: vec![cached[j].data.clone()] })
                    .collect();
                let inputs: Vec<NodeInput> = node
                    .inputs
                    .iter()
                    .zip(zeros.iter().zip(&patches))
                    .map(|(&j, (reference, patch))| NodeInput {
                        reference,
                        patch,
                        channels: trunk.nodes[j].channels,
                        len: trunk.nodes[j].len,
                    })
                    .collect();
                let mut p = step(node, &inputs, None, 1);
                debug_assert!(p.ranges.len() == 1 && p.ranges[0] == (0..node.len));
                p.values.swap_remove(0)
            }
        };
        let min = feeds_min_pool(trunk, n).then(|| RangeMin::new(&data, node.channels, node.len));
        cached.push(Cached { data, min });
    }
    cached
}

/// The flat features (`b × C·L`, channel-major as `flatten`) of the batch of `variants`
/// (`(position, base)`, all within `positions`) of the sequence `x`.
fn variant_pass(trunk: &TrunkPlan, cache: &[Cached], x: &[f32], positions: Range<usize>, variants: &[(usize, usize)]) -> Vec<f32> {
    let (c, l) = (trunk.nodes[0].channels, trunk.nodes[0].len);
    let b = variants.len();
    let n = positions.len();
    let mut values = Vec::with_capacity(b * c * n);
    for &(p, base) in variants {
        for ch in 0..c {
            values.extend((positions.clone()).map(|q| {
                if q != p {
                    x[ch * l + q]
                } else if ch == base {
                    1.0
                } else {
                    0.0
                }
            }));
        }
    }
    let mut patches: Vec<Patch> = vec![Patch { ranges: vec![positions], values: vec![values] }];
    for (n, node) in trunk.nodes.iter().enumerate().skip(1) {
        let inputs: Vec<NodeInput> = node
            .inputs
            .iter()
            .map(|&j| NodeInput { reference: &cache[j], patch: &patches[j], channels: trunk.nodes[j].channels, len: trunk.nodes[j].len })
            .collect();
        let p = step(node, &inputs, Some(&cache[n]), b);
        patches.push(p);
    }
    let last = trunk.nodes.last().expect("nodes");
    gather(&cache[trunk.nodes.len() - 1].data, last.channels, last.len, patches.last().expect("patches"), b, 0, last.len)
}

/// `layers` applied to the rows of `x` (`b × inputs`).
fn dense(layers: &[DenseLayer], mut x: Vec<f32>, b: usize) -> Vec<f32> {
    for layer in layers {
        let (i, o) = (layer.inputs, layer.outputs);
        let mut y: Vec<f32> = layer.bias.repeat(b);
        // y (b × o) += x (b × i) · Wᵀ (i × o)
        sgemm((b, o, i), &mut y, o, true, &x, (1, i), &layer.weight, (i, 1), Parallelism::None);
        if layer.gelu {
            y.iter_mut().for_each(|v| *v = gelu_value(*v));
        }
        x = y;
    }
    x
}

/// Every output's tracks, concatenated per row (`b × total`), from each trunk's features.
fn outputs(heads: &HeadsPlan, features: &[Vec<f32>], b: usize) -> Vec<f32> {
    let per_output: Vec<(Vec<f32>, usize)> = match heads {
        HeadsPlan::Linear { per_trunk, outputs } => {
            let head =
                |(t, h): (usize, usize)| (dense(std::slice::from_ref(&per_trunk[t][h]), features[t].clone(), b), per_trunk[t][h].outputs);
            outputs
                .iter()
                .map(|o| match *o {
                    drg_dsl::ir::LinearOutput::Direct { head: th } => head(th),
                    drg_dsl::ir::LinearOutput::Difference { plus, minus } => {
                        let (p, w) = head(plus);
                        let (m, _) = head(minus);
                        (p.iter().zip(&m).map(|(p, m)| p - m).collect(), w)
                    }
                })
                .collect()
        }
        HeadsPlan::Mlp { embeddings, combiners } => {
            let emb: Vec<Vec<f32>> = embeddings.iter().zip(features).map(|(e, f)| dense(std::slice::from_ref(e), f.clone(), b)).collect();
            combiners
                .iter()
                .map(|(trunks, layers)| {
                    let mut x = Vec::new();
                    for r in 0..b {
                        for &t in trunks {
                            let wt = embeddings[t].outputs;
                            x.extend_from_slice(&emb[t][r * wt..(r + 1) * wt]);
                        }
                    }
                    (dense(layers, x, b), layers.last().expect("a combiner head").outputs)
                })
                .collect()
        }
    };
    let mut rows = Vec::new();
    for r in 0..b {
        for (v, w) in &per_output {
            rows.extend_from_slice(&v[r * w..(r + 1) * w]);
        }
    }
    rows
}

/// The group means of every row of `tracks` (`b × total`): `b × groups`, as
/// [`super::attribution::group_predictions`].
fn group_means(tracks: &[f32], b: usize, groups: &TrackGroups) -> Vec<f64> {
    let width = tracks.len() / b.max(1);
    let mut out = Vec::with_capacity(b * groups.len());
    for row in tracks.chunks_exact(width.max(1)) {
        for members in &groups.members {
            out.push(members.iter().map(|&t| f64::from(row[t])).sum::<f64>() / members.len() as f64);
        }
    }
    out
}
