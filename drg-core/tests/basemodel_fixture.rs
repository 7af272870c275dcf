//! The reference's basemodel assembled by hand from the typed layers (this is what `drg_model!`
//! generates for a single-input model), checked against `base.npz`: every stage of the eval-mode
//! forward pass, the outputs, the train-mode outputs and loss, and every parameter gradient.

use dfdx::nn::modules::Linear;
use dfdx::optim::{Momentum, Sgd, SgdConfig};
use dfdx::prelude::*;
use drg_core::device::DrgDevice;
use drg_core::import::npz::{read_npz, Npz};
use drg_core::import::{load_state_dict, LoadOptions, StateDict};
use drg_core::layers::conv_stack::{ConvStack, StackLayer};
use drg_core::layers::fc_stack::{Embedding, FcStack, GeluDropout};
use drg_core::layers::pooling::WeightedPool;
use drg_core::layers::{flatten, Conv1d, Ctx, Head};
use drg_core::train::loss::{loss_sum, LossKind};

const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/base.npz");

type Dilated<E, D> = ConvStack<
    16,
    0,
    1,
    (StackLayer<0, 16, 11, 1, false, true, E, D>, StackLayer<1, 16, 11, 2, false, true, E, D>, StackLayer<2, 16, 11, 4, false, true, E, D>),
>;
// transformer_convolutions=4 builds 3 layers at this length: 250 → 84 → 28 → 10.
type TrConv<E, D> = ConvStack<
    16,
    3,
    1,
    (StackLayer<0, 16, 11, 1, true, true, E, D>, StackLayer<1, 16, 11, 1, true, true, E, D>, StackLayer<2, 16, 11, 1, true, true, E, D>),
>;
type Fc<E, D> = FcStack<Embedding<160, 64, E, D>, (Linear<64, 70, E, D>, Linear<70, 70, E, D>, Linear<70, 64, E, D>), GeluDropout<100>>;

#[derive(Debug, Clone)]
struct Base<E: Dtype = f32, D: Storage<E> = Cpu> {
    stem: Conv1d<4, 16, 15, 1, true, E, D, true>,
    dilated: Dilated<E, D>,
    trconv: TrConv<E, D>,
    fc: Fc<E, D>,
    head: Head<64, 6, false, E, D>,
}

impl TensorCollection<f32, Cpu> for Base<f32, Cpu> {
    type To<E2: Dtype, D2: Device<E2>> = Base<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("convolutions.conv1d", |s| &s.stem, |s| &mut s.stem),
                Self::module("convolution_layers", |s| &s.dilated, |s| &mut s.dilated),
                Self::module("trconvolution_layers", |s| &s.trconv, |s| &mut s.trconv),
                Self::module("nfcs", |s| &s.fc, |s| &mut s.fc),
                Self::module("classifier", |s| &s.head, |s| &mut s.head),
            ),
            |(stem, dilated, trconv, fc, head)| Base { stem, dilated, trconv, fc, head },
        )
    }
}

impl Base {
    fn forward<T: Tape<f32, Cpu>>(
        &mut self,
        x: Tensor<(usize, Const<4>, Const<997>), f32, Cpu, T>,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, Const<6>), f32, Cpu, T> {
        let h = self.stem.forward(x);
        ctx.record("after_conv", &h);
        let h = DrgDevice::gelu(h);
        ctx.record("after_act", &h);
        let h = WeightedPool::<4>.forward::<16, 997, 250, _, _>(h);
        ctx.record("after_pool", &h);
        ctx.set_scope("dilated");
        let h = self.dilated.forward::<250, 250, _, _>(h, ctx);
        ctx.set_scope("");
        ctx.record("after_dilated", &h);
        ctx.set_scope("trconv");
        let h = self.trconv.forward::<250, 10, _, _>(h, ctx);
        ctx.set_scope("");
        ctx.record("after_trconv", &h);
        let h = flatten::<16, 10, 160, _, _>(h);
        ctx.record("flattened", &h);
        let h = self.fc.forward::<160, 64, _, _>(h, ctx);
        ctx.record("after_fc", &h);
        self.head.forward(h)
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

/// The fixture's input batch.
type Input = Tensor<(usize, Const<4>, Const<997>), f32, Cpu>;

fn setup() -> (Cpu, Npz, Base, Input) {
    let dev = Cpu::default();
    let npz = read_npz(BASE).unwrap();
    let mut model: Base = <Base as BuildModule<Cpu, f32>>::build(&dev);
    let sd = StateDict::from_npz(BASE, "param/").unwrap();
    load_state_dict(&mut model, &sd, &LoadOptions::default()).unwrap();
    let (shape, x) = npz.f32("input/0").unwrap();
    let x = dev.tensor_from_vec(x, (shape[0], Const::<4>, Const::<997>));
    (dev, npz, model, x)
}

#[test]
fn eval_forward_matches_every_stage() {
    let (_, npz, mut model, x) = setup();
    let mut ctx = Ctx::eval().with_probe();
    let y = model.forward(x, &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let names: Vec<&str> = npz.arrays.keys().filter_map(|k| k.strip_prefix("eval/stage/")).collect();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        let (_, got) = stages.get(name).unwrap_or_else(|| panic!("stage {name} not recorded"));
        let (_, want) = npz.f32(&format!("eval/stage/{name}")).unwrap();
        assert_close(name, got, &want, 1e-5, 0.0);
    }
    let (_, want) = npz.f32("eval/output/0").unwrap();
    assert_close("eval/output/0", &y.as_vec(), &want, 1e-5, 0.0);
}

#[test]
fn train_step_matches_loss_gradients_and_sgd_update() {
    let (dev, npz, mut model, x) = setup();
    // The fixture's train step runs with every dropout probability at 0.
    let y = model.forward(x.traced(model.alloc_grads()), &mut Ctx::train(0).without_dropout());
    let (_, want) = npz.f32("train/output/0").unwrap();
    assert_close("train/output/0", &y.as_vec(), &want, 3e-6, 0.0);
    let (_, target) = npz.f32("train/target/0").unwrap();
    let loss = loss_sum(LossKind::Correlationmse, y, &target).unwrap();
    let (_, want) = npz.f32("train/loss").unwrap();
    assert_close("train/loss", &[loss.array()], &want, 3e-6, 0.0);
    let mut grads = loss.backward();
    let g = npz
        .arrays
        .iter()
        .filter(|(k, _)| k.starts_with("train/grad/"))
        .flat_map(|(_, a)| a.to_f32().unwrap())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let expect = StateDict::from_npz(BASE, "train/grad/").unwrap();
    let got = drg_core::import::export_gradients(&model, &mut grads);
    let mut n = 0;
    for (key, entry) in &expect.entries {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        let have = got.get(key).unwrap_or_else(|| panic!("no gradient for {key}"));
        assert_close(key, &have.values, &entry.values, 1e-5, 2e-6 * g);
        n += 1;
    }
    assert!(n >= 30, "only {n} gradients compared");

    // One SGD step (lr 1e-3, momentum 0.9; the first step is p − lr·g) and the running statistics.
    let mut sgd = Sgd::new(&model, SgdConfig { lr: 1e-3, momentum: Some(Momentum::Classic(0.9)), weight_decay: None });
    sgd.update(&mut model, &grads).unwrap();
    let after = StateDict::from_npz(BASE, "train/after_step/").unwrap();
    let now = drg_core::import::export_state_dict(&model);
    for (key, entry) in &after.entries {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        let have = now.get(key).unwrap_or_else(|| panic!("model has no {key}"));
        assert_close(key, &have.values, &entry.values, 1e-5, 0.0);
    }
    let _ = dev;
}
