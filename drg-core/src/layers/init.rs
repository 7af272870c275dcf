//! PyTorch's default initialisation, which the reference relies on.
//!
//! Conv1d and Linear weights and biases are drawn from U(−1/√fan_in, 1/√fan_in) (kaiming-uniform
//! with a = √5 reduces to this), with fan_in = in_channels·kernel (conv) or in_features (linear).

use dfdx::prelude::*;

/// Fills `t` from U(−1/√fan_in, 1/√fan_in) using the device's seeded generator.
pub fn fill_uniform_fan_in<S: Shape, D: Device<f32>>(t: &mut Tensor<S, f32, D>, fan_in: usize) -> Result<(), D::Err> {
    let b = 1.0 / (fan_in as f32).sqrt();
    t.try_fill_with_distr(rand_distr::Uniform::new(-b, b))
}
