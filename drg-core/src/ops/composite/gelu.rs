//! Device-generic exact GELU: dfdx's `accurate_gelu` (the erf form, as the reference and the
//! host op [`crate::ops::gelu()`]).

use dfdx::prelude::*;

/// Exact GELU, element-wise, any shape; same contract as [`crate::ops::gelu()`].
pub fn gelu<S: Shape, D: Device<f32>, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
    x.accurate_gelu()
}
