//! Host-side plumbing shared by the ops: shape checks, fast copies of tensor data, parallel
//! accumulation. (dfdx's `GhostTensor` and `Tensorlike` are crate-private, so the gradient
//! look-ups themselves stay inline in each op's backward closure.)

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;
use rayon::prelude::*;

use crate::device::DrgDevice;

/// Elements per rayon task for element-wise loops (large enough to amortise scheduling).
pub(crate) const PAR_CHUNK: usize = 1 << 15;

/// The dims of `shape` as an array of rank `N`, or a panic naming the op and the operand.
pub(crate) fn dims<S: Shape, const N: usize>(shape: &S, op: &str, what: &str) -> [usize; N] {
    let c = shape.concrete();
    let v: &[usize] = c.as_ref();
    assert_eq!(v.len(), N, "{op}: {what} must have rank {N}, got shape {v:?}");
    let mut out = [0; N];
    out.copy_from_slice(v);
    out
}

/// Panics with a clear message if `got != want`.
pub(crate) fn expect_dims(op: &str, what: &str, got: &[usize], want: &[usize]) {
    assert_eq!(got, want, "{op}: {what} has dims {got:?}, expected {want:?}");
}

/// A host copy of a contiguous tensor's data (a plain `memcpy`, unlike `as_vec`, which walks
/// strided indices element by element).
pub(crate) fn host_vec<S: Shape, T, D: DrgDevice>(t: &Tensor<S, f32, D, T>) -> Vec<f32> {
    let mut v = vec![0.0f32; t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// `dst += src`, in parallel for large buffers.
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(PAR_CHUNK)
        .zip(src.par_chunks(PAR_CHUNK))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += *s));
}
