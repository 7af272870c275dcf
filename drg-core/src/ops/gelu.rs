//! Exact GELU, 0.5·x·(1 + erf(x/√2)) (the reference's activation, not the tanh form; erf as in
//! PyTorch's vectorised CPU kernel, see [`super::fast_math`]), as a parallel element-wise op (dfdx's own `AccurateGeLU` is single-threaded, 3–4× slower here).

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::fast_math::{erf, exp, wide};
use super::host::{host_vec, ConsumedGrad, HostDevice, PAR_CHUNK};

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1/√(2π)
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU of one value.
#[inline(always)]
pub(crate) fn gelu_value(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// d GELU / dx = Φ(x) + x·φ(x).
#[inline(always)]
pub(crate) fn gelu_derivative(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x)
}

/// The host (CPU) kernel of [`DrgDevice::gelu`](crate::device::DrgDevice::gelu).
pub(crate) fn gelu_host<S: Shape, D: HostDevice, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
    let (x, mut tape) = x.split_tape();
    let xh = host_vec(&x);
    let mut y = x.device().host_buffer(xh.len());
    y.par_chunks_mut(PAR_CHUNK)
        .zip(xh.par_chunks(PAR_CHUNK))
        .for_each(|(y, x)| wide(|| y.iter_mut().zip(x).for_each(|(y, &x)| *y = gelu_value(x))));
    let out = x.device().tensor_from_vec(y, *x.shape());
    if T::OWNS_TAPE {
        let (xg, og) = (x.ghost(), out.ghost());
        let (dev, out_len) = (x.device().clone(), out.shape().num_elements());
        tape.add_backward_op(move |grads| {
            let gout = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "gelu");
            let dx = D::host_mut(grads.get_or_alloc_mut(&xg)?);
            dx.par_chunks_mut(PAR_CHUNK).zip(xh.par_chunks(PAR_CHUNK).zip(gout.par_chunks(PAR_CHUNK))).for_each(|(d, (x, g))| {
                wide(|| {
                    for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                        *d += g * gelu_derivative(x);
                    }
                })
            });
            Ok(())
        });
    }
    out.put_tape(tape)
}
