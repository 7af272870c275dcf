//! A tiny two-input, two-output model and synthetic data for the trainer's tests.
//!
//! `ex = A·flat(centre(dropout(dna))) + B·flat(rna)` (3 tracks) and `kd = C·flat(rna)` (2 tracks,
//! validation loss `None`). `centre` subtracts the batch mean per feature in train mode and a
//! running mean (a detached buffer, like BatchNorm's) in eval mode, so train/eval mode, dropout
//! masks from `Ctx`, buffers in checkpoints and the merging of two inputs' tapes are all exercised.

use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::uniform::SampleUniform;

use super::loss::LossKind;
use crate::data::{Dataset, Matrix, SeqSet, Split};
use crate::device::DrgDevice;
use crate::layers::Ctx;
use crate::model::{DrgModel, InputSpec, ModelSpec, OutputSpec};

pub const L_DNA: usize = 8;
pub const L_RNA: usize = 6;
const F_DNA: usize = 4 * L_DNA;
const F_RNA: usize = 4 * L_RNA;
const DROPOUT: f32 = 0.1;

#[derive(Debug, Clone)]
pub struct Tiny<E: Dtype = f32, D: Device<E> = Cpu> {
    pub wa: Tensor<Rank2<3, F_DNA>, E, D>,
    pub ba: Tensor<Rank1<3>, E, D>,
    pub wb: Tensor<Rank2<3, F_RNA>, E, D>,
    pub wc: Tensor<Rank2<2, F_RNA>, E, D>,
    pub bc: Tensor<Rank1<2>, E, D>,
    pub running_mean: Tensor<Rank1<F_DNA>, E, D>,
}

fn uniform<S: ConstShape, E: Dtype + SampleUniform, D: Device<E>>(t: &mut Tensor<S, E, D>) -> Result<(), D::Err> {
    t.try_fill_with_distr(rand_distr::Uniform::new(E::from_f32(-0.2).unwrap(), E::from_f32(0.2).unwrap()))
}

impl<E: Dtype + SampleUniform, D: Device<E>> TensorCollection<E, D> for Tiny<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Tiny<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor("a.weight", |s| &s.wa, |s| &mut s.wa, TensorOptions::reset_with(uniform)),
                Self::tensor("a.bias", |s| &s.ba, |s| &mut s.ba, TensorOptions::reset_with(uniform)),
                Self::tensor("b.weight", |s| &s.wb, |s| &mut s.wb, TensorOptions::reset_with(uniform)),
                Self::tensor("c.weight", |s| &s.wc, |s| &mut s.wc, TensorOptions::reset_with(uniform)),
                Self::tensor("c.bias", |s| &s.bc, |s| &mut s.bc, TensorOptions::reset_with(uniform)),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
            ),
            |(wa, ba, wb, wc, bc, running_mean)| Tiny { wa, ba, wb, wc, bc, running_mean },
        )
    }
}

impl<D: DrgDevice> DrgModel<D> for Tiny<f32, D> {
    const SPEC: ModelSpec = ModelSpec {
        name: "Tiny",
        variant: "",
        inputs: &[
            InputSpec { name: "dna", channels: 4, length: L_DNA, reverse_complement: true },
            InputSpec { name: "rna", channels: 4, length: L_RNA, reverse_complement: false },
        ],
        outputs: &[
            OutputSpec { name: "ex", width: Some(3), validation: LossKind::Correlationdata, loss: LossKind::Correlationmse },
            OutputSpec { name: "kd", width: Some(2), validation: LossKind::None, loss: LossKind::Correlationmse },
        ],
        loss: LossKind::Correlationmse,
        hyper: &[crate::model::ReferenceKey { key: "num_kernels", value: "0", dsl: "none" }],
        parameters: crate::model::ParameterCount { fixed: F_DNA * 3 + 3 + F_RNA * 3 + F_RNA * 2 + 2, per_track: &[0, 0] },
        equal_widths: &[],
    };

    type On<D2: DrgDevice> = Tiny<f32, D2>;

    fn new(dev: &D, widths: &[usize]) -> Self {
        assert_eq!(widths, [3, 2], "Tiny has fixed widths");
        <Self as BuildModule<D, f32>>::build(dev)
    }

    fn output_widths(&self) -> Vec<usize> {
        vec![3, 2]
    }

    fn forward<T: Tape<f32, D>>(
        &mut self,
        inputs: Vec<Tensor<(usize, usize, usize), f32, D, T>>,
        ctx: &mut Ctx,
    ) -> Vec<Tensor<(usize, usize), f32, D, T>> {
        let mut it = inputs.into_iter();
        let (dna, rna) = (it.next().unwrap(), it.next().unwrap());
        let b = dna.shape().0;
        let dev = dna.device().clone();
        let dna = dna.reshape_like(&(b, Const::<F_DNA>));
        let rna = rna.reshape_like(&(b, Const::<F_RNA>));
        let host = dna.as_vec();
        let centre: Vec<f32> = if ctx.train {
            let mean: Vec<f32> = (0..F_DNA).map(|f| (0..b).map(|i| host[i * F_DNA + f]).sum::<f32>() / b as f32).collect();
            let running: Vec<f32> = self.running_mean.as_vec().iter().zip(&mean).map(|(r, m)| 0.9 * r + 0.1 * m).collect();
            self.running_mean.copy_from(&running);
            mean
        } else {
            self.running_mean.as_vec()
        };
        let shift: Tensor<(usize, Const<F_DNA>), f32, D> =
            dev.tensor_from_vec((0..b).flat_map(|_| centre.iter().copied()).collect(), (b, Const));
        let mut dna = dna - shift;
        if ctx.train {
            let mask: Vec<f32> = (0..b * F_DNA).map(|_| if ctx.rng.gen::<f32>() < DROPOUT { 0.0 } else { 1.0 / (1.0 - DROPOUT) }).collect();
            dna = dna * dev.tensor_from_vec(mask, (b, Const::<F_DNA>));
        }
        let kd = rna.with_empty_tape().matmul(self.wc.retaped::<T>().permute());
        let shape = *kd.shape();
        let kd = kd + self.bc.retaped::<T>().broadcast_like(&shape);
        let ex = dna.matmul(self.wa.retaped::<T>().permute()) + rna.matmul(self.wb.retaped::<T>().permute());
        let shape = *ex.shape();
        let ex = ex + self.ba.retaped::<T>().broadcast_like(&shape);
        vec![ex.reshape_like(&(b, 3usize)), kd.reshape_like(&(b, 2usize))]
    }
}

fn one_hot(rng: &mut impl Rng, n: usize, len: usize) -> Vec<f32> {
    let mut v = vec![0f32; n * 4 * len];
    for i in 0..n {
        for p in 0..len {
            v[i * 4 * len + rng.gen_range(0..4) * len + p] = 1.0;
        }
    }
    v
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `n` genes of synthetic data whose targets are a noisy linear function of the inputs, so the
/// loss can fall: the first two thirds train, the next sixth validates, the rest is the test set.
pub fn synthetic(n: usize) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dna = one_hot(&mut rng, n, L_DNA);
    let rna = one_hot(&mut rng, n, L_RNA);
    let wa: Vec<f32> = (0..3 * F_DNA).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let wc: Vec<f32> = (0..2 * F_RNA).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (mut ex, mut kd) = (Vec::new(), Vec::new());
    for i in 0..n {
        for t in 0..3 {
            ex.push((0..F_DNA).map(|f| wa[t * F_DNA + f] * dna[i * F_DNA + f]).sum::<f32>() + 0.1 * rng.gen_range(-1.0f32..1.0));
        }
        for t in 0..2 {
            kd.push((0..F_RNA).map(|f| wc[t * F_RNA + f] * rna[i * F_RNA + f]).sum::<f32>());
        }
    }
    let genes: Vec<String> = (0..n).map(|i| format!("Gene_{i:04}")).collect();
    let seqs = |source: &str, length, data: Vec<f32>, reverse_complement| {
        SeqSet::from_channel_first(source.into(), genes.clone(), length, &data, reverse_complement).expect("one-hot")
    };
    let matrix = |file: &str, track_names: &[&str], values| Matrix {
        file: file.into(),
        genes: genes.clone(),
        track_names: strings(track_names),
        values,
    };
    let (n_train, n_val) = (n * 2 / 3, n / 6);
    Dataset {
        inputs: vec![seqs("dna.npz", L_DNA, dna, true), seqs("rna.npz", L_RNA, rna, false)],
        outputs: vec![matrix("ex.csv", &["C0", "C1", "C2"], ex), matrix("kd.csv", &["C0", "C1"], kd)],
        track_classes: vec![strings(&["T0", "T0", "T1"]), strings(&["T1", "T1"])],
        eval_track_names: vec![strings(&["C0_ex", "C1_ex", "C2_ex"]), strings(&["C0_kd", "C1_kd"])],
        split: Split { train: (0..n_train).collect(), val: (n_train..n_train + n_val).collect(), test: (n_train + n_val..n).collect() },
        genes,
    }
}
