//! Flattening a batch of sequences into feature vectors, channel-major (index = c·L + position),
//! as PyTorch's `flatten` of an NCL tensor.

use dfdx::prelude::*;

use super::{Flat, Seq};
use crate::device::DrgDevice;

/// `(B, C, L) → (B, N)` with `N = C·L` checked at compile time. A free reshape (no copy).
pub fn flatten<const C: usize, const L: usize, const N: usize, D: DrgDevice, T: Tape<f32, D>>(x: Seq<C, L, D, T>) -> Flat<N, D, T> {
    const { assert!(N == C * L, "flatten width must be channels × length") };
    let b = x.shape().0;
    x.reshape_like(&(b, Const::<N>))
}
