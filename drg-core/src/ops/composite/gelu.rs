//! Device-generic exact GELU, 0.5·x·(1 + erf(x/√2)) (the reference's activation and the host op
//! [`crate::ops::gelu()`]).
//!
//! dfdx 0.13's `accurate_gelu` has the right forward but a wrong backward, on CPU and CUDA alike:
//! its x·φ(x) term is computed as ½x·(2/√π)·e^{−x²/2} = x·e^{−x²/2}/√π instead of
//! x·e^{−x²/2}/√(2π) (the chain rule's 1/√2 of erf(x/√2) is missing), so the gradient is too
//! large by K·x·e^{−x²/2}, K = 1/√π − 1/√(2π). We add `c(x) − stop_grad(c(x))` with
//! c(x) = K·e^{−x²/2}: its value is exactly 0 (the same computation twice) and its derivative,
//! −K·x·e^{−x²/2}, cancels the excess.

use dfdx::prelude::*;

/// K = 1/√π − 1/√(2π).
const K: f32 = 0.564_189_6 - 0.398_942_3;

/// Exact GELU with a correct gradient, from dfdx ops.
pub(crate) fn exact_gelu<S: Shape, D: Device<f32>, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
    fn bump<S: Shape, D: Device<f32>, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
        (x.square() * -0.5).exp() * K
    }
    let correction = bump(x.with_empty_tape()) - bump(x.retaped::<NoneTape>());
    x.accurate_gelu() + correction
}

/// Exact GELU, element-wise, any shape; same contract as [`crate::ops::gelu()`].
pub fn gelu<S: Shape, D: Device<f32>, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
    exact_gelu(x)
}
