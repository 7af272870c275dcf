//! Device-generic 1-d convolution: one `gather` builds the im2col matrix, one `matmul` (cuBLAS on
//! CUDA) multiplies it with the weight.
//!
//! Layout: x `[B, CI, L]` gets one zero column appended (`[B, CI, L + 1]`) and is viewed as
//! `[B, L + 1, CI]`; a gather along the length axis with the host-built index
//! `idx[t·K + j] = t·s + j·d − pad_left` (or `L`, the zero column, where that falls into the
//! padding) gives `col [B, LO·K, CI]` = `[B, LO, K·CI]`, and `y = col · W₂ + bias` with
//! `W₂[j·CI + i, o] = W[o, i, j]`. The result `[B, LO, CO]` is permuted back to `[B, CO, LO]` and
//! made contiguous. Backward is dfdx's: the gather's backward scatters-adds into x (the col2im).

use dfdx::prelude::*;

use super::{index_tensor, with_pad_column, T3};
use crate::ops::conv1d::{ConvGeom, ConvProblem};

impl ConvProblem {
    /// im2col gather index of one sample in (t, j) order: the input position read by output t
    /// through tap j, or `len` (the pad column) outside `[0, len)`. With `reverse`, the positions
    /// of the reverse strand, already flipped back along the output: output t reads the reverse
    /// strand at t' = LO − 1 − t, i.e. input position `len − 1 − (t'·s + j·d − pad_left)`.
    pub(crate) fn gather_index(&self, reverse: bool) -> Vec<usize> {
        let g = &self.geom;
        let mut idx = Vec::with_capacity(self.len_out * g.kernel);
        for t in 0..self.len_out {
            let t = if reverse { self.len_out - 1 - t } else { t };
            for j in 0..g.kernel {
                let p = (t * g.stride + j * g.dilation) as isize - g.pad_left as isize;
                idx.push(if p < 0 || p >= self.len as isize {
                    self.len
                } else if reverse {
                    self.len - 1 - p as usize
                } else {
                    p as usize
                });
            }
        }
        idx
    }
}

/// The weight `[CO, CI, K]` as the GEMM operand `W₂ [K·CI, CO]`, `W₂[j·CI + i, o] = W[o, i, j]`;
/// with `flip_channels`, `W[o, CI − 1 − i, j]` (the reverse strand's complement). Carries a fresh
/// tape of type `T`, so the weight's gradient is accumulated by its id.
pub(crate) fn weight_matrix<Sw: Shape, D: Device<f32>, T: Tape<f32, D>>(
    weight: &Tensor<Sw, f32, D>,
    p: &ConvProblem,
    flip_channels: bool,
) -> Tensor<(usize, usize), f32, D, T> {
    let (co, ci, k) = (p.cout, p.cin, p.geom.kernel);
    let w = weight.retaped::<T>().reshape_like(&(co, ci, k)).permute::<(usize, usize, usize), Axes3<2, 1, 0>>();
    let w = if flip_channels {
        let dev = weight.device();
        let flip: Vec<usize> = (0..k).flat_map(|_| (0..ci).rev()).collect();
        w.gather(dev.tensor_from_vec(flip, (k, ci)))
    } else {
        w
    };
    w.reshape_like(&(k * ci, co))
}

/// `[B, CI, L]` with a zero pad column, viewed as `[B, L + 1, CI]` for the im2col gather.
pub(crate) fn gather_source<D: Device<f32>, T: Tape<f32, D>>(x: T3<D, T>, p: &ConvProblem) -> T3<D, T> {
    let zeros = x.device().zeros_like(&(p.batch, p.cin, 1));
    with_pad_column(x, zeros).permute::<(usize, usize, usize), Axes3<0, 2, 1>>()
}

/// One strand's convolution as `[B, LO, CO]`: gather with `idx` (see
/// [`ConvProblem::gather_index`]), GEMM with `w2`, plus the bias.
pub(crate) fn conv_strand<Sb: Shape, D: Device<f32>, T: Tape<f32, D>>(
    src: T3<D, T>,
    idx: Vec<usize>,
    w2: Tensor<(usize, usize), f32, D, T>,
    bias: Option<&Tensor<Sb, f32, D>>,
    p: &ConvProblem,
) -> T3<D, T> {
    let (b, lo, co) = (p.batch, p.len_out, p.cout);
    let m = idx.len();
    let dev = src.device().clone();
    let idx = index_tensor(&dev, idx).broadcast_like::<(usize, usize), Axis<0>>(&(b, m));
    let col: T3<D, T> = src.gather(idx);
    let col = col.reshape_like(&(b, lo, p.cin * p.geom.kernel));
    let y = col.matmul(w2);
    match bias {
        Some(bias) => y + bias.retaped::<T>().reshape_like(&(co,)).broadcast_like::<(usize, usize, usize), Axes2<0, 1>>(&(b, lo, co)),
        None => y,
    }
}

/// `[B, LO, CO]` → the contiguous output `[B, CO, LO]` in the caller's shape type.
pub(crate) fn to_output<So: Shape, D: Device<f32>, T: Tape<f32, D>>(y: T3<D, T>, out_shape: So) -> Tensor<So, f32, D, T> {
    y.permute::<(usize, usize, usize), Axes3<0, 2, 1>>().reshape_like(&out_shape)
}

/// 1-d convolution, device-generic; same contract as [`crate::ops::conv1d()`]: x `[B, CI, L]`,
/// weight `[CO, CI, K]`, bias `[CO]`, out `[B, CO, LO]` with LO = `geom.out_len(L)`. Gradients
/// flow to x through the tape and to weight and bias by tensor id.
pub fn conv1d<Si: Shape, Sw: Shape, Sb: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    weight: &Tensor<Sw, f32, D>,
    bias: Option<&Tensor<Sb, f32, D>>,
    geom: ConvGeom,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let bias_dims = bias.map(|b| b.shape().concrete().as_ref().to_vec());
    let p = ConvProblem::new("conv1d", x.shape(), weight.shape(), bias_dims.as_deref(), geom, &out_shape);
    let x = x.reshape_like(&(p.batch, p.cin, p.len));
    let w2 = weight_matrix(weight, &p, false);
    let y = conv_strand(gather_source(x, &p), p.gather_index(false), w2, bias, &p);
    to_output(y, out_shape)
}
