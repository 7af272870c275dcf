//! Training: the reference's losses and its epoch bookkeeping, optimizers, the training protocol
//! and checkpoints.
//!
//! * [`loss`]: `Correlationdata`, `Correlationmse`, `MSE` (and `None` for validation) as summed,
//!   differentiable dfdx ops and as host functions; the `N · ΣT` normalisation of epoch losses.
//! * [`schedule`]: the reference's epoch state machine (warm-up, lr halving, early stopping,
//!   fine-tuning rounds) as pure, serialisable logic;
//! * [`optim`]: SGD with momentum, Adam and AdamW with buffers that checkpoints can save;
//! * [`data_fit`]: a `data::Dataset` checked against a model, and its outputs side by side;
//! * [`passes`]: one pass over batches (training with updates, without gradient, prediction);
//! * [`prefetch`]: the next batch's host values gathered on a second thread during a step;
//! * [`trainer`]: [`train`], the reference's `fit_model` for any `DrgModel`, with resume;
//! * [`checkpoint`]: the per-epoch resumable state, written atomically;
//! * [`evaluate`]: test-set evaluation and reports, and [`predict_new`] (`--predictnew`);
//! * [`saved_model`]: weights files (safetensors, `.pth`, `.npz`) into a model, whole, with
//!   `--select_tracks` rows, or in part (`--load_parameters`);
//! * [`outputs`]: output paths, weights files (safetensors) and the model description (JSON);
//! * [`progress`]: epoch and batch progress bars.

pub mod checkpoint;
pub mod data_fit;
pub mod evaluate;
pub mod loss;
pub mod optim;
pub mod outputs;
pub mod passes;
pub mod prefetch;
pub mod progress;
pub mod saved_model;
pub mod schedule;
#[cfg(test)]
pub(crate) mod test_model;
pub mod trainer;

pub use evaluate::{predict_new, Evaluation, ReportOptions};
pub use outputs::OutputPaths;
pub use trainer::{train, TrainConfig, TrainResult};
