//! What a forward pass needs besides its input: train or eval mode, and the dropout randomness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
    /// When set, the forward time of every stage (from one record point to the next) is
    /// collected here: which layer takes the time (the model benchmark, `models/benches`).
    pub clock: Option<StageClock>,
}

/// Forward time per stage, in the order the stages ran: the time from the previous record point
/// (or the clock's start) to stage `scope/name`'s, the probe's copying excluded.
#[derive(Debug, Clone)]
pub struct StageClock {
    scope: String,
    last: Instant,
    pub stages: Vec<(String, Duration)>,
}

impl StageClock {
    pub fn start() -> Self {
        Self { scope: String::new(), last: Instant::now(), stages: Vec::new() }
    }
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
        Self { train: false, dropout: false, rng: StdRng::seed_from_u64(0), probe: None, clock: None }
    }

    /// Training mode with dropout masks drawn from a generator seeded with `seed`.
    pub fn train(seed: u64) -> Self {
        Self { train: true, dropout: true, rng: StdRng::seed_from_u64(seed), probe: None, clock: None }
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

    /// Starts timing the stages (restarting the clock).
    pub fn with_clock(mut self) -> Self {
        self.clock = Some(StageClock::start());
        self
    }

    /// Sets the name prefix of the following records (e.g. `t0/dilated`).
    pub fn set_scope(&mut self, scope: &str) {
        if let Some(p) = &mut self.probe {
            p.scope = scope.to_string();
        }
        if let Some(c) = &mut self.clock {
            c.scope = scope.to_string();
        }
    }

    /// Records a copy of `t` under `scope/name` when probing; free otherwise.
    pub fn record<S: Shape, D: Device<f32>, T>(&mut self, name: &str, t: &Tensor<S, f32, D, T>) {
        if let Some(c) = &mut self.clock {
            let key = if c.scope.is_empty() { name.to_string() } else { format!("{}/{}", c.scope, name) };
            c.stages.push((key, c.last.elapsed()));
        }
        if let Some(p) = &mut self.probe {
            let key = if p.scope.is_empty() { name.to_string() } else { format!("{}/{}", p.scope, name) };
            let shape = t.shape().concrete().into_iter().collect();
            p.stages.insert(key, (shape, t.as_vec()));
        }
        if let Some(c) = &mut self.clock {
            c.last = Instant::now();
        }
    }
}
