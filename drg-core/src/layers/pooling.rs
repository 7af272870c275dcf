//! Pooling layers: the reference's weighted pooling (P2), and max / mean pooling with the same
//! window geometry. The output length is ⌈LI/P⌉; the types carry both lengths and a wrong one is
//! a compile error. The `..Steps` layers take the reference's `pooling_steps` as a second window
//! parameter `S` (the stride), for the pooling after the stem.

use dfdx::prelude::*;

use super::Seq;
use crate::device::DrgDevice;

pub use crate::ops::pooled_len;

macro_rules! pooling_layer {
    ($(#[$doc:meta])* $name:ident, $op:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<const P: usize>;

        impl<const P: usize> $name<P> {
            /// Pools `LI` positions into `LO` = ⌈LI/P⌉ (checked at compile time).
            pub fn forward<const C: usize, const LI: usize, const LO: usize, D: DrgDevice, T: Tape<f32, D>>(
                &self,
                x: Seq<C, LI, D, T>,
            ) -> Seq<C, LO, D, T> {
                const {
                    assert!(P >= 1 && P <= LI, "pooling window larger than the sequence length");
                    assert!(LO == pooled_len(LI, P), "pooling output length must be ceil(LI / P)");
                }
                let b = x.shape().0;
                $op(x, P, (b, Const::<C>, Const::<LO>))
            }
        }
    };
}

pooling_layer!(
    /// Weighted pooling: within each window of `P` positions, the softmax-weighted sum of the
    /// values (no learned weights); the sequence is padded on both sides with the minimum of the
    /// whole batch tensor when `P` does not divide its length (reference P2).
    WeightedPool,
    D::weighted_pool
);
pooling_layer!(
    /// Max pooling over windows of `P` positions (padding with the tensor's minimum).
    MaxPool,
    D::max_pool
);
pooling_layer!(
    /// Mean pooling over windows of `P` positions: the mean of each window's real positions
    /// (the reference's `AvgPool1d(count_include_pad=False)`).
    MeanPool,
    D::mean_pool
);

/// The output length of a pooling of window `P` and step `S` (`weighted`: the weighted pool) on
/// `LI` positions where it is the one the reference sizes the next layer for, ⌈LI/S⌉; else 0.
pub const fn steps_out_len(weighted: bool, li: usize, p: usize, s: usize) -> usize {
    match crate::ops::pool::steps_len(weighted, li, p, s) {
        Some(lo) if lo == li.div_ceil(s) => lo,
        _ => 0,
    }
}

macro_rules! pooling_steps_layer {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $weighted:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<const P: usize, const S: usize>;

        impl<const P: usize, const S: usize> $name<P, S> {
            /// Pools `LI` positions into `LO` = ⌈LI/S⌉ (checked at compile time: `drg_model!`
            /// only emits geometries where the reference's pooling gives that length).
            pub fn forward<const C: usize, const LI: usize, const LO: usize, D: DrgDevice, T: Tape<f32, D>>(
                &self,
                x: Seq<C, LI, D, T>,
            ) -> Seq<C, LO, D, T> {
                const {
                    assert!(P >= 1 && P <= LI && S >= 1, "pooling window larger than the sequence length, or a step of 0");
                    assert!(LO >= 1 && LO == steps_out_len($weighted, LI, P, S), "pooling output length must be the reference's, ceil(LI / S)");
                }
                let b = x.shape().0;
                D::pool_steps(x, $kind, (P, S), (b, Const::<C>, Const::<LO>))
            }
        }
    };
}

pooling_steps_layer!(
    /// Weighted pooling after the stem with the reference's `pooling_steps` = `S` ≠ `P`: the
    /// reference's `Padded_AvgPool1d(weighted=True)` ignores the step except in its padding,
    /// q = ⌈(P − LI mod S)/2⌉ copies of the batch minimum on both sides (none where q ≤ 0), then
    /// windows of `P` one after the other ([`crate::ops::pool`]).
    WeightedPoolSteps,
    crate::ops::pool::PoolKind::Weighted,
    true
);
pooling_steps_layer!(
    /// Max pooling with window `P` and step `S` (the reference's `pooling_steps`), PyTorch's
    /// `MaxPool1d(P, stride = S, padding = q)`, q = ⌈(P − LI mod S)/2⌉ (0 when `S` divides `LI`).
    MaxPoolSteps,
    crate::ops::pool::PoolKind::Max,
    false
);
pooling_steps_layer!(
    /// Mean pooling with window `P` and step `S` (the reference's `pooling_steps`), PyTorch's
    /// `AvgPool1d(P, stride = S, padding = q, count_include_pad = False)`: the mean of each
    /// window's real positions.
    MeanPoolSteps,
    crate::ops::pool::PoolKind::Mean,
    false
);
