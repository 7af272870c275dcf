//! # drg-core
//!
//! The building blocks of drg-rs, laid out in the order a model's data flows:
//!
//! * [`data`]: one-hot sequences (npz, FASTA), output matrices (tsv/csv), gene alignment,
//!   class and cross-validation files, batching, and the built-in simulator;
//! * [`ops`]: differentiable kernels of our own on dfdx 0.13 (conv1d, reverse-complement stem,
//!   weighted pooling, fused BatchNorm+GELU, ...), fast and multi-threaded on CPU;
//! * [`layers`]: typed modules (channel counts and lengths are `Const<N>`) built from the ops:
//!   trunk layers (conv stacks, attention, flatten, fully connected stacks) and heads;
//! * [`import`]: reading the reference implementation's state dicts (`.npz`, `.pth`) into models;
//! * [`train`]: losses, optimizers, the training protocol of the reference, checkpoints;
//! * [`eval`]: correlations, the reference's report files and plots.
//!
//! Models themselves are declared with the `drg_model!` macro of the `drg-macros` crate, which
//! expands into items built from [`layers`] and implementing [`model::DrgModel`].

pub mod data;
pub mod device;
pub mod eval;
pub mod import;
pub mod layers;
pub mod model;
pub mod ops;
pub mod train;

pub use dfdx;
