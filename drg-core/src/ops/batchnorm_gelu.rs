//! BatchNorm over (B, L) per channel (behaviour P3), fused with an optional exact GELU.
//!
//! The conv stacks of the reference run BN → GELU → conv; fusing the first two saves a full pass
//! over the activations and a copy in each direction, and everything here is parallel (dfdx's
//! BatchNorm1D and GELU are single-threaded). Statistics are summed in f64.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::fast_math::wide;
use super::gelu::{gelu_derivative, gelu_value};
use super::host::{add_assign, dims, expect_dims, host_vec, ConsumedGrad, HostDevice};

/// PyTorch's BatchNorm epsilon.
pub const BN_EPS: f32 = 1e-5;

/// Which statistics BatchNorm normalises with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BnMode {
    /// Batch statistics (biased variance); running statistics are updated in place:
    /// `running = (1 − momentum)·running + momentum·batch`, with the unbiased batch variance.
    Train { momentum: f32 },
    /// Running statistics; nothing is updated.
    Eval,
}

/// x `[B, C, L]` (or `[B, C]`) as (B, C, L).
pub(crate) fn bcl<S: Shape>(s: &S, op: &str) -> (usize, usize, usize) {
    let c = s.concrete();
    match c.as_ref() {
        &[b, c, l] => (b, c, l),
        &[b, c] => (b, c, 1),
        other => panic!("{op}: input must be [B, C, L] or [B, C], got shape {other:?}"),
    }
}

/// Lanes of independent accumulators in the reductions below: breaks the add-latency chain and
/// lets the compiler vectorise, while every partial sum stays in f64.
const LANES: usize = 8;

/// Σ f(v) over `row` in f64, with [`LANES`] independent partial sums.
#[inline]
fn sum_f64(row: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Per channel: batch mean and biased variance over (B, L), in f64.
fn batch_stats(x: &[f32], b: usize, c: usize, l: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (b * l) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let rows = || (0..b).map(move |bi| &x[(bi * c + ch) * l..(bi * c + ch + 1) * l]);
            let mean = rows().map(|r| sum_f64(r, |v| v as f64)).sum::<f64>() / n;
            let var = rows().map(|r| sum_f64(r, |v| (v as f64 - mean).powi(2))).sum::<f64>() / n;
            (mean, var)
        })
        .unzip()
}

/// The host (CPU) kernel of [`DrgDevice::batchnorm_gelu`](crate::device::DrgDevice::batchnorm_gelu).
pub(crate) fn batchnorm_gelu_host<S: Shape, Sc: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<S, f32, D, T>,
    gamma: &Tensor<Sc, f32, D>,
    beta: &Tensor<Sc, f32, D>,
    running_mean: &mut Tensor<Sc, f32, D>,
    running_var: &mut Tensor<Sc, f32, D>,
    mode: BnMode,
    gelu: bool,
) -> Tensor<S, f32, D, T> {
    const OP: &str = "batchnorm_gelu";
    let (b, c, l) = bcl(x.shape(), OP);
    for (t, what) in
        [(gamma.shape(), "gamma"), (beta.shape(), "beta"), (running_mean.shape(), "running_mean"), (running_var.shape(), "running_var")]
    {
        let [d]: [usize; 1] = dims(t, OP, what);
        expect_dims(OP, what, &[d], &[c]);
    }
    let (x, mut tape) = x.split_tape();
    let xh = host_vec(&x);
    let g = host_vec(gamma);
    let bt = host_vec(beta);
    let train = matches!(mode, BnMode::Train { .. });
    let (mean, invstd): (Vec<f32>, Vec<f32>) = match mode {
        BnMode::Train { momentum } => {
            let (mean, var) = batch_stats(&xh, b, c, l);
            let n = (b * l) as f64;
            let unbias = if n > 1.0 { n / (n - 1.0) } else { f64::NAN };
            let m = momentum as f64;
            let rm: Vec<f32> = host_vec(running_mean).iter().zip(&mean).map(|(&r, &bm)| ((1.0 - m) * r as f64 + m * bm) as f32).collect();
            let rv: Vec<f32> =
                host_vec(running_var).iter().zip(&var).map(|(&r, &bv)| ((1.0 - m) * r as f64 + m * bv * unbias) as f32).collect();
            running_mean.copy_from(&rm);
            running_var.copy_from(&rv);
            let inv = var.iter().map(|&v| (1.0 / (v + BN_EPS as f64).sqrt()) as f32).collect();
            (mean.iter().map(|&m| m as f32).collect(), inv)
        }
        BnMode::Eval => {
            let inv = host_vec(running_var).iter().map(|&v| 1.0 / (v + BN_EPS).sqrt()).collect();
            (host_vec(running_mean).into_vec(), inv)
        }
    };
    // z = x·scale + shift per channel
    let scale: Vec<f32> = g.iter().zip(&invstd).map(|(g, i)| g * i).collect();
    let shift: Vec<f32> = bt.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    let mut y = x.device().host_buffer(xh.len());
    let row = l.max(1);
    y.par_chunks_mut(row).zip(xh.par_chunks(row)).enumerate().for_each(|(r, (y, x))| {
        let (s, h) = (scale[r % c], shift[r % c]);
        if gelu {
            wide(|| y.iter_mut().zip(x).for_each(|(y, &x)| *y = gelu_value(x * s + h)));
        } else {
            y.iter_mut().zip(x).for_each(|(y, &x)| *y = x * s + h);
        }
    });
    let out = x.device().tensor_from_vec(y, *x.shape());
    if T::OWNS_TAPE {
        let (xg, gg, bg, og) = (x.ghost(), gamma.ghost(), beta.ghost(), out.ghost());
        let (dev, out_len) = (x.device().clone(), out.shape().num_elements());
        tape.add_backward_op(move |grads| {
            // dz = dL/dz (through GELU), and per row Σdz, Σdz·x̂ with x̂ = (x − mean)·invstd
            let mut dz = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "batchnorm_gelu");
            let sums: Vec<(f64, f64)> = dz
                .par_chunks_mut(row)
                .zip(xh.par_chunks(row))
                .enumerate()
                .map(|(r, (dz, x))| {
                    let ch = r % c;
                    let (s, h, m, i) = (scale[ch], shift[ch], mean[ch], invstd[ch]);
                    if gelu {
                        wide(|| {
                            for (d, &x) in dz.iter_mut().zip(x) {
                                *d *= gelu_derivative(x * s + h);
                            }
                        });
                    }
                    let sd = sum_f64(dz, |d| d as f64);
                    let sdx: f64 = {
                        let mut acc = [0.0f64; LANES];
                        let (dc, xc) = (dz.chunks_exact(LANES), x.chunks_exact(LANES));
                        let tail: f64 = dc.remainder().iter().zip(xc.remainder()).map(|(&d, &x)| (d * (x - m) * i) as f64).sum();
                        for (dc, xc) in dc.zip(xc) {
                            for ((a, &d), &x) in acc.iter_mut().zip(dc).zip(xc) {
                                *a += (d * (x - m) * i) as f64;
                            }
                        }
                        acc.iter().sum::<f64>() + tail
                    };
                    (sd, sdx)
                })
                .collect();
            let mut dbeta = vec![0.0f64; c];
            let mut dgamma = vec![0.0f64; c];
            for (r, (sd, sdx)) in sums.iter().enumerate() {
                dbeta[r % c] += sd;
                dgamma[r % c] += sdx;
            }
            let n = (b * l) as f64;
            let mean_dz: Vec<f32> = dbeta.iter().map(|s| (s / n) as f32).collect();
            let mean_dzx: Vec<f32> = dgamma.iter().map(|s| (s / n) as f32).collect();
            let dx = D::host_mut(grads.get_or_alloc_mut(&xg)?);
            dx.par_chunks_mut(row).zip(xh.par_chunks(row).zip(dz.par_chunks(row))).enumerate().for_each(|(r, (dx, (x, dz)))| {
                let ch = r % c;
                let (s, m, i) = (scale[ch], mean[ch], invstd[ch]);
                if train {
                    let (md, mdx) = (mean_dz[ch], mean_dzx[ch]);
                    for ((dx, &x), &d) in dx.iter_mut().zip(x).zip(dz) {
                        *dx += s * (d - md - (x - m) * i * mdx);
                    }
                } else {
                    for (dx, &d) in dx.iter_mut().zip(dz) {
                        *dx += s * d;
                    }
                }
            });
            let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
            add_assign(D::host_mut(grads.get_or_alloc_mut(&gg)?), &to32(dgamma));
            add_assign(D::host_mut(grads.get_or_alloc_mut(&bg)?), &to32(dbeta));
            Ok(())
        });
    }
    out.put_tape(tape)
}
