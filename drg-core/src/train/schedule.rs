//! The reference's epoch state machine (its rules are the tests of this file) as pure logic, without tensors.
//!
//! The trainer runs a pass, hands the epoch's four losses to [`Schedule::end_epoch`] and gets back
//! a [`Decision`]: whether to save the current model as the best, whether to reload the best one,
//! and whether training is over. The learning rate for the next pass is [`Schedule::lr`], the
//! number of the next epoch [`Schedule::epoch`] + 1. Keeping this apart from the tensors lets the
//! rules be tested on scripted loss sequences, and the whole state is serde-serialisable so a
//! checkpoint can store it and a resumed run continues with the same decisions.
//!
//! The rules, in the reference's order within one epoch `e` of the main phase:
//! 1. warm-up: for `e ≤ warm_up_epochs` the lr is multiplied by `warm_up_factor` (it started at
//!    `lr / factor^warm_up_epochs`);
//! 2. early stopping: a validation loss below every earlier one (epoch 0 included) resets the
//!    counter, anything else increments it; stop when it reaches `patience`, on a NaN loss, or when
//!    `L2 / L_val ≤ valtrain_ratio`;
//! 3. lr rules, first match wins: NaN or `L_train > beginning_loss` → nothing; `e > warm_up_epochs`
//!    and (`(L_train − ref)/(1e-8 + beginning_loss − L_train) > trainvariability_cut` or
//!    `inc_count > trainvariability_cutn`) → halve the lr, `ref ← L_train`, `inc_count ← 0`;
//!    `L_train > ref` → `inc_count += 1`; `L_train < ref` → `inc_count ← 0`, `ref ← L_train`;
//! 4. `e == epochs` or a stop → the stop procedure; otherwise save when `L_val < best` (recording
//!    the current lr as `best_lr`).
//!
//! Stop procedure: if the current `L_val > best`, reload the best model and (with fine-tuning on)
//! continue from the best epoch's number (so **epoch numbers repeat**) at `best_lr ·
//! finetuning_rate`, without warm-up, lr rules or patience: an improvement saves, anything else
//! counts; when the count exceeds `finetuning_patience` the next round starts (count 0, reload,
//! lr · `finetuning_rate`); after `finetuning_rounds` rounds or past `epochs` the best model is
//! reloaded and training ends. If the current model is not worse than the best it stays.

use serde::{Deserialize, Serialize};

/// Losses can be NaN (the reference stops on them and writes `nan`), which JSON cannot hold:
/// they are stored as `null`.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_some(v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// The protocol's settings, with the reference's defaults ([`ScheduleConfig::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Maximum number of epochs (`epochs`, 1000).
    pub epochs: usize,
    /// Epochs without a new best validation loss before stopping (`patience`, 10).
    pub patience: usize,
    /// Warm-up epochs (`warm_up_epochs`, 4 in the use cases; 0 disables warm-up).
    pub warm_up_epochs: usize,
    /// Factor of the exponential warm-up (`warm_up_lr_factor`, 4).
    pub warm_up_factor: f64,
    /// Relative rise of the training loss that halves the lr (`trainvariability_cut`, 0.3).
    pub train_variability_cut: f64,
    /// Epochs above the reference loss that halve the lr (`trainvariability_cutn`, 25).
    pub train_variability_cutn: usize,
    /// Stop when `L2 / L_val ≤ valtrain_ratio` (0).
    pub valtrain_ratio: f64,
    /// Fine-tune the best model after stopping (`finetuning`, true).
    pub finetuning: bool,
    /// Non-improving fine-tuning epochs tolerated per round (`finetuning_patience`, 3).
    pub finetuning_patience: usize,
    /// Fine-tuning rounds (`finetuning_rounds`, 2).
    pub finetuning_rounds: usize,
    /// Lr factor when fine-tuning starts and at every new round (`finetuning_rate`, 0.1).
    pub finetuning_rate: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            epochs: 1000,
            patience: 10,
            warm_up_epochs: 4,
            warm_up_factor: 4.0,
            train_variability_cut: 0.3,
            train_variability_cutn: 25,
            valtrain_ratio: 0.0,
            finetuning: true,
            finetuning_patience: 3,
            finetuning_rounds: 2,
            finetuning_rate: 0.1,
        }
    }
}

/// The four losses of one epoch line (the columns of `_loss.txt`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochLosses {
    /// Training loss function on the validation set.
    #[serde(with = "nan_as_null")]
    pub orig_val: f64,
    /// Validation loss function on the validation set: the early-stopping quantity.
    #[serde(with = "nan_as_null")]
    pub val: f64,
    /// Training loss on the training set (during the updates).
    #[serde(with = "nan_as_null")]
    pub train: f64,
    /// Validation loss function on the training-pass predictions (`L2`).
    #[serde(with = "nan_as_null")]
    pub train_val: f64,
}

impl EpochLosses {
    fn any_nan(&self) -> bool {
        [self.orig_val, self.val, self.train, self.train_val].iter().any(|v| v.is_nan())
    }
}

/// Where the protocol stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Before the epoch-0 pass.
    NotStarted,
    /// Warm-up, lr rules and patience.
    Main,
    /// Fine-tuning the best model: `round` (0-based) and the non-improving epochs counted in it.
    FineTuning { round: usize, count: usize },
    /// Training is over.
    Done,
}

/// Something the reference prints; the trainer words it as the reference does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// `Warming up lr X`: the lr after a warm-up epoch.
    WarmUp { lr: f64 },
    /// `Learning rate reduced because train increased`.
    LrHalved { lr: f64 },
    /// `e lossval Loss has not decreased since N steps`.
    EarlyStop { epoch: usize, val: f64, patience: usize },
    /// A NaN loss stopped training.
    NanStop { epoch: usize },
    /// `L2 / L_val` fell to `valtrain_ratio`.
    ValTrainRatioStop { epoch: usize },
    /// The maximum number of epochs was reached.
    MaxEpochs { epoch: usize },
    /// `Loaded model from <file> k steps ago with loss x`.
    ReloadBest { steps_ago: usize, val: f64 },
    /// `Fine tuning best performing model from step k`.
    FineTuningStart { from_epoch: usize, lr: f64 },
    /// `Learning rate reduced for finetuning to X in round r`.
    FineTuningRound { round: usize, lr: f64 },
}

/// What the trainer must do after an epoch, in this order: save the current model as the best,
/// reload the best model, stop.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub save_best: bool,
    pub reload_best: bool,
    pub finished: bool,
    pub events: Vec<Event>,
}

/// The reference's training protocol state. See the module documentation for the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub cfg: ScheduleConfig,
    /// The configured learning rate (`lr`).
    pub base_lr: f64,
    /// The learning rate of the next training pass.
    lr: f64,
    /// The number of the last finished epoch (0 after the epoch-0 pass).
    epoch: usize,
    phase: Phase,
    /// Training loss of the epoch-0 pass.
    #[serde(with = "nan_as_null")]
    beginning_loss: f64,
    /// Reference training loss of the halving rule.
    #[serde(with = "nan_as_null")]
    ref_loss: f64,
    /// Epochs whose training loss rose above `ref_loss`.
    inc_count: usize,
    /// Lowest validation loss seen so far (early stopping; includes epoch 0).
    #[serde(with = "nan_as_null")]
    min_val: f64,
    /// Epochs since `min_val` last fell.
    since_min: usize,
    /// Validation loss, epoch and lr of the saved best model.
    #[serde(with = "nan_as_null")]
    best_val: f64,
    best_epoch: usize,
    best_lr: f64,
}

impl Schedule {
    /// A schedule for base learning rate `lr`; the first pass runs at `lr / factor^warm_up_epochs`.
    pub fn new(cfg: ScheduleConfig, lr: f64) -> Self {
        let first = lr / cfg.warm_up_factor.powi(cfg.warm_up_epochs as i32);
        Self {
            cfg,
            base_lr: lr,
            lr: first,
            epoch: 0,
            phase: Phase::NotStarted,
            beginning_loss: f64::NAN,
            ref_loss: f64::NAN,
            inc_count: 0,
            min_val: f64::NAN,
            since_min: 0,
            best_val: f64::NAN,
            best_epoch: 0,
            best_lr: lr,
        }
    }

    /// The learning rate of the next training pass.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The number of the last finished epoch; the next one is this + 1.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Validation loss and epoch of the saved best model.
    pub fn best(&self) -> (f64, usize) {
        (self.best_val, self.best_epoch)
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Records the epoch-0 pass (no updates): its training loss is the `beginning_loss` and the
    /// `ref` of the halving rule, its validation loss the first best. The trainer saves the
    /// initial model as the best.
    ///
    /// # Panics
    /// When called twice (a bug in the caller).
    pub fn start(&mut self, epoch0: &EpochLosses) {
        assert_eq!(self.phase, Phase::NotStarted, "Schedule::start called twice");
        self.beginning_loss = epoch0.train;
        self.ref_loss = epoch0.train;
        self.min_val = epoch0.val;
        self.best_val = epoch0.val;
        self.best_epoch = 0;
        self.phase = if self.cfg.epochs == 0 { Phase::Done } else { Phase::Main };
    }

    /// Records the losses of the epoch just trained (number [`Self::epoch`] + 1) and decides.
    ///
    /// # Panics
    /// Before [`Self::start`] or after training is over (a bug in the caller).
    pub fn end_epoch(&mut self, l: &EpochLosses) -> Decision {
        self.epoch += 1;
        match self.phase {
            Phase::Main => self.end_main_epoch(l),
            Phase::FineTuning { round, count } => self.end_finetuning_epoch(l, round, count),
            Phase::NotStarted | Phase::Done => panic!("Schedule::end_epoch in phase {:?}", self.phase),
        }
    }

    fn end_main_epoch(&mut self, l: &EpochLosses) -> Decision {
        let e = self.epoch;
        let mut d = Decision::default();
        // 1. Warm-up.
        if e <= self.cfg.warm_up_epochs {
            self.lr *= self.cfg.warm_up_factor;
            d.events.push(Event::WarmUp { lr: self.lr });
        }
        // 2. Early stopping.
        if l.val < self.min_val {
            self.min_val = l.val;
            self.since_min = 0;
        } else {
            self.since_min += 1;
        }
        let nan = l.any_nan();
        let stop = if nan {
            d.events.push(Event::NanStop { epoch: e });
            true
        } else if self.since_min == self.cfg.patience {
            d.events.push(Event::EarlyStop { epoch: e, val: l.val, patience: self.cfg.patience });
            true
        } else if l.train_val / l.val <= self.cfg.valtrain_ratio {
            d.events.push(Event::ValTrainRatioStop { epoch: e });
            true
        } else {
            false
        };
        // 3. Learning-rate rules.
        if nan || l.train > self.beginning_loss {
            // `init_adjust` is off in the reference: nothing happens.
        } else if e > self.cfg.warm_up_epochs
            && ((l.train - self.ref_loss) / (1e-8 + self.beginning_loss - l.train) > self.cfg.train_variability_cut
                || self.inc_count > self.cfg.train_variability_cutn)
        {
            self.lr *= 0.5;
            self.ref_loss = l.train;
            self.inc_count = 0;
            d.events.push(Event::LrHalved { lr: self.lr });
        } else if l.train > self.ref_loss {
            self.inc_count += 1;
        } else if l.train < self.ref_loss {
            self.inc_count = 0;
            self.ref_loss = l.train;
        }
        // 4. Stop procedure or save.
        if e >= self.cfg.epochs || stop {
            if !stop {
                d.events.push(Event::MaxEpochs { epoch: e });
            }
            self.stop_procedure(l, &mut d);
        } else if l.val < self.best_val {
            self.save(l, &mut d);
        }
        d
    }

    fn save(&mut self, l: &EpochLosses, d: &mut Decision) {
        self.best_val = l.val;
        self.best_epoch = self.epoch;
        self.best_lr = self.lr;
        d.save_best = true;
    }

    fn reload(&self, d: &mut Decision) {
        d.reload_best = true;
        d.events.push(Event::ReloadBest { steps_ago: self.epoch - self.best_epoch, val: self.best_val });
    }

    fn stop_procedure(&mut self, l: &EpochLosses, d: &mut Decision) {
        if l.val > self.best_val {
            self.reload(d);
            if self.cfg.finetuning && self.cfg.finetuning_rounds > 0 {
                self.epoch = self.best_epoch;
                self.lr = self.best_lr * self.cfg.finetuning_rate;
                self.phase = Phase::FineTuning { round: 0, count: 0 };
                d.events.push(Event::FineTuningStart { from_epoch: self.best_epoch, lr: self.lr });
                return;
            }
        }
        self.phase = Phase::Done;
        d.finished = true;
    }

    fn end_finetuning_epoch(&mut self, l: &EpochLosses, mut round: usize, mut count: usize) -> Decision {
        let mut d = Decision::default();
        if l.val < self.best_val {
            self.save(l, &mut d);
        } else {
            count += 1;
        }
        if count > self.cfg.finetuning_patience {
            round += 1;
            count = 0;
            self.lr *= self.cfg.finetuning_rate;
            if round < self.cfg.finetuning_rounds {
                self.reload(&mut d);
                d.events.push(Event::FineTuningRound { round, lr: self.lr });
            }
        }
        if round >= self.cfg.finetuning_rounds || self.epoch > self.cfg.epochs {
            if !d.reload_best {
                self.reload(&mut d);
            }
            self.phase = Phase::Done;
            d.finished = true;
        } else {
            self.phase = Phase::FineTuning { round, count };
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Losses where only the training and validation losses matter (`L2 = L_val` keeps the
    /// val/train ratio rule quiet).
    fn l(train: f64, val: f64) -> EpochLosses {
        EpochLosses { orig_val: val, val, train, train_val: val }
    }

    fn cfg() -> ScheduleConfig {
        ScheduleConfig::default()
    }

    #[test]
    fn warm_up_multiplies_by_four_for_four_epochs() {
        let mut s = Schedule::new(cfg(), 1e-5);
        assert_eq!(s.lr(), 1e-5 / 256.0); // "Warm up from 3.90625e-08"
        s.start(&l(10.0, 1.0));
        let mut lrs = vec![s.lr()];
        for e in 1..=6 {
            let d = s.end_epoch(&l(10.0 - e as f64, 1.0 - 0.01 * e as f64));
            assert!(d.save_best && !d.reload_best && !d.finished, "epoch {e}: {d:?}");
            assert_eq!(d.events.len(), usize::from(e <= 4), "epoch {e}: {:?}", d.events);
            lrs.push(s.lr());
        }
        // Epochs 1..7 run at lr/256, /64, /16, /4, then lr.
        let want = [1.0 / 256.0, 1.0 / 64.0, 1.0 / 16.0, 0.25, 1.0, 1.0, 1.0].map(|f| f * 1e-5);
        for (g, w) in lrs.iter().zip(want) {
            assert!((g - w).abs() <= 1e-20, "{lrs:?}");
        }
        assert_eq!(s.best(), (1.0 - 0.06, 6));
    }

    #[test]
    fn halving_rule_follows_the_reference_loss_and_the_rise_count() {
        let c = ScheduleConfig { warm_up_epochs: 0, train_variability_cutn: 2, ..cfg() };
        let mut s = Schedule::new(c, 1.0);
        s.start(&l(10.0, 1.0));
        // e1..e3 fall: ref follows the training loss down to 7.
        for t in [9.0, 8.0, 7.0] {
            assert!(s.end_epoch(&l(t, 0.5)).events.is_empty());
        }
        assert_eq!((s.ref_loss, s.inc_count), (7.0, 0));
        // e4: (8 − 7)/(10 − 8) = 0.5 > 0.3 → halve, ref ← 8.
        let d = s.end_epoch(&l(8.0, 0.5));
        assert_eq!(d.events, vec![Event::LrHalved { lr: 0.5 }]);
        assert_eq!((s.ref_loss, s.inc_count), (8.0, 0));
        // e5..e7: small rises (0.1/1.9, 0.2/1.8, 0.3/1.7 < 0.3) count 1, 2, 3.
        for (t, n) in [(8.1, 1), (8.2, 2), (8.3, 3)] {
            assert!(s.end_epoch(&l(t, 0.5)).events.is_empty());
            assert_eq!(s.inc_count, n);
        }
        // e8: inc_count 3 > cutn 2 → halve even though the loss fell below ref.
        let d = s.end_epoch(&l(7.9, 0.5));
        assert_eq!(d.events, vec![Event::LrHalved { lr: 0.25 }]);
        assert_eq!((s.ref_loss, s.inc_count), (7.9, 0));
        // e9: above the beginning loss → nothing at all.
        assert!(s.end_epoch(&l(10.5, 0.5)).events.is_empty());
        assert_eq!((s.ref_loss, s.inc_count, s.lr()), (7.9, 0, 0.25));
        // e10: an equal loss changes nothing either.
        s.end_epoch(&l(7.9, 0.5));
        assert_eq!((s.ref_loss, s.inc_count), (7.9, 0));
    }

    #[test]
    fn no_halving_during_warm_up() {
        let mut s = Schedule::new(ScheduleConfig { warm_up_epochs: 2, ..cfg() }, 16.0);
        s.start(&l(10.0, 1.0));
        s.end_epoch(&l(5.0, 0.9)); // ref 5
        let d = s.end_epoch(&l(9.0, 0.8)); // (9−5)/(10−9) = 4 > 0.3, but e = 2 ≤ 2: counts instead
        assert_eq!(d.events, vec![Event::WarmUp { lr: 16.0 }]);
        assert_eq!(s.inc_count, 1);
        let d = s.end_epoch(&l(9.0, 0.7)); // e = 3: halve
        assert_eq!(d.events, vec![Event::LrHalved { lr: 8.0 }]);
    }

    /// Early stop after `patience` non-improving epochs, then two fine-tuning rounds whose epoch
    /// numbers restart after the best epoch.
    #[test]
    fn early_stop_then_finetuning_rounds() {
        let c = ScheduleConfig { warm_up_epochs: 0, patience: 3, ..cfg() };
        let mut s = Schedule::new(c, 1.0);
        s.start(&l(10.0, 1.0));
        assert!(s.end_epoch(&l(9.0, 0.9)).save_best); // e1 best
                                                      // The halving rule must not interfere: training loss keeps falling.
        assert_eq!(s.end_epoch(&l(8.0, 0.95)), Decision::default()); // e2: 1
        assert_eq!(s.end_epoch(&l(7.0, 0.9)), Decision::default()); // e3: equal is no improvement: 2
        let d = s.end_epoch(&l(6.0, 0.92)); // e4: 3 == patience
        assert!(!d.save_best && d.reload_best && !d.finished);
        assert_eq!(
            d.events,
            vec![
                Event::EarlyStop { epoch: 4, val: 0.92, patience: 3 },
                Event::ReloadBest { steps_ago: 3, val: 0.9 },
                Event::FineTuningStart { from_epoch: 1, lr: 0.1 },
            ]
        );
        assert_eq!((s.epoch(), s.phase()), (1, Phase::FineTuning { round: 0, count: 0 }));
        // Fine-tuning: epochs 2, 3, ... again.
        let d = s.end_epoch(&l(5.0, 0.85));
        assert!(d.save_best && !d.reload_best);
        assert_eq!(s.best(), (0.85, 2));
        for (i, v) in [0.86, 0.84, 0.87].into_iter().enumerate() {
            // e3 counts, e4 improves (saved, count not reset), e5 counts.
            let d = s.end_epoch(&l(5.0, v));
            assert_eq!(d.save_best, i == 1);
            assert!(!d.reload_best && !d.finished);
        }
        assert_eq!(s.phase(), Phase::FineTuning { round: 0, count: 2 });
        s.end_epoch(&l(5.0, 0.9)); // e6: count 3, not > 3
        let d = s.end_epoch(&l(5.0, 0.9)); // e7: count 4 > 3 → round 1, reload, lr 0.01
        assert!(d.reload_best && !d.finished);
        assert_eq!(d.events, vec![Event::ReloadBest { steps_ago: 3, val: 0.84 }, Event::FineTuningRound { round: 1, lr: 0.1 * 0.1 }]);
        assert_eq!((s.epoch(), s.phase()), (7, Phase::FineTuning { round: 1, count: 0 }));
        for _ in 0..3 {
            assert!(!s.end_epoch(&l(5.0, 0.9)).finished);
        }
        let d = s.end_epoch(&l(5.0, 0.9)); // e11: round 2 → done, reload best
        assert!(d.reload_best && d.finished && !d.save_best);
        assert_eq!(d.events, vec![Event::ReloadBest { steps_ago: 7, val: 0.84 }]);
        assert!(s.is_done());
    }

    #[test]
    fn finetuning_starts_from_the_lr_of_the_best_epoch() {
        // Best at e2, during warm-up: best_lr is the lr after that epoch's ×4 (lr/4).
        let c = ScheduleConfig { warm_up_epochs: 3, patience: 2, ..cfg() };
        let mut s = Schedule::new(c, 64.0);
        s.start(&l(10.0, 1.0));
        s.end_epoch(&l(9.0, 0.9)); // lr 1 → 4
        s.end_epoch(&l(8.0, 0.8)); // lr 16, saved
        s.end_epoch(&l(7.0, 0.85)); // lr 64
        let d = s.end_epoch(&l(6.0, 0.85));
        assert!(d.reload_best);
        assert_eq!(d.events.last(), Some(&Event::FineTuningStart { from_epoch: 2, lr: 1.6 }));
        assert_eq!(s.epoch(), 2);
    }

    #[test]
    fn max_epochs_keeps_a_model_that_is_not_worse() {
        let mut s = Schedule::new(ScheduleConfig { epochs: 2, warm_up_epochs: 0, ..cfg() }, 1.0);
        s.start(&l(10.0, 1.0));
        assert!(s.end_epoch(&l(9.0, 0.9)).save_best);
        // The last epoch improves, is not saved (the reference's rule) and stays in memory.
        let d = s.end_epoch(&l(8.0, 0.8));
        assert_eq!(d, Decision { finished: true, events: vec![Event::MaxEpochs { epoch: 2 }], ..Decision::default() });
        // The last epoch is worse: reload and fine-tune until past `epochs`.
        let mut s = Schedule::new(ScheduleConfig { epochs: 2, warm_up_epochs: 0, ..cfg() }, 1.0);
        s.start(&l(10.0, 1.0));
        s.end_epoch(&l(9.0, 0.9));
        assert!(s.end_epoch(&l(8.0, 0.95)).reload_best);
        assert!(!s.end_epoch(&l(8.0, 0.95)).finished); // e2 again
        let d = s.end_epoch(&l(8.0, 0.95)); // e3 > 2
        assert!(d.finished && d.reload_best);
    }

    #[test]
    fn nan_stops_and_keeps_the_nan_model() {
        let mut s = Schedule::new(ScheduleConfig { warm_up_epochs: 0, ..cfg() }, 1.0);
        s.start(&l(10.0, 1.0));
        let d = s.end_epoch(&l(f64::NAN, f64::NAN));
        assert_eq!(d, Decision { finished: true, events: vec![Event::NanStop { epoch: 1 }], ..Decision::default() });
        assert_eq!(s.lr(), 1.0);
    }

    #[test]
    fn a_serialised_schedule_continues_identically() {
        let losses: Vec<EpochLosses> =
            (0..40).map(|i| l(10.0 - (i as f64 * 0.7).sin() - 0.05 * i as f64, 1.0 + 0.3 * (i as f64 * 1.3).cos())).collect();
        let run = |resume_at: Option<usize>| {
            let mut s = Schedule::new(ScheduleConfig { patience: 4, ..cfg() }, 1e-3);
            s.start(&losses[0]);
            let mut out = Vec::new();
            for (i, ls) in losses[1..].iter().enumerate() {
                if Some(i) == resume_at {
                    s = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
                }
                if s.is_done() {
                    break;
                }
                let d = s.end_epoch(ls);
                out.push((s.epoch(), s.lr(), d));
            }
            out
        };
        let whole = run(None);
        assert!(whole.len() > 5 && whole.iter().any(|(_, _, d)| d.reload_best));
        assert_eq!(run(Some(7)), whole);
    }
}
