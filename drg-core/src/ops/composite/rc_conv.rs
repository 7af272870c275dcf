//! Device-generic reverse-complement stem: `max(conv(x), flip_L(conv(rc(x))))`.
//!
//! Neither strand is materialised: the reverse complement flips channels and positions, and
//! `conv(rc(x))` flipped back along the output equals a convolution of x itself with the
//! channel-flipped weight, read through a reversed im2col index (see
//! [`ConvProblem::gather_index`]). The strand max is dfdx's `maximum`, whose gradient at exact
//! ties is ½ to each side — the reference's (and the host op's) tie rule, exactly.

use dfdx::prelude::*;

use super::conv1d::{conv_strand, gather_source, to_output, weight_matrix};
use crate::ops::conv1d::{ConvGeom, ConvProblem};

/// Reverse-complement convolution stem, device-generic; same contract as
/// [`crate::ops::rc_conv1d()`].
pub fn rc_conv1d<Si: Shape, Sw: Shape, Sb: Shape, So: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    weight: &Tensor<Sw, f32, D>,
    bias: Option<&Tensor<Sb, f32, D>>,
    geom: ConvGeom,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let bias_dims = bias.map(|b| b.shape().concrete().as_ref().to_vec());
    let p = ConvProblem::new("rc_conv1d", x.shape(), weight.shape(), bias_dims.as_deref(), geom, &out_shape);
    let src = gather_source(x.reshape_like(&(p.batch, p.cin, p.len)), &p);
    let reverse = conv_strand(src.with_empty_tape(), p.gather_index(true), weight_matrix(weight, &p, true), bias, &p);
    let forward = conv_strand(src, p.gather_index(false), weight_matrix(weight, &p, false), bias, &p);
    to_output(forward.maximum(reverse), out_shape)
}
