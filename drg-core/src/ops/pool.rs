//! Pooling along the length axis with the reference's window geometry (behaviour P2).
//!
//! Given x `[B, C, L]` and window p: q = ⌈(p − L mod p)/2⌉ pad values on both sides (0 when p
//! divides L), windows of p consecutive positions of the padded row, an incomplete tail window
//! dropped. The output length is always ⌈L/p⌉. The three kinds differ in the pad value and the
//! reduction within a window:
//! * weighted: pad = global min of the whole tensor (all samples and channels, so the result
//!   depends on the batch), out = Σ xᵢ·softmax(x_w)ᵢ;
//! * max: pad = global min, out = max (gradient to the first maximal element);
//! * mean: pad = 0, out = Σ/p (PyTorch `count_include_pad`).
//!
//! The pad value is a constant: it receives no gradient. Rows (b, c) run in parallel.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::fast_math::exp;
use super::host::{copied, dims, expect_dims, host_vec, HostDevice};

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

/// What a window reduces to, and how its gradient distributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKind {
    Weighted,
    Max,
    Mean,
}

impl PoolKind {
    fn name(self) -> &'static str {
        match self {
            PoolKind::Weighted => "weighted_pool",
            PoolKind::Max => "max_pool",
            PoolKind::Mean => "mean_pool",
        }
    }

    /// Reduces one window `v` (pad values included) to its output.
    fn reduce(self, v: &[f32]) -> f32 {
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
            PoolKind::Mean => v.iter().sum::<f32>() / v.len() as f32,
        }
    }

    /// d out / d vᵢ for every element of the window, written to `d`.
    fn local_grad(self, v: &[f32], out: f32, d: &mut [f32]) {
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
            PoolKind::Mean => d.fill(1.0 / v.len() as f32),
        }
    }
}

/// Window geometry and pad value of one pooling call.
#[derive(Clone, Copy, Debug)]
struct PoolPlan {
    p: usize,
    len: usize,
    q: usize,
    pad: f32,
}

impl PoolPlan {
    /// The padded window `w` of `row`: a slice of `row` itself when the window lies inside it,
    /// else a copy in `buf` with pad values. Also returns the input positions it covers as
    /// (first window slot that is real data, first real input position, count).
    fn window<'a>(&self, row: &'a [f32], w: usize, buf: &'a mut [f32]) -> (&'a [f32], usize, usize, usize) {
        let start = (w * self.p) as isize - self.q as isize;
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
}

fn pool<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    kind: PoolKind,
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let op = kind.name();
    assert!(p >= 1, "{op}: window must be at least 1");
    let [b, c, len] = dims(x.shape(), op, "input");
    let len_out = pooled_len(len, p);
    let o: [usize; 3] = dims(&out_shape, op, "output shape");
    expect_dims(op, "output shape", &o, &[b, c, len_out]);
    let (x, mut tape) = x.split_tape();
    let xh = host_vec(&x);
    let q = pad_each_side(len, p);
    debug_assert_eq!((len + 2 * q) / p, len_out);
    let pad = match kind {
        PoolKind::Mean => 0.0,
        PoolKind::Weighted | PoolKind::Max => {
            xh.par_chunks(1 << 16).map(|c| c.iter().copied().fold(f32::INFINITY, f32::min)).reduce(|| f32::INFINITY, f32::min)
        }
    };
    let plan = PoolPlan { p, len, q, pad };
    let mut y = x.device().host_buffer(b * c * len_out);
    if len_out > 0 {
        y.par_chunks_mut(len_out).zip(xh.par_chunks(len)).for_each_init(
            || vec![0.0f32; p],
            |buf, (yr, xr)| {
                for (w, yw) in yr.iter_mut().enumerate() {
                    let (v, ..) = plan.window(xr, w, buf);
                    *yw = kind.reduce(v);
                }
            },
        );
    }
    let out = x.device().tensor_from_vec(y, out_shape);
    if T::OWNS_TAPE && len_out > 0 {
        let (xg, og) = (x.ghost(), out.ghost());
        let yh = host_vec(&out);
        tape.add_backward_op(move |grads| {
            let gout = copied(D::host_mut(grads.get_or_alloc_mut(&og)?));
            let dx = D::host_mut(grads.get_or_alloc_mut(&xg)?);
            dx.par_chunks_mut(len).zip(xh.par_chunks(len)).zip(gout.par_chunks(len_out).zip(yh.par_chunks(len_out))).for_each_init(
                || (vec![0.0f32; p], vec![0.0f32; p]),
                |(buf, d), ((dxr, xr), (gr, yr))| {
                    for w in 0..len_out {
                        let (v, slot0, pos0, n) = plan.window(xr, w, buf);
                        kind.local_grad(v, yr[w], d);
                        for (dx, dl) in dxr[pos0..pos0 + n].iter_mut().zip(&d[slot0..slot0 + n]) {
                            *dx += gr[w] * dl;
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
    pool(PoolKind::Weighted, x, p, out_shape)
}

/// The host (CPU) kernel of [`DrgDevice::max_pool`](crate::device::DrgDevice::max_pool).
pub(crate) fn max_pool_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(PoolKind::Max, x, p, out_shape)
}

/// The host (CPU) kernel of [`DrgDevice::mean_pool`](crate::device::DrgDevice::mean_pool).
pub(crate) fn mean_pool_host<Si: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(PoolKind::Mean, x, p, out_shape)
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
}
