//! The changed stretches of a batch of mutated sequences, node by node of a trunk's graph
//! ([`super::ism_plan`]): a mutation changes a convolution's output only within its receptive
//! field, a pool's output only in the windows that cover a change, so each node is recomputed only
//! on those stretches ([`Patch`]) and read elsewhere from the reference sequence's activations.
//!
//! The weighted and max pools pad with the global minimum of their whole input (behaviour P2),
//! which a mutation anywhere can change: the minimum of a variant is the reference's minimum
//! outside the changed stretches ([`RangeMin`]) and the variant's own inside them, and when it
//! differs from the reference's the two edge windows (the only ones with pad values) are
//! recomputed too. Every value is thus exactly what the whole model computes for that one
//! variant, up to float rounding.

use std::ops::Range;

use super::ism_plan::{ConvPlan, Node, Op, PoolKind};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::ops::conv1d::{forward_host_into, ConvProblem};
use crate::ops::fast_math::{exp, wide};
use crate::ops::gelu::gelu_value;
use crate::ops::pool::pad_each_side;
use crate::ops::sgemm::sgemm;
use crate::ops::ConvGeom;

/// Sorts `v` and merges overlapping or touching ranges; empty ranges are dropped.
pub fn merge(mut v: Vec<Range<usize>>) -> Vec<Range<usize>> {
    v.retain(|r| r.start < r.end);
    v.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Minimum over every channel of a range of positions of a `(C, L)` activation, in O(1) per
/// query (a sparse table of the per-position minima).
pub struct RangeMin {
    levels: Vec<Vec<f32>>,
}

impl RangeMin {
    pub fn new(data: &[f32], c: usize, l: usize) -> Self {
        let mut first = vec![f32::INFINITY; l];
        for row in data.chunks_exact(l.max(1)).take(c) {
            first.iter_mut().zip(row).for_each(|(m, &x)| *m = m.min(x));
        }
        let mut levels = vec![first];
        let mut span = 1;
        while 2 * span <= l {
            let prev = levels.last().expect("level 0");
            let next: Vec<f32> = (0..=l - 2 * span).map(|i| prev[i].min(prev[i + span])).collect();
            levels.push(next);
            span *= 2;
        }
        RangeMin { levels }
    }

    /// The minimum over positions `r` (+∞ when empty).
    pub fn min(&self, r: Range<usize>) -> f32 {
        if r.is_empty() {
            return f32::INFINITY;
        }
        let k = (usize::BITS - 1 - r.len().leading_zeros()) as usize;
        self.levels[k][r.start].min(self.levels[k][r.end - (1 << k)])
    }

    /// The minimum over the positions of `0..l` outside the sorted disjoint `ranges`.
    pub fn min_outside(&self, ranges: &[Range<usize>], l: usize) -> f32 {
        let mut m = f32::INFINITY;
        let mut from = 0;
        for r in ranges {
            m = m.min(self.min(from..r.start));
            from = r.end;
        }
        m.min(self.min(from..l))
    }
}

/// A node's reference activation, `(C, L)` row-major, with its [`RangeMin`] when a pool that pads
/// with the minimum reads it.
pub struct Cached {
    pub data: Vec<f32>,
    pub min: Option<RangeMin>,
}

/// What a batch of `b` variants changes at one node: sorted disjoint `ranges` of positions (the
/// same for the whole batch), and for each range the variants' values there, `b × C × len`.
#[derive(Debug, Clone)]
pub struct Patch {
    pub ranges: Vec<Range<usize>>,
    pub values: Vec<Vec<f32>>,
}

/// Positions `lo..hi` of every variant of the batch, `b × c × (hi − lo)`: the reference's values
/// with the patch's over them.
pub fn gather(reference: &[f32], c: usize, l: usize, patch: &Patch, b: usize, lo: usize, hi: usize) -> Vec<f32> {
    let n = hi - lo;
    let mut out = vec![0f32; b * c * n];
    for rows in out.chunks_exact_mut(c * n) {
        for (ch, row) in rows.chunks_exact_mut(n.max(1)).enumerate().take(c) {
            row.copy_from_slice(&reference[ch * l + lo..ch * l + hi]);
        }
    }
    for (r, vals) in patch.ranges.iter().zip(&patch.values) {
        let (a, e) = (r.start.max(lo), r.end.min(hi));
        if a >= e {
            continue;
        }
        let rn = r.len();
        for vc in 0..b * c {
            out[vc * n + a - lo..vc * n + e - lo].copy_from_slice(&vals[vc * rn + a - r.start..vc * rn + e - r.start]);
        }
    }
    out
}

/// The inputs of one node for one step: each input's reference and patch.
pub struct NodeInput<'a> {
    pub reference: &'a Cached,
    pub patch: &'a Patch,
    pub channels: usize,
    pub len: usize,
}

/// The node's patch for the batch, from its inputs' patches; `own` is the node's reference
/// output when there is one (every step but the reference pass's).
pub fn step(node: &Node, inputs: &[NodeInput], own: Option<&Cached>, b: usize) -> Patch {
    match &node.op {
        Op::Input => unreachable!("the input node has no step"),
        Op::Conv(plan) => match own {
            Some(own) if plan.reverse.is_none() => conv_change(plan, &inputs[0], own, b),
            _ => conv(plan, &inputs[0], b),
        },
        Op::Gelu => map(inputs[0].patch, |_, x| gelu_value(x), inputs[0].channels),
        Op::BnGelu { scale, shift } => map(inputs[0].patch, |ch, x| gelu_value(x * scale[ch] + shift[ch]), inputs[0].channels),
        Op::Pool { kind, size } => pool(*kind, *size, &inputs[0], node.len, b),
        Op::Add => add(&inputs[0], &inputs[1], b),
    }
}

/// An elementwise op (`f(channel, x)`): the same stretches.
fn map(patch: &Patch, f: impl Fn(usize, f32) -> f32 + Sync, c: usize) -> Patch {
    let values = patch
        .ranges
        .iter()
        .zip(&patch.values)
        .map(|(r, v)| {
            let n = r.len();
            let mut out = vec![0f32; v.len()];
            out.par_chunks_mut(c * n).zip(v.par_chunks(c * n)).for_each(|(o, x)| {
                for (ch, (o, x)) in o.chunks_exact_mut(n).zip(x.chunks_exact(n)).enumerate() {
                    wide(|| o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(ch, x)));
                }
            });
            out
        })
        .collect();
    Patch { ranges: patch.ranges.clone(), values }
}

/// `z + skip` on the union of both inputs' stretches.
fn add(a: &NodeInput, s: &NodeInput, b: usize) -> Patch {
    let ranges = merge(a.patch.ranges.iter().chain(&s.patch.ranges).cloned().collect());
    let values = ranges
        .iter()
        .map(|r| {
            let x = gather(&a.reference.data, a.channels, a.len, a.patch, b, r.start, r.end);
            let y = gather(&s.reference.data, s.channels, s.len, s.patch, b, r.start, r.end);
            x.iter().zip(&y).map(|(x, y)| x + y).collect()
        })
        .collect();
    Patch { ranges, values }
}

/// Outputs `o0..o1` of one convolution strand for the batch, reading only the inputs they need
/// (zero padding outside `0..L` as in the whole sequence).
fn conv_stretch(x: &NodeInput, b: usize, cout: usize, weight: &[f32], bias: Option<&[f32]>, geom: ConvGeom, out: Range<usize>) -> Vec<f32> {
    let (l, cin) = (x.len, x.channels);
    let extent = geom.dilation * (geom.kernel - 1);
    let i0 = out.start.saturating_sub(geom.pad_left);
    let i1 = (out.end + geom.pad_right).min(l);
    let n = i1 - i0;
    let pad_left = i0 + geom.pad_left - out.start;
    let pad_right = out.len() + extent - n - pad_left;
    let geom = ConvGeom { pad_left, pad_right, ..geom };
    let input = gather(&x.reference.data, cin, l, x.patch, b, i0, i1);
    let p = ConvProblem { batch: b, cin, len: n, cout, len_out: out.len(), geom };
    let mut y = vec![0f32; b * cout * out.len()];
    forward_host_into(&p, &input, weight, bias, &mut y);
    y
}

/// A convolution (with its reverse-complement strand): every output whose receptive field
/// touches a changed input.
fn conv(plan: &ConvPlan, x: &NodeInput, b: usize) -> Patch {
    let g = plan.geom;
    // input p reaches outputs p − pad_right ..= p + pad_left (the reverse strand mirrors them)
    let (left, right) =
        if plan.reverse.is_some() { (g.pad_left.max(g.pad_right), g.pad_left.max(g.pad_right)) } else { (g.pad_right, g.pad_left) };
    let ranges = merge(x.patch.ranges.iter().map(|r| r.start.saturating_sub(left)..(r.end + right).min(x.len)).collect());
    let values = ranges
        .iter()
        .map(|r| {
            let mut y = conv_stretch(x, b, plan.cout, &plan.weight, plan.bias.as_deref(), g, r.clone());
            if let Some((w, geom)) = &plan.reverse {
                let yr = conv_stretch(x, b, plan.cout, w, plan.bias.as_deref(), *geom, r.clone());
                y.iter_mut().zip(&yr).for_each(|(a, &r)| *a = a.max(r));
            }
            y
        })
        .collect();
    Patch { ranges, values }
}

thread_local! {
    /// Per-thread buffers of [`conv_change`] (the input change and the GEMM's taps, megabytes at
    /// full size), kept between calls: allocating them afresh cost a fifth of the time in page
    /// faults.
    static SCRATCH: std::cell::Cell<(Vec<f32>, Vec<f32>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// A convolution as its reference output plus the convolution of the input's change, which is
/// zero outside the changed stretches: `y = y_ref + W ∗ (x − x_ref)`. Per variant one GEMM
/// `(cout·K × cin)·(cin × n)` over the `n` changed inputs and a scatter of its taps; the
/// whole-stretch convolution ([`conv`]) would cost `n + dilation·(K − 1)` columns instead of `n`
/// (twice as much at the widest dilation of the seed models' stacks).
fn conv_change(plan: &ConvPlan, x: &NodeInput, own: &Cached, b: usize) -> Patch {
    let g = plan.geom;
    let (cin, cout, k, l) = (plan.cin, plan.cout, g.kernel, x.len);
    let ranges = merge(x.patch.ranges.iter().map(|r| r.start.saturating_sub(g.pad_right)..(r.end + g.pad_left).min(l)).collect());
    let values = ranges
        .iter()
        .map(|o| {
            let on = o.len();
            let mut y = vec![0f32; b * cout * on];
            let inside: Vec<(&Range<usize>, &Vec<f32>)> =
                x.patch.ranges.iter().zip(&x.patch.values).filter(|(r, _)| o.contains(&r.start.saturating_sub(g.pad_right))).collect();
            // variants in one GEMM per thread: the changed stretches are narrow (a few columns),
            // the variants side by side make the GEMM wide enough for its kernel
            let per_task = b.div_ceil(rayon::current_num_threads()).max(1);
            y.par_chunks_mut(per_task * cout * on).enumerate().for_each(|(task, ys)| {
                let v0 = task * per_task;
                let nv = ys.len() / (cout * on);
                for yv in ys.chunks_exact_mut(cout * on) {
                    for (ch, row) in yv.chunks_exact_mut(on).enumerate() {
                        row.copy_from_slice(&own.data[(ch * l + o.start)..(ch * l + o.end)]);
                    }
                }
                for &(r, vals) in &inside {
                    let n = r.len();
                    let cols = nv * n;
                    // delta[i, v·n + s] = x_v[i, r.start + s] − x_ref[i, r.start + s]
                    let (mut delta, mut taps) = SCRATCH.with(|s| s.take());
                    delta.resize(cin * cols, 0.0);
                    taps.resize(cout * k * cols, 0.0);
                    for (i, dr) in delta[..cin * cols].chunks_exact_mut(cols).enumerate() {
                        let refr = &x.reference.data[i * l + r.start..i * l + r.end];
                        for (v, d) in dr.chunks_exact_mut(n).enumerate() {
                            let var = &vals[((v0 + v) * cin + i) * n..((v0 + v) * cin + i + 1) * n];
                            d.iter_mut().zip(var.iter().zip(refr)).for_each(|(d, (a, b))| *d = a - b);
                        }
                    }
                    let out = &mut taps[..cout * k * cols];
                    sgemm(
                        (cout * k, cols, cin),
                        out,
                        cols,
                        false,
                        &plan.taps,
                        (1, cin),
                        &delta[..cin * cols],
                        (1, cols),
                        Parallelism::None,
                    );
                    // input position p reaches output t = p + pad_left − j·dilation
                    for (row, tap_row) in out.chunks_exact(cols).enumerate() {
                        let (ch, j) = (row / k, row % k);
                        let shift = (r.start + g.pad_left) as isize - (j * g.dilation) as isize - o.start as isize;
                        let s0 = (-shift).max(0) as usize;
                        let s1 = ((on as isize - shift).max(0) as usize).min(n);
                        if s1 <= s0 {
                            continue;
                        }
                        for (v, tap) in tap_row.chunks_exact(n).enumerate() {
                            let y = &mut ys[(v * cout + ch) * on..(v * cout + ch + 1) * on];
                            let t0 = (s0 as isize + shift) as usize;
                            y[t0..t0 + s1 - s0].iter_mut().zip(&tap[s0..s1]).for_each(|(o, t)| *o += t);
                        }
                    }
                    SCRATCH.with(|s| s.set((delta, taps)));
                }
            });
            y
        })
        .collect();
    Patch { ranges, values }
}

/// Reduces one window (pad values included), as the pool op does.
/// One window `v` (pad values included, `real` of its slots real positions) reduced.
fn reduce(kind: PoolKind, v: &[f32], real: usize) -> f32 {
    match kind {
        PoolKind::Weighted => {
            let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (mut z, mut s) = (0.0f32, 0.0f32);
            for &x in v {
                let e = exp(x - m);
                z += e;
                s += x * e;
            }
            s / z
        }
        PoolKind::Max => v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        // the reference's `count_include_pad=False`: the zero pads do not count
        PoolKind::Mean => v.iter().sum::<f32>() / real.max(1) as f32,
    }
}

/// The weighted pool of consecutive windows of `p` values (`x`, pad values included) into `y`:
/// the window maxima and `exp(x − max)` over the whole row in one vectorised pass, then the sums
/// of [`reduce`] in its order, so every value is the one it computes.
fn weighted_windows(x: &[f32], p: usize, e: &mut [f32], y: &mut [f32]) {
    for (w, ew) in x.chunks_exact(p).zip(e.chunks_exact_mut(p)) {
        let m = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        ew.fill(m);
    }
    wide(|| e.iter_mut().zip(x).for_each(|(e, &x)| *e = exp(x - *e)));
    for ((y, w), ew) in y.iter_mut().zip(x.chunks_exact(p)).zip(e.chunks_exact(p)) {
        let (mut z, mut s) = (0.0f32, 0.0f32);
        for (&x, &e) in w.iter().zip(ew) {
            z += e;
            s += x * e;
        }
        *y = s / z;
    }
}

/// A pool of window `p`: the windows that cover a change, and the two edge windows of the
/// variants whose global minimum (the pad value) moved.
fn pool(kind: PoolKind, p: usize, x: &NodeInput, len_out: usize, b: usize) -> Patch {
    let (c, l) = (x.channels, x.len);
    let q = pad_each_side(l, p);
    let pads: Vec<f32> = match kind {
        PoolKind::Mean => vec![0.0; b],
        PoolKind::Weighted | PoolKind::Max => {
            let outside = x.reference.min.as_ref().map_or(f32::INFINITY, |m| m.min_outside(&x.patch.ranges, l));
            (0..b)
                .map(|v| {
                    x.patch.ranges.iter().zip(&x.patch.values).fold(outside, |m, (r, vals)| {
                        let n = r.len() * c;
                        vals[v * n..(v + 1) * n].iter().fold(m, |m, &y| m.min(y))
                    })
                })
                .collect()
        }
    };
    let mut ranges: Vec<Range<usize>> = x.patch.ranges.iter().map(|r| (r.start + q) / p..((r.end - 1 + q) / p + 1).min(len_out)).collect();
    if q > 0 && kind != PoolKind::Mean {
        let reference = x.reference.min.as_ref().map_or(f32::INFINITY, |m| m.min(0..l));
        if pads.iter().any(|&v| v != reference) {
            ranges.push(0..1);
            ranges.push(len_out - 1..len_out);
        }
    }
    let ranges = merge(ranges);
    let values = ranges
        .iter()
        .map(|r| {
            let lo = (r.start * p).saturating_sub(q);
            let hi = (r.end * p).saturating_sub(q).min(l);
            let n = hi - lo;
            let input = gather(&x.reference.data, c, l, x.patch, b, lo, hi);
            let nw = r.len();
            let mut y = vec![0f32; b * c * nw];
            y.par_chunks_mut(nw).enumerate().for_each_init(
                || (vec![0f32; nw * p], vec![0f32; nw * p]),
                |(win, e), (vc, yr)| {
                    let (v, row) = (vc / c, &input[vc * n..(vc + 1) * n]);
                    // every window of the row with its pad values, then the reductions
                    for (wi, w) in r.clone().enumerate() {
                        for (s, slot) in win[wi * p..(wi + 1) * p].iter_mut().enumerate() {
                            let pos = (w * p + s) as isize - q as isize;
                            *slot = if pos >= 0 && (pos as usize) < l { row[pos as usize - lo] } else { pads[v] };
                        }
                    }
                    if kind == PoolKind::Weighted {
                        weighted_windows(&win[..nw * p], p, &mut e[..nw * p], yr);
                    } else {
                        for (wi, (y, w)) in yr.iter_mut().zip(win.chunks_exact(p)).enumerate() {
                            let start = ((r.start + wi) * p) as isize - q as isize;
                            let real = (start.max(0)..(start + p as isize).min(l as isize)).count();
                            *y = reduce(kind, w, real);
                        }
                    }
                },
            );
            y
        })
        .collect();
    Patch { ranges, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_when_they_touch() {
        assert_eq!(merge(vec![5..7, 0..2, 2..3, 6..9, 4..4]), vec![0..3, 5..9]);
    }

    #[test]
    fn range_minimum_outside_stretches_matches_a_scan() {
        let (c, l) = (3, 37);
        let data: Vec<f32> = (0..c * l).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        let rm = RangeMin::new(&data, c, l);
        let scan = |keep: &dyn Fn(usize) -> bool| (0..c * l).filter(|i| keep(i % l)).map(|i| data[i]).fold(f32::INFINITY, f32::min);
        for (a, e) in [(0, 37), (3, 4), (10, 30), (36, 37)] {
            assert_eq!(rm.min(a..e), scan(&|p| (a..e).contains(&p)));
        }
        let ranges = [2..9, 20..37];
        assert_eq!(rm.min_outside(&ranges, l), scan(&|p| !ranges.iter().any(|r| r.contains(&p))));
        let whole: Vec<Range<usize>> = std::iter::once(0..37).collect();
        assert_eq!(rm.min_outside(&whole, l), f32::INFINITY);
    }
}
