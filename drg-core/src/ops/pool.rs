//! Pooling along the length axis with the reference's window geometry (behaviour P2, and its
//! `pooling_layer` in `drg_tools/modules.py` at `79b2f07`).
//!
//! Given x `[B, C, L]` and window p: q = ⌈(p − L mod p)/2⌉ pad values on both sides (0 when p
//! divides L), windows of p consecutive positions of the padded row, an incomplete tail window
//! dropped. The output length is always ⌈L/p⌉. The three kinds differ in the pad value and the
//! reduction within a window:
//! * weighted: pad = global min of the whole tensor (all samples and channels, so the result
//!   depends on the batch), out = Σ xᵢ·softmax(x_w)ᵢ;
//! * max: pad = global min, out = max (gradient to the first maximal element);
//! * mean: out = the mean of the window's real positions (PyTorch `AvgPool1d` with
//!   `count_include_pad=False`, as the reference builds it).
//!
//! With a step s (the reference's `pooling_steps`, [`pool_steps_host`]) the geometry is the reference's
//! for `pooling_layer(.., pooling_size = p, stride = s, padding = q)` with q = ⌈(p − L mod s)/2⌉
//! (0 when s divides L): max and mean are PyTorch's `MaxPool1d`/`AvgPool1d(p, stride = s,
//! padding = q)`, windows starting at w·s − q, ⌊(L + 2q − p)/s⌋ + 1 of them; the weighted pool
//! (`Padded_AvgPool1d(weighted=True)`) ignores its stride: it pads max(q, 0) on both sides and
//! takes ⌊(L + 2q)/p⌋ windows of p, one after the other.
//!
//! The pad value is a constant: it receives no gradient. Rows (b, c) run in parallel.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::fast_math::{exp, wide};
use super::host::{dims, expect_dims, host_vec, ConsumedGrad, HostDevice};

/// Output length of any of the pools: ⌈len/p⌉ (`const`, for compile-time length checks).
pub const fn pooled_len(len: usize, p: usize) -> usize {
    len.div_ceil(p)
}

/// Pad positions on each side: q = ⌈(p − L mod p)/2⌉ if p does not divide L, else 0.
pub(crate) fn pad_each_side(len: usize, p: usize) -> usize {
    let r = len % p;
    if r == 0 {
        0
    } else {
        (p - r).div_ceil(2)
    }
}

/// ⌈a/2⌉ for a signed a, as Python's `int(np.ceil(a/2))`.
const fn ceil_half(a: isize) -> isize {
    -((-a).div_euclid(2))
}

/// The reference's padding of a pooling with window `p` and step `s` on `len` positions:
/// `int(np.ceil((p − len % s)/2)) * int(len % s > 0)`, negative where `len % s > p + 1`.
pub const fn steps_pad(len: usize, p: usize, s: usize) -> isize {
    let r = len % s;
    if r == 0 {
        0
    } else {
        ceil_half(p as isize - r as isize)
    }
}

/// The output length of the reference's pooling with window `p` and step `s` on `len` positions
/// (`weighted`: the weighted pool, which ignores the step), or `None` where PyTorch raises (a
/// negative padding of max or mean pooling, no complete window). With `s = p` it is ⌈len/p⌉.
pub const fn steps_len(weighted: bool, len: usize, p: usize, s: usize) -> Option<usize> {
    if p == 0 || s == 0 {
        return None;
    }
    let q = steps_pad(len, p, s);
    if weighted {
        let q = if q > 0 { q as usize } else { 0 };
        let n = (len + 2 * q) / p;
        if n == 0 {
            None
        } else {
            Some(n)
        }
    } else if q < 0 || len + 2 * (q as usize) < p {
        None
    } else {
        Some((len + 2 * q as usize - p) / s + 1)
    }
}

/// Which pooling a [`DrgDevice::pool_steps`](crate::device::DrgDevice::pool_steps) call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Weighted,
    Max,
    Mean,
}

impl PoolKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolKind::Weighted => "weighted_pool",
            PoolKind::Max => "max_pool",
            PoolKind::Mean => "mean_pool",
        }
    }

    /// Reduces one window `v` (pad values included, `real` of its slots real positions) to its
    /// output.
    fn reduce(self, v: &[f32], real: usize) -> f32 {
        match self {
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
            PoolKind::Mean => v.iter().sum::<f32>() / real.max(1) as f32,
        }
    }

    /// d out / d vᵢ for every element of the window (`real` of its slots real positions),
    /// written to `d`.
    fn local_grad(self, v: &[f32], real: usize, out: f32, d: &mut [f32]) {
        match self {
            PoolKind::Weighted => {
                // out = Σ vᵢ sᵢ with s = softmax(v): ∂out/∂vᵢ = sᵢ (1 + vᵢ − out)
                let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut z = 0.0f32;
                for (d, &x) in d.iter_mut().zip(v) {
                    *d = exp(x - m);
                    z += *d;
                }
                for (d, &x) in d.iter_mut().zip(v) {
                    *d = *d / z * (1.0 + x - out);
                }
            }
            PoolKind::Max => {
                d.fill(0.0);
                let i = v.iter().position(|&x| x == out).unwrap_or(0);
                d[i] = 1.0;
            }
            PoolKind::Mean => d.fill(1.0 / real.max(1) as f32),
        }
    }
}

/// Window geometry and pad value of one pooling call: window w covers the padded row's slots
/// `w·step − q ..` (p of them).
#[derive(Clone, Copy, Debug)]
struct PoolPlan {
    p: usize,
    step: usize,
    len: usize,
    q: usize,
    pad: f32,
}

impl PoolPlan {
    /// The padded window `w` of `row`: a slice of `row` itself when the window lies inside it,
    /// else a copy in `buf` with pad values. Also returns the input positions it covers as
    /// (first window slot that is real data, first real input position, count).
    fn window<'a>(&self, row: &'a [f32], w: usize, buf: &'a mut [f32]) -> (&'a [f32], usize, usize, usize) {
        let start = (w * self.step) as isize - self.q as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.p as isize) as usize).min(self.len);
        let slot0 = (lo as isize - start) as usize;
        let n = hi.saturating_sub(lo);
        if slot0 == 0 && n == self.p {
            return (&row[lo..hi], 0, lo, n);
        }
        buf.fill(self.pad);
        buf[slot0..slot0 + n].copy_from_slice(&row[lo..lo + n]);
        (buf, slot0, lo, n)
    }

    /// The windows `lo..hi` that lie wholly inside the row (no pad value), of `len_out` in all
    /// (windows one after the other: `step = p`, as in the weighted pool).
    fn interior(&self, len_out: usize) -> (usize, usize) {
        debug_assert_eq!(self.step, self.p);
        let lo = self.q.div_ceil(self.p).min(len_out);
        let hi = ((self.len + self.q) / self.p).min(len_out).max(lo);
        (lo, hi)
    }
}

/// Scratch of one row of the weighted pool's fast path: each interior position's window maximum
/// and its `exp(x − max)`.
#[derive(Default)]
struct WeightedRow {
    max: Vec<f32>,
    e: Vec<f32>,
}

impl WeightedRow {
    /// Fills `e` with `exp(x − max of its window)` for the positions of the interior windows
    /// `lo..hi` of `xr`, computed in one pass over the row so that the exponentials vectorise
    /// (per window they were 4-element scalar loops: a fifth of a demo epoch). Every value is
    /// the one the scalar path computes, bit for bit (same `exp`, same operands).
    fn fill<'x>(&mut self, plan: &PoolPlan, xr: &'x [f32], lo: usize, hi: usize) -> &'x [f32] {
        let p = plan.p;
        let first = lo * p - plan.q;
        let x = &xr[first..first + (hi - lo) * p];
        self.max.clear();
        for v in x.chunks_exact(p) {
            let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            self.max.extend(std::iter::repeat_n(m, p));
        }
        self.e.resize(x.len(), 0.0);
        let (e, max) = (&mut self.e, &self.max);
        wide(|| {
            for ((e, &x), &m) in e.iter_mut().zip(x).zip(max) {
                *e = exp(x - m);
            }
        });
        x
    }
}

fn pool<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    kind: PoolKind,
    x: Tensor<Si, f32, D, T>,
    (p, s): (usize, usize),
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let op = kind.name();
    assert!(p >= 1 && s >= 1, "{op}: window and step must be at least 1");
    let [b, c, len] = dims(x.shape(), op, "input");
    let weighted = kind == PoolKind::Weighted;
    let Some(len_out) = steps_len(weighted, len, p, s) else {
        panic!("{op}: window {p} with step {s} does not fit a length of {len} (the reference's PyTorch pooling raises)")
    };
    let o: [usize; 3] = dims(&out_shape, op, "output shape");
    expect_dims(op, "output shape", &o, &[b, c, len_out]);
    let (x, mut tape) = x.split_tape();
    let xh = host_vec(&x);
    let q = steps_pad(len, p, s).max(0) as usize;
    let pad = match kind {
        PoolKind::Mean => 0.0,
        PoolKind::Weighted | PoolKind::Max => {
            xh.par_chunks(1 << 16).map(|c| c.iter().copied().fold(f32::INFINITY, f32::min)).reduce(|| f32::INFINITY, f32::min)
        }
    };
    // The weighted pool ignores its step: its windows follow one another.
    let plan = PoolPlan { p, step: if weighted { p } else { s }, len, q, pad };
    let mut y = x.device().host_buffer(b * c * len_out);
    if len_out > 0 {
        y.par_chunks_mut(len_out).zip(xh.par_chunks(len)).for_each_init(
            || (vec![0.0f32; p], WeightedRow::default()),
            |(buf, row), (yr, xr)| {
                let (lo, hi) = if kind == PoolKind::Weighted { plan.interior(len_out) } else { (0, 0) };
                for w in (0..lo).chain(hi..len_out) {
                    let (v, _, _, n) = plan.window(xr, w, buf);
                    yr[w] = kind.reduce(v, n);
                }
                if hi > lo {
                    let x = row.fill(&plan, xr, lo, hi);
                    for ((yw, v), e) in yr[lo..hi].iter_mut().zip(x.chunks_exact(p)).zip(row.e.chunks_exact(p)) {
                        // The sums of `PoolKind::reduce`, in its order.
                        let (mut z, mut s) = (0.0f32, 0.0f32);
                        for (&x, &e) in v.iter().zip(e) {
                            z += e;
                            s += x * e;
                        }
                        *yw = s / z;
                    }
                }
            },
        );
    }
    let out = x.device().tensor_from_vec(y, out_shape);
    if T::OWNS_TAPE && len_out > 0 {
        let (xg, og) = (x.ghost(), out.ghost());
        let yh = host_vec(&out);
        let (dev, out_len) = (x.device().clone(), out.shape().num_elements());
        tape.add_backward_op(move |grads| {
            let gout = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "pool");
            let dx = D::host_mut(grads.get_or_alloc_mut(&xg)?);
            dx.par_chunks_mut(len).zip(xh.par_chunks(len)).zip(gout.par_chunks(len_out).zip(yh.par_chunks(len_out))).for_each_init(
                || (vec![0.0f32; p], vec![0.0f32; p], WeightedRow::default()),
                |(buf, d, row), ((dxr, xr), (gr, yr))| {
                    let (lo, hi) = if kind == PoolKind::Weighted { plan.interior(len_out) } else { (0, 0) };
                    for w in (0..lo).chain(hi..len_out) {
                        let (v, slot0, pos0, n) = plan.window(xr, w, buf);
                        kind.local_grad(v, n, yr[w], d);
                        for (dx, dl) in dxr[pos0..pos0 + n].iter_mut().zip(&d[slot0..slot0 + n]) {
                            *dx += gr[w] * dl;
                        }
                    }
                    if hi > lo {
                        let first = lo * p - plan.q;
                        let x = row.fill(&plan, xr, lo, hi);
                        let dxw = dxr[first..first + x.len()].chunks_exact_mut(p);
                        for (w, ((dx, v), e)) in (lo..hi).zip(dxw.zip(x.chunks_exact(p)).zip(row.e.chunks_exact(p))) {
                            // `PoolKind::local_grad` of a weighted window, in its order.
                            let z: f32 = e.iter().fold(0.0f32, |z, &e| z + e);
                            for ((dx, &x), &e) in dx.iter_mut().zip(v).zip(e) {
                                *dx += gr[w] * (e / z * (1.0 + x - yr[w]));
                            }
                        }
                    }
                },
            );
            Ok(())
        });
    }
    out.put_tape(tape)
}

/// The host (CPU) kernel of [`DrgDevice::weighted_pool`](crate::device::DrgDevice::weighted_pool).
pub(crate) fn weighted_pool_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(PoolKind::Weighted, x, (p, p), out_shape)
}

/// The host (CPU) kernel of [`DrgDevice::max_pool`](crate::device::DrgDevice::max_pool).
pub(crate) fn max_pool_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(PoolKind::Max, x, (p, p), out_shape)
}

/// The host (CPU) kernel of [`DrgDevice::mean_pool`](crate::device::DrgDevice::mean_pool).
pub(crate) fn mean_pool_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(PoolKind::Mean, x, (p, p), out_shape)
}

/// The host (CPU) kernel of [`DrgDevice::pool_steps`](crate::device::DrgDevice::pool_steps).
pub(crate) fn pool_steps_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    kind: PoolKind,
    (p, s): (usize, usize),
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(kind, x, (p, s), out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_and_length_follow_the_reference() {
        // (L, p, q) from the fixtures' table
        for (l, p, q) in [(37, 4, 2), (28, 3, 1), (40, 5, 0), (47, 6, 1), (6, 4, 1), (10000, 6, 1), (1667, 6, 1), (278, 6, 2)] {
            assert_eq!(pad_each_side(l, p), q, "L={l} p={p}");
            assert_eq!((l + 2 * q) / p, pooled_len(l, p), "L={l} p={p}");
        }
    }

    /// The fast path of the weighted pool (interior windows, exponentials over the whole row)
    /// gives the scalar path's values and gradients bit for bit, at every geometry of the models
    /// (padded or not, one window or many).
    #[test]
    fn weighted_fast_path_is_the_scalar_path_bit_for_bit() {
        use dfdx::prelude::*;
        let dev: Cpu = Default::default();
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 6.0 - 3.0
        };
        for (len, p) in [(37, 4), (2000, 4), (500, 3), (28, 3), (40, 5), (6, 4), (4, 4), (3, 4), (10000, 6), (1667, 6)] {
            let (b, c) = (2, 3);
            let x: Vec<f32> = (0..b * c * len).map(|_| next()).collect();
            let g: Vec<f32> = (0..b * c * pooled_len(len, p)).map(|_| next()).collect();
            let len_out = pooled_len(len, p);
            let xt = dev.tensor_from_vec(x.clone(), (b, c, len));
            let y = weighted_pool_host(xt.leaky_trace(), p, (b, c, len_out));
            let yv = y.as_vec();
            let gt = dev.tensor_from_vec(g.clone(), (b, c, len_out));
            let grads = (y * gt).sum().backward();
            let gx = grads.get(&xt).as_vec();
            // The scalar path, window by window.
            let pad = x.iter().copied().fold(f32::INFINITY, f32::min);
            let plan = PoolPlan { p, step: p, len, q: pad_each_side(len, p), pad };
            let (mut buf, mut d) = (vec![0.0; p], vec![0.0; p]);
            let mut want_gx = vec![0.0f32; x.len()];
            for r in 0..b * c {
                let xr = &x[r * len..(r + 1) * len];
                for w in 0..len_out {
                    let (v, slot0, pos0, n) = plan.window(xr, w, &mut buf);
                    let out = PoolKind::Weighted.reduce(v, n);
                    assert_eq!(out.to_bits(), yv[r * len_out + w].to_bits(), "L={len} p={p} row {r} window {w}");
                    PoolKind::Weighted.local_grad(v, n, out, &mut d);
                    for (k, dl) in d[slot0..slot0 + n].iter().enumerate() {
                        want_gx[r * len + pos0 + k] += g[r * len_out + w] * dl;
                    }
                }
            }
            for (i, (a, b)) in gx.iter().zip(&want_gx).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "L={len} p={p} gradient {i}");
            }
        }
    }
}
