//! The pooling inside a conv stack (the reference's `dil*_pooling` / `tr*_pooling`), and the
//! pooling its residual connection applies to the skip source, which the reference builds
//! differently per kind (`Residual_convolution` of `Res_Conv1d`):
//!
//! * weighted: the main path and the residual both pad with the minimum of the tensor they pool
//!   (P2), so the residual is the same op on the skip source;
//! * max: the main path pads with the tensor's minimum (as after the first layer), the residual
//!   pads with **zeros** (`ZeroPad2d` then `MaxPool1d`): a window that reaches into the padding
//!   is `max(its values, 0)`;
//! * mean: the main path (`pooling_layer`'s `AvgPool1d(count_include_pad=False)`) and the
//!   residual (`Padded_AvgPool1d(count_include_pad=False)`, whose constant `weight` buffer of
//!   `1/p` is the state dict's `ResiduallayerConv{n}.rconv.pool0.weight`) both take a window's
//!   mean over its real positions only, so the residual is the same op.
//!
//! The pad positions are constants, so the corrections below are constant masks and scales built
//! on the host: they carry no gradient of their own.

use dfdx::prelude::*;

use super::SeqDyn;
use crate::device::DrgDevice;
use crate::ops::pool::{pad_each_side, pooled_len};

/// One kind of pooling inside a conv stack.
pub trait StackPool: Clone + Copy + Default + std::fmt::Debug + 'static {
    /// The main path's pooling of window `p` after a layer's skip-add.
    fn pool<const C: usize, D: DrgDevice, T: Tape<f32, D>>(x: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T>;
    /// The residual's pooling of the skip source, with the same windows.
    fn residual<const C: usize, D: DrgDevice, T: Tape<f32, D>>(r: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T>;
}

/// The reference's weighted pooling (P2) in the stack and in its residual.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedStackPool;

/// Max pooling in the stack; zero-padded max pooling in its residual.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxStackPool;

/// Mean pooling over a window's real positions, in the stack and in its residual.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanStackPool;

fn out_shape<const C: usize, D: DrgDevice, T: Tape<f32, D>>(x: &SeqDyn<C, D, T>, p: usize) -> (usize, Const<C>, usize) {
    let (b, c, len) = *x.shape();
    (b, c, pooled_len(len, p))
}

/// For each output window of a row of `len` positions pooled by `p`: how many of its `p` slots
/// are real positions (the rest are padding).
fn real_counts(len: usize, p: usize) -> Vec<usize> {
    let q = pad_each_side(len, p) as isize;
    (0..pooled_len(len, p))
        .map(|w| {
            let start = (w * p) as isize - q;
            let (lo, hi) = (start.max(0), (start + p as isize).min(len as isize));
            (hi - lo).max(0) as usize
        })
        .collect()
}

/// A constant `(b, C, lo)` tensor whose every row is `row`.
fn rows_of<const C: usize, D: DrgDevice>(dev: &D, shape: (usize, Const<C>, usize), row: &[f32]) -> SeqDyn<C, D> {
    let v: Vec<f32> = std::iter::repeat_n(row, shape.0 * C).flatten().copied().collect();
    dev.tensor_from_vec(v, shape)
}

impl StackPool for WeightedStackPool {
    fn pool<const C: usize, D: DrgDevice, T: Tape<f32, D>>(x: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        let shape = out_shape(&x, p);
        D::weighted_pool(x, p, shape)
    }
    fn residual<const C: usize, D: DrgDevice, T: Tape<f32, D>>(r: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        Self::pool(r, p)
    }
}

impl StackPool for MaxStackPool {
    fn pool<const C: usize, D: DrgDevice, T: Tape<f32, D>>(x: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        let shape = out_shape(&x, p);
        D::max_pool(x, p, shape)
    }
    fn residual<const C: usize, D: DrgDevice, T: Tape<f32, D>>(r: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        let len = r.shape().2;
        let shape = out_shape(&r, p);
        let dev = r.device().clone();
        // Padded with the minimum, a window's max is the max of its real values; with zeros it
        // is max(that, 0) = y + relu(−y) where the window reaches into the padding.
        let y = D::max_pool(r, p, shape);
        let padded: Vec<f32> = real_counts(len, p).iter().map(|&n| if n < p { 1.0 } else { 0.0 }).collect();
        if padded.iter().all(|&m| m == 0.0) {
            return y;
        }
        let mask = rows_of(&dev, shape, &padded);
        let lift = y.with_empty_tape().negate().relu() * mask;
        y + lift
    }
}

impl StackPool for MeanStackPool {
    fn pool<const C: usize, D: DrgDevice, T: Tape<f32, D>>(x: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        let shape = out_shape(&x, p);
        D::mean_pool(x, p, shape)
    }
    fn residual<const C: usize, D: DrgDevice, T: Tape<f32, D>>(r: SeqDyn<C, D, T>, p: usize) -> SeqDyn<C, D, T> {
        Self::pool(r, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_counts_follow_the_padding() {
        // 35 positions by 4: q = 1 on each side, 37 padded, 9 windows (the last one holds the
        // pad and two real positions; the dropped tail holds nothing real).
        assert_eq!(real_counts(35, 4), vec![3, 4, 4, 4, 4, 4, 4, 4, 4]);
        assert_eq!(real_counts(8, 4), vec![4, 4]);
        // 5 by 3: q = 1, windows [pad, 0, 1], [2, 3, 4].
        assert_eq!(real_counts(5, 3), vec![2, 3]);
    }

    /// The residual pools against a direct reading of the reference's definitions (zero-padded
    /// max, mean over the real positions), values and gradients (by finite differences).
    #[test]
    fn residual_pools_match_their_definitions() {
        let dev = Cpu::default();
        let (len, p) = (7usize, 3usize); // q = 1: windows [pad,0,1] [2,3,4] [5,6,pad]
        let x: Vec<f32> = vec![-3.0, -1.0, 2.0, 0.5, -0.25, -2.0, -4.0];
        let run = |x: &[f32], max: bool| -> Vec<f32> {
            let t: SeqDyn<1, Cpu> = dev.tensor_from_vec(x.to_vec(), (1, Const::<1>, len));
            let y = if max { MaxStackPool::residual(t, p) } else { MeanStackPool::residual(t, p) };
            y.as_vec()
        };
        assert_eq!(run(&x, true), vec![0.0f32.max(-3.0).max(-1.0), 2.0, 0.0]);
        let mean = run(&x, false);
        let want = [(-3.0 - 1.0) / 2.0, (2.0 + 0.5 - 0.25) / 3.0, (-2.0 - 4.0) / 2.0];
        for (a, b) in mean.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{mean:?} vs {want:?}");
        }
        for max in [true, false] {
            let t: SeqDyn<1, Cpu> = dev.tensor_from_vec(x.clone(), (1, Const::<1>, len));
            let y = if max { MaxStackPool::residual(t.leaky_trace(), p) } else { MeanStackPool::residual(t.leaky_trace(), p) };
            let w = dev.tensor_from_vec(vec![1.0f32, 2.0, 3.0], (1, Const::<1>, 3usize));
            let grads = (y * w).sum().backward();
            let got = grads.get(&t).as_vec();
            let f = |x: &[f32]| run(x, max).iter().zip([1.0f32, 2.0, 3.0]).map(|(a, b)| a * b).sum::<f32>();
            for i in 0..len {
                let (mut hi, mut lo) = (x.clone(), x.clone());
                hi[i] += 1e-3;
                lo[i] -= 1e-3;
                let fd = (f(&hi) - f(&lo)) / 2e-3;
                assert!((got[i] - fd).abs() < 1e-2, "max={max} i={i}: {} vs {fd}", got[i]);
            }
        }
    }
}
