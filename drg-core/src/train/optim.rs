//! Optimizers with state that checkpoints can save: SGD with momentum (the reference's), Adam and
//! AdamW.
//!
//! dfdx's own `Sgd`/`Adam` keep their moment buffers in private fields, so a checkpoint could not
//! store them. [`Optimizer`] reuses dfdx's update kernels (`SgdConfig::try_update`,
//! `AdamConfig::try_update`, which are public) and keeps the buffers itself, keyed by tensor id in
//! dfdx `Gradients` stores (zero-copy during training) and exported/imported **by parameter name**
//! ([`OptimizerState`]), so a resumed run (whose tensors have new ids) gets them back.
//!
//! The SGD update is torch's: `buf ← μ·buf + g` (`buf = g` on the first step, as the buffer starts
//! at 0 and dampening is 0), `p ← p − lr·buf`. Buffers are never reset, also not when the trainer
//! reloads the best weights (the reference's behaviour).
//!
//! Parameters without a gradient: the trainer allocates gradients for every parameter
//! (`alloc_grads`), so a parameter the forward pass never touches (the unused heads of model D)
//! gets a zero gradient. With SGD and Adam it then never moves, as in torch, which skips it; AdamW
//! would decay it, unlike torch.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName, ViewTensorRef,
};
use dfdx::optim::{Momentum, WeightDecay};
use dfdx::prelude::*;
use dfdx::tensor_ops::{AdamConfig, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::device::DrgDevice;

/// Which optimizer, with its settings other than the learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// torch's SGD with classic momentum (no dampening, no Nesterov), optional L2 weight decay.
    Sgd { momentum: f64, weight_decay: f64 },
    /// Adam with optional L2 weight decay (torch's `Adam(weight_decay=..)`).
    Adam { betas: [f64; 2], eps: f64, weight_decay: f64 },
    /// AdamW: Adam with decoupled weight decay.
    AdamW { betas: [f64; 2], eps: f64, weight_decay: f64 },
}

impl OptimizerKind {
    /// The reference's SGD: momentum 0.9, no weight decay.
    pub fn reference_sgd() -> Self {
        Self::Sgd { momentum: 0.9, weight_decay: 0.0 }
    }

    /// From the reference's `optimizer=` and `optim_params=` options (`SGD` with the momentum;
    /// `Adam`/`AdamW` with torch's defaults, `optim_params` as β₁ if given), plus
    /// `optim_weight_decay` (None → 0 for SGD/Adam, 0.01 for AdamW as in torch).
    pub fn from_reference(name: &str, optim_params: Option<f64>, weight_decay: Option<f64>) -> anyhow::Result<Self> {
        let betas = |p: Option<f64>| [p.unwrap_or(0.9), 0.999];
        Ok(match name {
            "SGD" | "sgd" => Self::Sgd { momentum: optim_params.unwrap_or(0.0), weight_decay: weight_decay.unwrap_or(0.0) },
            "Adam" | "adam" => Self::Adam { betas: betas(optim_params), eps: 1e-8, weight_decay: weight_decay.unwrap_or(0.0) },
            "AdamW" | "adamw" => Self::AdamW { betas: betas(optim_params), eps: 1e-8, weight_decay: weight_decay.unwrap_or(0.01) },
            other => bail!("unknown optimizer '{other}': expected SGD, Adam or AdamW"),
        })
    }

    /// The name used in output names (`SGD`, `Adam`, `AdamW`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "SGD",
            Self::Adam { .. } => "Adam",
            Self::AdamW { .. } => "AdamW",
        }
    }

    /// Moment buffers per parameter: 1 for SGD (momentum), 2 for Adam (first and second moments).
    fn buffers(&self) -> usize {
        match self {
            Self::Sgd { .. } => 1,
            Self::Adam { .. } | Self::AdamW { .. } => 2,
        }
    }
}

/// The optimizer's buffers by parameter name, plus the step count (Adam's bias correction).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerState {
    pub steps: usize,
    /// `name → [buffer 0, buffer 1]` (SGD: momentum; Adam: m, v), each the parameter's length.
    pub buffers: BTreeMap<String, Vec<Vec<f32>>>,
}

/// An optimizer over any dfdx `TensorCollection` on device `D`. See the module documentation.
#[derive(Debug)]
pub struct Optimizer<D: DrgDevice> {
    pub kind: OptimizerKind,
    lr: f64,
    steps: usize,
    /// Moment buffers keyed by parameter tensor id; empty until the first step or a state load.
    moments: Vec<Gradients<f32, D>>,
    has_buffers: bool,
}

impl<D: DrgDevice> Optimizer<D> {
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        Self { kind, lr, steps: 0, moments: (0..kind.buffers()).map(|_| Gradients::leaky()).collect(), has_buffers: false }
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate of every parameter (the reference's param-group lrs are all equal).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Updates steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// One update of every trainable parameter of `model` from `grads` (which must hold a
    /// gradient for each, as `alloc_grads` + `backward` give). BatchNorm running statistics and
    /// other detached buffers are skipped.
    pub fn update<M: TensorCollection<f32, D>>(&mut self, model: &mut M, grads: &mut Gradients<f32, D>) -> anyhow::Result<()> {
        self.steps += 1;
        let mut visitor = UpdateVisitor { opt: self, grads };
        M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut visitor }).map_err(|e| anyhow::anyhow!("optimizer update: {e:?}"))?;
        self.has_buffers = true;
        Ok(())
    }

    /// The buffers by parameter name (empty before the first step).
    pub fn state<M: TensorCollection<f32, D>>(&self, model: &M) -> anyhow::Result<OptimizerState> {
        let mut state = OptimizerState { steps: self.steps, buffers: BTreeMap::new() };
        if self.has_buffers {
            let mut visitor = ExportVisitor { opt: self, out: &mut state.buffers };
            M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut visitor })
                .map_err(|e| anyhow::anyhow!("reading optimizer buffers: {e:?}"))?;
        }
        Ok(state)
    }

    /// Restores buffers saved by [`Self::state`] for `model` (matched by name; lengths checked).
    pub fn load_state<M: TensorCollection<f32, D>>(&mut self, model: &M, state: &OptimizerState) -> anyhow::Result<()> {
        self.steps = state.steps;
        self.moments = (0..self.kind.buffers()).map(|_| Gradients::leaky()).collect();
        self.has_buffers = !state.buffers.is_empty();
        if self.has_buffers {
            let mut visitor = ImportVisitor { opt: self, state, error: None };
            M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut visitor }).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if let Some(e) = visitor.error {
                return Err(e);
            }
        }
        Ok(())
    }
}

struct UpdateVisitor<'a, D: DrgDevice> {
    opt: &'a mut Optimizer<D>,
    grads: &'a mut Gradients<f32, D>,
}

impl<D: DrgDevice> TensorVisitor<f32, D> for UpdateVisitor<'_, D> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        p: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let g: &_ = self.grads.get_or_alloc_mut(p)?;
        let lr = self.opt.lr;
        match self.opt.kind {
            OptimizerKind::Sgd { momentum, weight_decay } => {
                let cfg = SgdConfig {
                    lr,
                    momentum: (momentum != 0.0).then_some(Momentum::Classic(momentum)),
                    weight_decay: (weight_decay != 0.0).then_some(WeightDecay::L2(weight_decay)),
                };
                let buf = self.opt.moments[0].get_or_alloc_mut(p)?;
                cfg.try_update(p, buf, g)?;
            }
            OptimizerKind::Adam { betas, eps, weight_decay } | OptimizerKind::AdamW { betas, eps, weight_decay } => {
                let decay = if matches!(self.opt.kind, OptimizerKind::AdamW { .. }) {
                    WeightDecay::Decoupled(weight_decay)
                } else {
                    WeightDecay::L2(weight_decay)
                };
                let cfg = AdamConfig { lr, betas, eps, weight_decay: (weight_decay != 0.0).then_some(decay) };
                let (m0, m1) = self.opt.moments.split_at_mut(1);
                let m = m0[0].get_or_alloc_mut(p)?;
                let v = m1[0].get_or_alloc_mut(p)?;
                cfg.try_update(self.opt.steps as i32, p, m, v, g)?;
            }
        }
        Ok(None)
    }
}

struct ExportVisitor<'a, D: DrgDevice> {
    opt: &'a Optimizer<D>,
    out: &'a mut BTreeMap<String, Vec<Vec<f32>>>,
}

impl<D: DrgDevice> TensorVisitor<f32, D> for ExportVisitor<'_, D> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (p, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if opts.do_gradient_update {
            let bufs = self.opt.moments.iter().map(|m| m.get(p).as_vec()).collect();
            self.out.insert(name, bufs);
        }
        Ok(None)
    }
}

struct ImportVisitor<'a, D: DrgDevice> {
    opt: &'a mut Optimizer<D>,
    state: &'a OptimizerState,
    error: Option<anyhow::Error>,
}

impl<D: DrgDevice> TensorVisitor<f32, D> for ImportVisitor<'_, D> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (p, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if !opts.do_gradient_update || self.error.is_some() {
            return Ok(None);
        }
        let result = (|| {
            let bufs = self.state.buffers.get(&name).with_context(|| format!("optimizer state: no buffers for parameter '{name}'"))?;
            anyhow::ensure!(
                bufs.len() == self.opt.moments.len(),
                "optimizer state: '{name}' has {} buffers, expected {}",
                bufs.len(),
                self.opt.moments.len()
            );
            for (store, buf) in self.opt.moments.iter_mut().zip(bufs) {
                let n = p.shape().num_elements();
                anyhow::ensure!(n == buf.len(), "optimizer state: '{name}' has {} values, the parameter {n}", buf.len());
                let dst = store.get_or_alloc_mut(p).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                D::write_host(dst, buf).with_context(|| format!("optimizer state: '{name}'"))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.error = Some(e);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::npz::read_npz;

    /// One parameter vector of `N` values, as a `TensorCollection` (dfdx's tensor options need
    /// a const shape).
    #[derive(Clone)]
    struct Vector<const N: usize, E: Dtype = f32, D: Device<E> = Cpu> {
        w: Tensor<Rank1<N>, E, D>,
    }

    impl<const N: usize, E: Dtype, D: Device<E>> TensorCollection<E, D> for Vector<N, E, D> {
        type To<E2: Dtype, D2: Device<E2>> = Vector<N, E2, D2>;
        fn iter_tensors<V: dfdx::nn::tensor_collection::ModuleVisitor<Self, E, D>>(
            visitor: &mut V,
        ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
            visitor.visit_fields(Self::tensor("w", |s| &s.w, |s| &mut s.w, TensorOptions::reset_to_zeros()), |w| Vector { w })
        }
    }

    /// Gradients equal to `g` for `model.w` (d/dw of Σ w·g is g, exactly).
    fn grads_of<const N: usize>(model: &Vector<N>, g: &[f32]) -> Gradients<f32, Cpu> {
        let dev = model.w.device().clone();
        let mut gt: Tensor<Rank1<N>, f32, Cpu> = dev.zeros();
        gt.copy_from(g);
        let grads = model.alloc_grads();
        (model.w.clone().traced(grads) * gt).sum().backward()
    }

    /// Updates `m` with gradient `g`.
    fn step<const N: usize>(opt: &mut Optimizer<Cpu>, m: &mut Vector<N>, g: &[f32]) {
        let mut grads = grads_of(m, g);
        opt.update(m, &mut grads).unwrap();
    }

    fn vector<const N: usize>(values: &[f32]) -> Vector<N> {
        let dev: Cpu = Default::default();
        let mut w: Tensor<Rank1<N>, f32, Cpu> = dev.zeros();
        w.copy_from(values);
        Vector { w }
    }

    #[test]
    fn sgd_momentum_is_torchs() {
        let mut m = vector::<3>(&[1.0, -2.0, 0.5]);
        let mut opt = Optimizer::new(OptimizerKind::reference_sgd(), 0.1);
        let (g1, g2) = ([0.5f32, 1.0, -2.0], [1.0f32, -1.0, 0.25]);
        step(&mut opt, &mut m, &g1);
        // First step: buf = g, p = p − lr·g.
        let want1: Vec<f32> = [1.0f32, -2.0, 0.5].iter().zip(&g1).map(|(p, g)| p - 0.1 * g).collect();
        assert_eq!(m.w.as_vec(), want1);
        // Second step at another lr: buf = 0.9·g1 + g2, p −= lr·buf.
        opt.set_lr(0.01);
        step(&mut opt, &mut m, &g2);
        for i in 0..3 {
            let buf = 0.9 * g1[i] as f64 + g2[i] as f64;
            let want = want1[i] as f64 - 0.01 * buf;
            assert!((m.w.as_vec()[i] as f64 - want).abs() < 1e-7, "{i}: {} vs {want}", m.w.as_vec()[i]);
        }
        let state = opt.state(&m).unwrap();
        assert_eq!(state.steps, 2);
        let buf: Vec<f64> = state.buffers["w"][0].iter().map(|&v| v as f64).collect();
        for i in 0..3 {
            assert!((buf[i] - (0.9 * g1[i] as f64 + g2[i] as f64)).abs() < 1e-7);
        }
    }

    #[test]
    fn adam_and_adamw_match_a_hand_computation() {
        for decoupled in [false, true] {
            let p0 = [1.0f32, -2.0];
            let mut m = vector::<2>(&p0);
            let kind = if decoupled {
                OptimizerKind::AdamW { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.1 }
            } else {
                OptimizerKind::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 }
            };
            let mut opt = Optimizer::new(kind, 0.01);
            let gs = [[0.5f64, -1.0], [0.25, 2.0]];
            let (mut p, mut mm, mut vv) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
            for (t, g) in gs.iter().enumerate() {
                step(&mut opt, &mut m, &g.map(|x| x as f32));
                let t = t as i32 + 1;
                for i in 0..2 {
                    mm[i] = 0.9 * mm[i] + 0.1 * g[i];
                    vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i];
                    let step = 0.01 * (mm[i] / (1.0 - 0.9f64.powi(t))) / ((vv[i] / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8);
                    let decay = if decoupled { 0.01 * 0.1 * p[i] } else { 0.0 };
                    p[i] -= step + decay;
                }
            }
            for (got, want) in m.w.as_vec().iter().zip(p) {
                assert!((*got as f64 - want).abs() < 1e-6, "decoupled {decoupled}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn state_round_trips_by_name_into_a_fresh_model() {
        let mut a = vector::<2>(&[1.0, 2.0]);
        let mut opt = Optimizer::new(OptimizerKind::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 }, 0.1);
        step(&mut opt, &mut a, &[1.0, -1.0]);
        let state = opt.state(&a).unwrap();
        // A fresh copy of the model has new tensor ids; the buffers follow by name.
        let mut b = vector::<2>(&a.w.as_vec());
        let mut resumed = Optimizer::new(opt.kind, 0.1);
        resumed.load_state(&b, &state).unwrap();
        assert_eq!(resumed.state(&b).unwrap(), state);
        step(&mut opt, &mut a, &[0.5, 0.5]);
        step(&mut resumed, &mut b, &[0.5, 0.5]);
        assert_eq!(a.w.as_vec(), b.w.as_vec());
        // A state of the wrong size is an error, not a panic.
        let mut bad = state.clone();
        bad.buffers.get_mut("w").unwrap()[0].push(0.0);
        let err = Optimizer::new(opt.kind, 0.1).load_state(&b, &bad).unwrap_err();
        assert!(format!("{err:#}").contains("'w' has 3 values, the parameter 2"), "{err:#}");
        assert!(OptimizerKind::from_reference("Adagrad", None, None).is_err());
        assert_eq!(OptimizerKind::from_reference("SGD", Some(0.9), None).unwrap(), OptimizerKind::reference_sgd());
    }

    /// `train/after_step/*` of the reference fixtures: one SGD step (lr 1e-3, momentum 0.9) from
    /// `param/*` with gradients `train/grad/*` gives p − lr·g.
    #[test]
    fn first_sgd_step_matches_the_reference_fixture() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/base.npz");
        let npz = read_npz(&path).unwrap();
        let mut checked = 0;
        for key in npz.arrays.keys().filter_map(|k| k.strip_prefix("train/grad/")) {
            let (_, p) = npz.f32(&format!("param/{key}")).unwrap();
            let (_, g) = npz.f32(&format!("train/grad/{key}")).unwrap();
            let (_, want) = npz.f32(&format!("train/after_step/{key}")).unwrap();
            // The update is elementwise: run it on chunks of a fixed size (zero-padded).
            const CHUNK: usize = 256;
            let mut got = Vec::with_capacity(p.len());
            for (pc, gc) in p.chunks(CHUNK).zip(g.chunks(CHUNK)) {
                let (mut pp, mut gg) = (pc.to_vec(), gc.to_vec());
                pp.resize(CHUNK, 0.0);
                gg.resize(CHUNK, 0.0);
                let mut m = vector::<CHUNK>(&pp);
                let mut opt = Optimizer::new(OptimizerKind::reference_sgd(), 1e-3);
                step(&mut opt, &mut m, &gg);
                got.extend_from_slice(&m.w.as_vec()[..pc.len()]);
            }
            assert_eq!(got.len(), want.len(), "{key}");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} parameters in the fixture");
    }
}
