//! Device-generic pooling with the reference's window geometry (see [`crate::ops::pool`]).
//!
//! x `[B, C, L]` gets one pad column (the global minimum for weighted and max pooling, 0 for
//! mean pooling; a constant computed from the untaped input, so it receives no gradient), is
//! viewed as `[L + 1, B, C]`, and one `gather` along the length with the host-built index
//! `idx[j·LO + w] = w·p + j − q` (or `L`, the pad column) lays the windows out as
//! `[p, LO·B·C]`: tap j of every window in row j. The reduction runs over that first axis.
//! * weighted: Σ_j x_j·softmax(x)_j (dfdx `softmax` along axis 0);
//! * max: a running `choose(x_j > m, x_j, m)` over the taps, so the gradient goes to the *first*
//!   maximal element, as in the host op (dfdx's `max_to` would share it among ties);
//! * mean: Σ_j x_j / p (pads count, PyTorch `count_include_pad`).

use dfdx::prelude::*;

use super::{index_tensor, with_pad_column, T3};
use crate::ops::host::{dims, expect_dims};
use crate::ops::pool::pooled_len;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reduce {
    Weighted,
    Max,
    Mean,
}

/// Gather index laying out the windows tap-major: `idx[j·LO + w]` is the input position of tap j
/// of window w, or `len` where the window covers padding.
fn window_index(len: usize, p: usize) -> Vec<usize> {
    let lo = pooled_len(len, p);
    let q = crate::ops::pool::pad_each_side(len, p);
    (0..p).flat_map(|j| (0..lo).map(move |w| (w * p + j).checked_sub(q).filter(|&i| i < len).unwrap_or(len))).collect()
}

fn pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    kind: Reduce,
    op: &str,
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    assert!(p >= 1, "{op}: window must be at least 1");
    let [b, c, len] = dims(x.shape(), op, "input");
    let lo = pooled_len(len, p);
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
    let windows: T3<D, T> = src.gather(index_tensor(&dev, window_index(len, p)));
    let windows = windows.reshape_like(&(p, n));
    let y: Tensor<(usize,), f32, D, T> = match kind {
        Reduce::Weighted => {
            let weights = windows.with_empty_tape().softmax::<Axis<0>>();
            (windows * weights).sum::<(usize,), Axis<0>>()
        }
        Reduce::Mean => windows.sum::<(usize,), Axis<0>>() / p as f32,
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
    pool(Reduce::Weighted, "weighted_pool", x, p, out_shape)
}

/// Max pooling, device-generic; same contract as [`crate::ops::max_pool()`].
pub fn max_pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(Reduce::Max, "max_pool", x, p, out_shape)
}

/// Mean pooling, device-generic; same contract as [`crate::ops::mean_pool()`].
pub fn mean_pool<Si: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    p: usize,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    pool(Reduce::Mean, "mean_pool", x, p, out_shape)
}

#[cfg(test)]
mod tests {
    use super::window_index;

    #[test]
    fn windows_follow_the_reference_padding() {
        // L = 6, p = 4: q = 1 pad on each side, windows [pad 0 1 2] [3 4 5 pad], tap-major
        assert_eq!(window_index(6, 4), vec![6, 3, 0, 4, 1, 5, 2, 6]);
        // p divides L: no padding
        assert_eq!(window_index(4, 2), vec![0, 2, 1, 3]);
    }
}
