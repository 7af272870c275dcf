//! Dropout drawn from the forward context's generator, so masks are reproducible from a seed.

use dfdx::prelude::*;
use rand::Rng;

use super::ctx::Ctx;
use crate::device::DrgDevice;

/// Inverted dropout with probability `p` in train mode (kept values scaled by 1/(1−p)); the
/// identity in eval mode or when `p` is 0.
pub fn dropout<S: Shape, D: DrgDevice, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>, p: f32, ctx: &mut Ctx) -> Tensor<S, f32, D, T> {
    if !ctx.train || !ctx.dropout || p <= 0.0 {
        return x;
    }
    let scale = 1.0 / (1.0 - p);
    let n = x.shape().num_elements();
    let mut mask = x.device().host_buffer(n);
    mask.iter_mut().for_each(|m| *m = if ctx.rng.gen::<f32>() < p { 0.0 } else { scale });
    let mask = x.device().tensor_from_vec(mask, *x.shape());
    x * mask
}
