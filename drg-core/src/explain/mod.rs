//! Reading biology out of a trained model (issue 13, drg-after-training.md §5–§8): per-base
//! attributions of chosen genes ([`attribution`]: gradients, gradient × input, in-silico
//! mutagenesis, fast by the locality of the convolutions: [`ism_fast`] over [`ism_plan`] and
//! [`ism_stretch`]), the first-layer kernels as MEME motifs ([`meme`]), and the request that the
//! model binaries' flags (`--sequence_attributions`, `--attribution_window`,
//! `--average_outclasses`, `--attribution_genes`, `--save_kernel_filters`) build ([`request`]).

pub mod attribution;
pub mod ism_fast;
pub mod ism_plan;
pub mod ism_stretch;
pub mod kernels;
pub mod logo;
pub mod meme;
pub mod npz_out;
pub mod request;
pub mod seqlets;
pub mod tomtom;
pub mod tracks;
pub mod truth;

pub use request::{run_explain, AttributionRequest, ExplainFlags, ExplainRequest};
