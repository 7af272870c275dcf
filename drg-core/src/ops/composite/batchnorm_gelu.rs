//! Device-generic BatchNorm over (B, L) per channel, with optional exact GELU (see
//! [`crate::ops::batchnorm_gelu()`]).
//!
//! Train: dfdx's `normalize` over axes (0, 2) — batch mean and biased variance, differentiated
//! through the statistics — then `·γ + β`; the running statistics are updated with tensor ops
//! from an untaped copy (`running = (1 − momentum)·running + momentum·batch`, unbiased variance).
//! Eval: `(x − running_mean)·γ/√(running_var + eps) + β`. The statistics are f32 sums here (the
//! host op sums in f64): the difference is rounding.

use dfdx::prelude::*;

use super::gelu::exact_gelu;
use super::T3;
use crate::ops::batchnorm_gelu::bcl;
use crate::ops::batchnorm_gelu::{BnMode, BN_EPS};
use crate::ops::host::{dims, expect_dims};

/// A per-channel vector `[C]` broadcast to `[B, C, L]`.
fn per_channel<D: Device<f32>, T: Tape<f32, D>>(v: Tensor<(usize,), f32, D, T>, shape: (usize, usize, usize)) -> T3<D, T> {
    v.broadcast_like::<(usize, usize, usize), Axes2<0, 2>>(&shape)
}

/// BatchNorm (train or eval) followed by exact GELU when `gelu` is true; same contract as
/// [`crate::ops::batchnorm_gelu()`].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_gelu<S: Shape, Sc: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<S, f32, D, T>,
    gamma: &Tensor<Sc, f32, D>,
    beta: &Tensor<Sc, f32, D>,
    running_mean: &mut Tensor<Sc, f32, D>,
    running_var: &mut Tensor<Sc, f32, D>,
    mode: BnMode,
    gelu: bool,
) -> Tensor<S, f32, D, T> {
    const OP: &str = "batchnorm_gelu";
    let in_shape = *x.shape();
    let (b, c, l) = bcl(&in_shape, OP);
    for (t, what) in
        [(gamma.shape(), "gamma"), (beta.shape(), "beta"), (running_mean.shape(), "running_mean"), (running_var.shape(), "running_var")]
    {
        let [d]: [usize; 1] = dims(t, OP, what);
        expect_dims(OP, what, &[d], &[c]);
    }
    let shape = (b, c, l);
    let vec_c = |t: &Tensor<Sc, f32, D>| t.clone().reshape_like(&(c,));
    let x: T3<D, T> = x.reshape_like(&shape);
    let z = match mode {
        BnMode::Train { momentum } => {
            let stats = x.retaped::<NoneTape>();
            let mean = stats.clone().mean::<(usize,), Axes2<0, 2>>();
            let var = stats.var::<(usize,), Axes2<0, 2>>();
            let n = (b * l) as f32;
            let unbias = if n > 1.0 { n / (n - 1.0) } else { f32::NAN };
            let rm = vec_c(running_mean) * (1.0 - momentum) + mean * momentum;
            let rv = vec_c(running_var) * (1.0 - momentum) + var * (momentum * unbias);
            // new tensors (new ids): the running statistics are buffers, found by name, not id
            let sc = *running_mean.shape();
            *running_mean = rm.reshape_like(&sc);
            *running_var = rv.reshape_like(&sc);
            x.normalize::<Axes2<0, 2>>(BN_EPS)
        }
        BnMode::Eval => {
            let inv_std = (vec_c(running_var) + BN_EPS).sqrt().recip();
            (x - per_channel(vec_c(running_mean), shape)) * per_channel(inv_std, shape)
        }
    };
    let z = z * per_channel(gamma.retaped::<T>().reshape_like(&(c,)), shape) + per_channel(beta.retaped::<T>().reshape_like(&(c,)), shape);
    let y = if gelu { exact_gelu(z) } else { z };
    y.reshape_like(&in_shape)
}
