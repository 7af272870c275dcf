//! Training: the reference's losses and its epoch bookkeeping, optimizers, the training protocol
//! and checkpoints.
//!
//! * [`loss`]: `Correlationdata`, `Correlationmse`, `MSE` (and `None` for validation) as summed,
//!   differentiable dfdx ops and as host functions; the `N · ΣT` normalisation of epoch losses.

pub mod loss;
