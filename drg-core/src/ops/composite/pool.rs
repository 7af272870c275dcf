//! Device-generic pooling with the reference's window geometry (see [`crate::ops::pool`]).
//!
//! x `[B, C, L]` gets one pad column (the global minimum for weighted and max pooling, 0 for
//! mean pooling; a constant computed from the untaped input, so it receives no gradient), is
//! viewed as `[L + 1, B, C]`, and one `gather` along the length with the host-built index
//! `idx[j·LO + w] = w·p + j − q` (or `L`, the pad column) lays the windows out as
//! `[p, LO·B·C]`: tap j of every window in row j. The reduction runs over that first axis.
//! With a step s (`pool_steps`) window w starts at w·s − q instead, q and LO as the host op
//! computes them ([`crate::ops::pool::steps_pad`], [`crate::ops::pool::steps_len`]).
//! * weighted: Σ_j x_j·softmax(x)_j (dfdx `softmax` along axis 0);
//! * max: a running `choose(x_j > m, x_j, m)` over the taps, so the gradient goes to the *first*
//!   maximal element, as in the host op (dfdx's `max_to` would share it among ties);
//! * mean: Σ_j x_j / (the window's real positions) (the pads are zeros that do not count, PyTorch
//!   `count_include_pad=False`, as the reference).

use dfdx::prelude::*;

use super::{index_tensor, with_pad_column, T3};
use crate::ops::host::{dims, expect_dims};
use crate::ops::pool::{steps_len, steps_pad, PoolKind as Reduce};

/// Window geometry of `kind` with window `p` and step `s` on `len` positions: (the step between
/// window starts, the pad on each side, the number of windows).
fn geometry(kind: Reduce, len: usize, p: usize, s: usize) -> Option<(usize, usize, usize)> {
    let weighted = kind == Reduce::Weighted;
    let lo = steps_len(weighted, len, p, s)?;
    // The weighted pool ignores its step: its windows follow one another.
    Some((if weighted { p } else { s }, steps_pad(len, p, s).max(0) as usize, lo))
}

/// Gather index laying out the windows tap-major: `idx[j·LO + w]` is the input position of tap j
/// of window w, or `len` where the window covers padding.
fn window_index(len: usize, p: usize, (step, q, lo): (usize, usize, usize)) -> Vec<usize> {
    (0..p).flat_map(|j| (0..lo).map(move |w| (w * step + j).checked_sub(q).filter(|&i| i < len).unwrap_or(len))).collect()
}

fn pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    kind: Reduce,
    op: &str,
    x: Tensor<Si, f32, D, T>,
    (p, s): (usize, usize),
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    assert!(p >= 1 && s >= 1, "{op}: window and step must be at least 1");
    let [b, c, len] = dims(x.shape(), op, "input");
    let Some(geom) = geometry(kind, len, p, s) else {
        panic!("{op}: window {p} with step {s} does not fit a length of {len} (the reference's PyTorch pooling raises)")
    };
    let lo = geom.2;
    let o: [usize; 3] = dims(&out_shape, op, "output shape");
    expect_dims(op, "output shape", &o, &[b, c, lo]);
    let dev = x.device().clone();
    let x: T3<D, T> = x.reshape_like(&(b, c, len));
    let (x, tape) = x.split_tape();
    let pad = match kind {
        Reduce::Mean => dev.zeros_like(&(b, c, 1)),
        Reduce::Weighted | Reduce::Max => x.clone().min::<Rank0, _>().broadcast_like(&(b, c, 1)),
    };
    let src = with_pad_column(x.put_tape(tape), pad).permute::<(usize, usize, usize), Axes3<2, 0, 1>>();
    let n = lo * b * c;
    let index = window_index(len, p, geom);
    // per window (column w·B·C + ..), the count of its taps that are real positions
    let real: Vec<f32> = (0..lo).map(|w| (0..p).filter(|&j| index[j * lo + w] < len).count().max(1) as f32).collect();
    let windows: T3<D, T> = src.gather(index_tensor(&dev, index));
    let windows = windows.reshape_like(&(p, n));
    let y: Tensor<(usize,), f32, D, T> = match kind {
        Reduce::Weighted => {
            let weights = windows.with_empty_tape().softmax::<Axis<0>>();
            (windows * weights).sum::<(usize,), Axis<0>>()
        }
        Reduce::Mean => {
            let counts: Vec<f32> = real.iter().flat_map(|&r| std::iter::repeat_n(r, b * c)).collect();
            windows.sum::<(usize,), Axis<0>>() / dev.tensor_from_vec(counts, (n,))
        }
        Reduce::Max => {
            // taps before the last read `windows` with an empty tape; the last one consumes it,
            // so the input's tape joins the result
            let mut windows = Some(windows);
            let mut tap = |j: usize| {
                let w = if j + 1 == p { windows.take() } else { windows.as_ref().map(|w| w.with_empty_tape()) };
                w.expect("one tap per window slot").select(dev.tensor_from_vec(vec![j], ()))
            };
            let mut m = tap(0);
            for j in 1..p {
                let x_j = tap(j);
                m = x_j.gt(&m).choose(x_j, m);
            }
            m
        }
    };
    y.reshape_like(&(lo, b, c)).permute::<(usize, usize, usize), Axes3<1, 2, 0>>().reshape_like(&out_shape)
}

/// Weighted pooling, device-generic; same contract as [`crate::ops::weighted_pool()`].
pub fn weighted_pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(Reduce::Weighted, "weighted_pool", x, (p, p), out_shape)
}

/// Max pooling, device-generic; same contract as [`crate::ops::max_pool()`].
pub fn max_pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(Reduce::Max, "max_pool", x, (p, p), out_shape)
}

/// Mean pooling, device-generic; same contract as [`crate::ops::mean_pool()`].
pub fn mean_pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(Reduce::Mean, "mean_pool", x, (p, p), out_shape)
}

/// Pooling with a step, device-generic; same contract as
/// [`DrgDevice::pool_steps`](crate::device::DrgDevice::pool_steps).
pub fn pool_steps<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    kind: Reduce,
    window_step: (usize, usize),
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(kind, kind.name(), x, window_step, out_shape)
}

#[cfg(test)]
mod tests {
    use super::{geometry, window_index, Reduce};

    fn index(kind: Reduce, len: usize, p: usize, s: usize) -> Vec<usize> {
        window_index(len, p, geometry(kind, len, p, s).expect("a geometry that fits"))
    }

    #[test]
    fn windows_follow_the_reference_padding() {
        // L = 6, p = 4: q = 1 pad on each side, windows [pad 0 1 2] [3 4 5 pad], tap-major
        assert_eq!(index(Reduce::Mean, 6, 4, 4), vec![6, 3, 0, 4, 1, 5, 2, 6]);
        // p divides L: no padding
        assert_eq!(index(Reduce::Max, 4, 2, 2), vec![0, 2, 1, 3]);
        // L = 7, p = 3, s = 2: q = ⌈(3 − 1)/2⌉ = 1, windows at −1, 1, 3, 5: [pad 0 1] [1 2 3]
        // [3 4 5] [5 6 pad]
        assert_eq!(index(Reduce::Max, 7, 3, 2), vec![7, 1, 3, 5, 0, 2, 4, 6, 1, 3, 5, 7]);
        // the weighted pool takes q from the step but windows of p one after the other:
        // L = 7, p = 2, s = 3: q = ⌈(2 − 1)/2⌉ = 1, padded 9, windows [pad 0] [1 2] [3 4] [5 6]
        assert_eq!(index(Reduce::Weighted, 7, 2, 3), vec![7, 1, 3, 5, 0, 2, 4, 6]);
    }
}
