//! Differentiable kernels of our own on dfdx 0.13: the lowest layer of drg-core (it imports
//! nothing else of the crate; `device` dispatches to it).
//!
//! dfdx 0.13 on stable Rust has no convolution or pooling, and its element-wise ops are
//! single-threaded; these ops fill the gap. Each op is declared once, as a method of
//! [`crate::device::DrgDevice`] (its contract is documented there), and has two kernels here:
//! the **host kernel** (`*_host` in this module's files, listed in `host_kernels`; for `Cpu`) and
//! the **composite** of [`composite`] (device-generic, for `Cuda`). Both are generic over the
//! tape `T` and the input shape type, and take the **output shape value** explicitly, so a typed
//! layer passes `(batch, Const::<C>, Const::<L>)` and gets a typed tensor back. Shapes are
//! checked at runtime with a panic naming the op (the typed layers guarantee them). The losses'
//! kernels are in [`loss`].
//!
//! The host kernels follow the custom-op pattern of dfdx: split the tape, compute on host data, wrap the
//! result with `tensor_from_vec`, and (when the tape is owned) register a backward closure that
//! accumulates (`+=`) into the input gradient and writes parameter gradients by tensor id.
//!
//! Inputs are read with `copy_into` (a `memcpy`), so they must be contiguous row-major tensors:
//! outputs of these ops, of `tensor_from_vec`, or reshapes of those (not `permute`d views).
//! On CPU the convolutions use an AVX-512 GEMM of our own where the CPU has it (see `sgemm`),
//! and large buffers are backed by transparent huge pages (see `host`). Their outputs are plain
//! `Vec`s, which dfdx's CPU buffer cache takes on drop but never hands out again: a device with
//! the cache on must empty it regularly (`DrgDevice::end_pass`, which the trainer calls after
//! every pass over a set).

pub(crate) mod fast_math;
pub(crate) mod host;
pub(crate) mod sgemm;

pub mod composite;
pub mod loss;

pub mod add;
pub mod batchnorm_gelu;
pub mod conv1d;
pub mod gelu;
pub mod pool;
pub mod rc_conv;

pub use batchnorm_gelu::BnMode;
pub use conv1d::ConvGeom;
pub use host::{catch_alloc_failure, AllocFailure, HostDevice};
pub use pool::pooled_len;

/// The host (CPU) kernels under the ops' own names (the names of [`composite`] and of the
/// methods of `DrgDevice`), for the `Cpu` implementation of `DrgDevice`.
pub(crate) mod host_kernels {
    pub(crate) use super::add::add_host as add;
    pub(crate) use super::batchnorm_gelu::batchnorm_gelu_host as batchnorm_gelu;
    pub(crate) use super::conv1d::conv1d_host as conv1d;
    pub(crate) use super::gelu::gelu_host as gelu;
    pub(crate) use super::loss::loss_sum_grouped_host as loss_sum_grouped;
    pub(crate) use super::pool::{
        max_pool_host as max_pool, mean_pool_host as mean_pool, pool_steps_host as pool_steps, weighted_pool_host as weighted_pool,
    };
    pub(crate) use super::rc_conv::rc_conv1d_host as rc_conv1d;
}
