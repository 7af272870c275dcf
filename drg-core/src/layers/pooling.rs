//! Pooling layers: the reference's weighted pooling (P2), and max / mean pooling with the same
//! window geometry. The output length is ⌈LI/P⌉; the types carry both lengths and a wrong one is
//! a compile error.

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
    /// Mean pooling over windows of `P` positions (zero padding counted, as PyTorch's default).
    MeanPool,
    D::mean_pool
);
