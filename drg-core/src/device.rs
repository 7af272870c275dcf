//! The devices drg-rs runs on.
//!
//! Every op and layer is generic over `D: DrgDevice`. Today that is dfdx's `Cpu`, for which the
//! ops in [`crate::ops`] have fused, multi-threaded kernels of their own. The `cuda` feature
//! enables dfdx's `Cuda` device; a `DrgDevice` implementation for it, built from public dfdx ops
//! (dfdx keeps its CUDA buffers crate-private), is planned.

use dfdx::tensor::{Cpu, TensorFromVec};
use dfdx::tensor_ops::Device;

pub use dfdx::tensor::Cpu as DefaultDevice;
#[cfg(feature = "cuda")]
pub use dfdx::tensor::Cuda;

/// A dfdx device on which drg-rs's custom ops can run.
pub trait DrgDevice: Device<f32> + TensorFromVec<f32> + Clone + Send + Sync + 'static {
    /// Mutable host view of a gradient buffer, for backward passes computed on the host.
    fn host_mut(buf: &mut <Self as dfdx::tensor::Storage<f32>>::Vec) -> &mut [f32];
}

impl DrgDevice for Cpu {
    fn host_mut(buf: &mut <Self as dfdx::tensor::Storage<f32>>::Vec) -> &mut [f32] {
        buf
    }
}
