//! Device-generic residual sum: dfdx's `+`, with the host op's runtime shape check.

use dfdx::prelude::*;

/// `a + b`; same contract as [`crate::ops::add()`] (both shapes must be equal, checked at runtime).
pub fn add<S: Shape, D: Device<f32>, T: Tape<f32, D> + Merge<R>, R: Tape<f32, D>>(
    a: Tensor<S, f32, D, T>,
    b: Tensor<S, f32, D, R>,
) -> Tensor<S, f32, D, T> {
    let (sa, sb) = (a.shape().concrete(), b.shape().concrete());
    assert_eq!(sa.as_ref(), sb.as_ref(), "add: operands have different shapes");
    a + b
}
