//! What a forward pass needs besides its input: train or eval mode, and the dropout randomness.

use std::collections::BTreeMap;

use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Forward-pass context.
///
/// In train mode BatchNorm normalises with batch statistics and updates its running statistics,
/// and dropout is active; in eval mode neither happens. Dropout draws from `rng`, which the
/// trainer seeds from (seed, epoch, batch), so a resumed run draws the same masks as an
/// uninterrupted one without saving RNG state.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub train: bool,
    /// Whether dropout is applied in train mode (the reference's parity fixtures train without).
    pub dropout: bool,
    pub rng: StdRng,
    /// When set, layers record named copies of their intermediate activations here (the
    /// reference's stage probes), for debugging and for the parity tests.
    pub probe: Option<Probe>,
}

/// Recorded activations by name (`scope/name`), each with its shape and values.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub scope: String,
    pub stages: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Ctx {
    /// Evaluation mode: running statistics, no dropout.
    pub fn eval() -> Self {
        Self { train: false, dropout: false, rng: StdRng::seed_from_u64(0), probe: None }
    }

    /// Training mode with dropout masks drawn from a generator seeded with `seed`.
    pub fn train(seed: u64) -> Self {
        Self { train: true, dropout: true, rng: StdRng::seed_from_u64(seed), probe: None }
    }

    /// Train mode with dropout switched off (BatchNorm still uses batch statistics).
    pub fn without_dropout(mut self) -> Self {
        self.dropout = false;
        self
    }

    /// Starts recording activations.
    pub fn with_probe(mut self) -> Self {
        self.probe = Some(Probe::default());
        self
    }

    /// Sets the name prefix of the following records (e.g. `t0/dilated`).
    pub fn set_scope(&mut self, scope: &str) {
        if let Some(p) = &mut self.probe {
            p.scope = scope.to_string();
        }
    }

    /// Records a copy of `t` under `scope/name` when probing; free otherwise.
    pub fn record<S: Shape, D: Device<f32>, T>(&mut self, name: &str, t: &Tensor<S, f32, D, T>) {
        if let Some(p) = &mut self.probe {
            let key = if p.scope.is_empty() { name.to_string() } else { format!("{}/{}", p.scope, name) };
            let shape = t.shape().concrete().into_iter().collect();
            p.stages.insert(key, (shape, t.as_vec()));
        }
    }
}
