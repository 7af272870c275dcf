//! Typed modules built from [`crate::ops`]: every layer's boundary carries its channel count and
//! length as `Const<N>`, so a model that does not fit together is a compile error.
//!
//! The trunk of a reference model reads, in order: [`conv`] (the first conv, optionally over both
//! strands) → [`activation`] → [`pooling`] → [`conv_stack`] (dilated convolutions, then
//! the pooled "transformer" convolutions, optionally with [`attention`] in between) → [`flatten`] →
//! [`fc_stack`]; then [`heads`] and the combination of several trunks ([`combine`]).
//!
//! Every layer implements dfdx's `TensorCollection` with the reference's state-dict names, so
//! dfdx's optimizers, safetensors save/load and our importer all work by name. Settings that are
//! not tensors live in the type (const generics or a spec type with associated consts), so a
//! module can always be rebuilt from its tensors alone.

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod combine;
pub mod conv;
pub mod conv_stack;
pub mod conv_stack_strided;
pub mod ctx;
pub mod dense;
pub mod dropout;
pub mod fc_residual;
pub mod fc_stack;
pub mod flatten;
pub mod init;
pub mod pooling;
pub mod stack_pooling;

pub use activation::{Activation, Gelu};
pub use attention::Attention;
pub use batchnorm::BatchNorm;
pub use conv::Conv1d;
pub use conv_stack::{ConvStack, StackLayer, StackLayers};
pub use ctx::{Ctx, StageClock};
pub use dense::{Dense, Head, TrackHead};
pub use fc_residual::ResFcStack;
pub use fc_stack::{BnLinear, FcLayer, FcLayers, FcStack};
pub use flatten::flatten;
pub use pooling::{MaxPool, MaxPoolSteps, MeanPool, MeanPoolSteps, WeightedPool, WeightedPoolSteps};

use dfdx::shapes::Const;
use dfdx::tensor::{NoneTape, Tensor};

/// A batch of sequences with `C` channels and `L` positions: `(batch, C, L)`.
pub type Seq<const C: usize, const L: usize, D, T = NoneTape> = Tensor<(usize, Const<C>, Const<L>), f32, D, T>;
/// A batch of sequences whose length is only known at run time, used inside layers.
pub type SeqDyn<const C: usize, D, T = NoneTape> = Tensor<(usize, Const<C>, usize), f32, D, T>;
/// A batch of feature vectors of width `N`: `(batch, N)`.
pub type Flat<const N: usize, D, T = NoneTape> = Tensor<(usize, Const<N>), f32, D, T>;
