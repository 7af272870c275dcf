//! The `drg_model!` language of drg-rs as an ordinary library.
//!
//! Pipeline (one file per step): `parse` turns tokens into a syntax tree (`ast`); `pipelines`
//! substitutes the named trunk pipelines an invocation shares between its models; `resolve`
//! checks names, arguments and references; `infer` (with `heads`, `head_stacks` and `params`) computes every
//! shape and parameter count per size variant into the IR (`ir`); `codegen` turns the IR into
//! items. All errors are collected and reported together, each at the user's token.
//!
//! The proc macro (`drg-macros`) calls [`expand`]; drg-core re-runs the inference on a
//! declaration's text for input lengths it was not compiled for, to suggest a `sizes` line
//! ([`suggest_sizes`]).

mod args;
pub mod ast;
mod codegen;
mod declared;
#[cfg(test)]
mod defaults_tests;
mod error;
mod expand;
mod head_stacks;
mod heads;
pub mod infer;
pub mod ir;
mod params;
mod parse;
mod pipelines;
mod resolve;
mod size_names;
mod suggest;
#[cfg(test)]
mod tests;

pub use declared::declared_model;
pub use expand::expand;
pub use suggest::{suggest_sizes, Change, Reason, Stage, Suggestion, TrunkStages};
pub use syn;
