//! Device-generic versions of every op in [`crate::ops`], built only from public dfdx 0.13 tensor
//! ops, so that they run on any `D: Device<f32>`, in particular on `Cuda`.
//!
//! Why a second implementation: the host ops read tensors with `copy_into`/`as_vec` and write
//! gradients through `&mut [f32]` views of the gradient buffers, which dfdx only hands out on
//! `Cpu` (its CUDA buffers are crate-private). These composites instead express each op as a
//! small graph of dfdx ops whose kernels dfdx provides on both devices (`gather`, `concat_along`,
//! `permute`, `reshape_like`, `matmul` — cuBLAS on CUDA —, `softmax`, `maximum`, `choose`,
//! `normalize`, `accurate_gelu` (with a gradient fix, see [`gelu`]), ...), and dfdx's own tape does the backward pass.
//!
//! The signatures are exactly those of the host ops (only the device bound differs), and the
//! semantics are identical, including the reverse-complement tie rule (dfdx's `maximum` passes
//! half of the gradient to each side on ties) and the global-minimum pad of the pools (a constant
//! without gradient). Differences to the host ops are rounding only (f32 sums in another order;
//! the host BatchNorm and loss accumulate in f64), with two documented exceptions in
//! [`loss`] (rows whose centred prediction is zero up to f32 rounding).
//!
//! Shifted views: dfdx's CPU `slice` backward assigns instead of accumulating, so no composite
//! takes overlapping slices; every shifted or padded view is one `gather` with a host-built index
//! (its backward accumulates on both devices), and padding is one extra pad column that the
//! index points to.

pub mod add;
pub mod batchnorm_gelu;
pub mod conv1d;
pub mod gelu;
pub mod loss;
pub mod pool;
pub mod rc_conv;

pub use add::add;
pub use batchnorm_gelu::batchnorm_gelu;
pub use conv1d::conv1d;
pub use gelu::gelu;
pub use loss::loss_sum_grouped;
pub use pool::{max_pool, mean_pool, pool_steps, weighted_pool};
pub use rc_conv::rc_conv1d;

use dfdx::prelude::*;

/// A rank-3 tensor with runtime dims: the working shape inside the composites.
pub(crate) type T3<D, T> = Tensor<(usize, usize, usize), f32, D, T>;

/// Appends one column holding `pad` along the length axis: `[B, C, L]` → `[B, C, L + 1]`.
/// Gather indices equal to `L` then read the pad value. The pad column is a constant: it gets
/// no gradient. (The taped operand must be the left one of `concat_along`.)
pub(crate) fn with_pad_column<D: Device<f32>, T: Tape<f32, D>>(x: T3<D, T>, pad: Tensor<(usize, usize, usize), f32, D>) -> T3<D, T> {
    (x, pad).concat_along(Axis::<2>)
}

/// A host-built index vector as a device tensor of shape `(n,)`.
pub(crate) fn index_tensor<D: Device<f32>>(dev: &D, idx: Vec<usize>) -> Tensor<(usize,), usize, D> {
    let n = idx.len();
    dev.tensor_from_vec(idx, (n,))
}
