//! The typed layers against the reference implementation's own outputs (`layers.npz`): each
//! module is loaded with the reference's weights through the importer, run forward in train mode
//! (and eval mode where the fixture has it), and backpropagated from sum(output ⊙ upstream).
//! Tolerances as recommended by fixtures/README.md: max|a − b| ≤ 1e-5·max|b| per tensor
//! (+ 2e-6·G for gradients, G the largest gradient of the module).

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use drg_core::import::npz::{read_npz, Npz};
use drg_core::import::{load_state_dict, LoadOptions, StateDict};
use drg_core::layers::attention::Attention;
use drg_core::layers::conv_stack::{ConvStack, StackLayer};
use drg_core::layers::fc_stack::{CombinerSpec, Embedding, FcStack, GeluDropout, NoEmbedding};
use drg_core::layers::Ctx;

const LAYERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/layers.npz");

fn fixture() -> Npz {
    read_npz(LAYERS).expect("layers.npz")
}

fn load<M: TensorCollection<f32, Cpu>>(model: &mut M, layer: &str) {
    let sd = StateDict::from_npz(LAYERS, &format!("{layer}/param/")).expect("state dict");
    load_state_dict(model, &sd, &LoadOptions::default()).expect("load");
}

/// max|a − b| ≤ rel·max|b| + abs.
fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

fn max_abs(npz: &Npz, prefix: &str) -> f32 {
    npz.arrays.iter().filter(|(k, _)| k.starts_with(prefix)).flat_map(|(_, a)| a.to_f32().unwrap()).fold(0.0f32, |m, v| m.max(v.abs()))
}

type Seq3<const C: usize, const L: usize> = Tensor<(usize, Const<C>, Const<L>), f32, Cpu>;

fn seq<const C: usize, const L: usize>(dev: &Cpu, npz: &Npz, key: &str) -> Seq3<C, L> {
    let (shape, v) = npz.f32(key).unwrap();
    assert_eq!(&shape[1..], &[C, L], "{key}");
    dev.tensor_from_vec(v, (shape[0], Const::<C>, Const::<L>))
}

/// Runs a conv stack fixture: eval output, train output, input and parameter gradients, and the
/// running statistics after the train-mode forward.
macro_rules! check_stack {
    ($name:literal, $stack:ty, $li:literal, $lo:literal) => {{
        let dev = Cpu::default();
        let npz = fixture();
        let mut stack: $stack = <$stack as BuildModule<Cpu, f32>>::build(&dev);
        load(&mut stack, $name);
        let x = seq::<6, $li>(&dev, &npz, concat!($name, "/input"));
        let eval: Seq3<6, $lo> = stack.forward(x.clone(), &mut Ctx::eval());
        let (_, want) = npz.f32(concat!($name, "/eval_output")).unwrap();
        assert_close(concat!($name, " eval"), &eval.as_vec(), &want, 1e-5, 0.0);

        let y: Tensor<(usize, Const<6>, Const<$lo>), f32, Cpu, OwnedTape<f32, Cpu>> =
            stack.forward(x.clone().traced(Gradients::leaky()), &mut Ctx::train(0));
        let (_, want) = npz.f32(concat!($name, "/output")).unwrap();
        assert_close(concat!($name, " train"), &y.as_vec(), &want, 1e-5, 0.0);
        let up = seq::<6, $lo>(&dev, &npz, concat!($name, "/upstream"));
        let grads = (y * up).sum().backward();
        let g = max_abs(&npz, concat!($name, "/grad/"));
        let (_, want) = npz.f32(concat!($name, "/grad_input")).unwrap();
        assert_close(concat!($name, " grad_input"), &grads.get(&x).as_vec(), &want, 1e-5, 2e-6 * g);
        (stack, grads, npz, g)
    }};
}

fn check_grad<S: Shape>(npz: &Npz, grads: &Gradients<f32, Cpu>, t: &Tensor<S, f32, Cpu>, key: &str, g: f32) {
    let (_, want) = npz.f32(key).unwrap();
    assert_close(key, &grads.get(t).as_vec(), &want, 1e-5, 2e-6 * g);
}

fn check_value<S: Shape>(npz: &Npz, t: &Tensor<S, f32, Cpu>, key: &str) {
    let (_, want) = npz.f32(key).unwrap();
    assert_close(key, &t.as_vec(), &want, 1e-5, 0.0);
}

#[test]
fn dilated_conv_stack_matches_reference() {
    type Stack = ConvStack<
        6,
        0,
        1,
        (
            StackLayer<0, 6, 5, 1, false, true, f32, Cpu>,
            StackLayer<1, 6, 5, 2, false, true, f32, Cpu>,
            StackLayer<2, 6, 5, 4, false, true, f32, Cpu>,
        ),
    >;
    let (stack, grads, npz, g) = check_stack!("convstack_dilated", Stack, 40, 40);
    let n = "convstack_dilated";
    let l0 = &stack.layers.0;
    check_grad(&npz, &grads, &l0.conv.weight, &format!("{n}/grad/convlayers.Conv0.conv1d.weight"), g);
    check_grad(&npz, &grads, &stack.layers.2.conv.weight, &format!("{n}/grad/convlayers.Conv2.conv1d.weight"), g);
    let bn = l0.bnorm.as_ref().unwrap();
    check_grad(&npz, &grads, &bn.weight, &format!("{n}/grad/convlayers.Bnorm0.weight"), g);
    check_grad(&npz, &grads, &bn.bias, &format!("{n}/grad/convlayers.Bnorm0.bias"), g);
    check_value(&npz, &bn.running_mean, &format!("{n}/after/convlayers.Bnorm0.running_mean"));
    check_value(&npz, &bn.running_var, &format!("{n}/after/convlayers.Bnorm0.running_var"));
    let bn2 = stack.layers.2.bnorm.as_ref().unwrap();
    check_value(&npz, &bn2.running_var, &format!("{n}/after/convlayers.Bnorm2.running_var"));
}

#[test]
fn pooled_conv_stack_matches_reference_and_truncates() {
    // 4 layers requested, the reference builds 3: 40 → 14 → 5 → 2 (2 < k = 5).
    type Stack = ConvStack<
        6,
        3,
        1,
        (
            StackLayer<0, 6, 5, 1, true, true, f32, Cpu>,
            StackLayer<1, 6, 5, 1, true, true, f32, Cpu>,
            StackLayer<2, 6, 5, 1, true, true, f32, Cpu>,
        ),
    >;
    let (stack, grads, npz, g) = check_stack!("convstack_pooled", Stack, 40, 2);
    let n = "convstack_pooled";
    check_grad(&npz, &grads, &stack.layers.1.conv.weight, &format!("{n}/grad/convlayers.Conv1.conv1d.weight"), g);
    check_grad(&npz, &grads, stack.layers.2.conv.bias.as_ref().unwrap(), &format!("{n}/grad/convlayers.Conv2.conv1d.bias"), g);
    check_value(&npz, &stack.layers.1.bnorm.as_ref().unwrap().running_mean, &format!("{n}/after/convlayers.Bnorm1.running_mean"));
}

#[test]
fn conv_stack_pooling_every_third_layer_matches_reference() {
    type Stack = ConvStack<
        6,
        4,
        3,
        (
            StackLayer<0, 6, 5, 1, false, true, f32, Cpu>,
            StackLayer<1, 6, 5, 2, false, true, f32, Cpu>,
            StackLayer<2, 6, 5, 4, false, true, f32, Cpu>,
        ),
    >;
    let (stack, grads, npz, g) = check_stack!("convstack_steps3", Stack, 40, 10);
    let n = "convstack_steps3";
    check_grad(&npz, &grads, &stack.layers.0.conv.weight, &format!("{n}/grad/convlayers.Conv0.conv1d.weight"), g);
}

fn flat<const N: usize>(dev: &Cpu, npz: &Npz, key: &str) -> Tensor<(usize, Const<N>), f32, Cpu> {
    let (shape, v) = npz.f32(key).unwrap();
    assert_eq!(shape[1], N, "{key}");
    dev.tensor_from_vec(v, (shape[0], Const::<N>))
}

#[test]
fn trunk_fc_stack_matches_reference() {
    type Stack = FcStack<
        Embedding<30, 16, f32, Cpu>,
        (Linear<16, 17, f32, Cpu>, Linear<17, 17, f32, Cpu>, Linear<17, 16, f32, Cpu>),
        GeluDropout<0>,
    >;
    let dev = Cpu::default();
    let npz = fixture();
    let mut stack: Stack = <Stack as BuildModule<Cpu, f32>>::build(&dev);
    load(&mut stack, "fcstack_embed");
    let x = flat::<30>(&dev, &npz, "fcstack_embed/input");
    let y: Tensor<(usize, Const<16>), f32, Cpu, _> = stack.forward(x.clone().traced(Gradients::leaky()), &mut Ctx::train(0));
    check_value(&npz, &y.retaped::<NoneTape>(), "fcstack_embed/output");
    let grads = (y * flat::<16>(&dev, &npz, "fcstack_embed/upstream")).sum().backward();
    let g = max_abs(&npz, "fcstack_embed/grad/");
    check_grad(&npz, &grads, &x, "fcstack_embed/grad_input", g);
    check_grad(&npz, &grads, &stack.embed.linear.weight, "fcstack_embed/grad/nfcs.EmbeddtoFully.weight", g);
    check_grad(&npz, &grads, &stack.layers.1.bias, "fcstack_embed/grad/nfcs.Fullyconnected1.bias", g);
}

#[test]
fn combiner_fc_stack_matches_reference() {
    type Stack = FcStack<NoEmbedding, (Linear<20, 22, f32, Cpu>, Linear<22, 20, f32, Cpu>), CombinerSpec<true>>;
    let dev = Cpu::default();
    let npz = fixture();
    let mut stack: Stack = <Stack as BuildModule<Cpu, f32>>::build(&dev);
    load(&mut stack, "fcstack_combine");
    let x = flat::<20>(&dev, &npz, "fcstack_combine/input");
    let y: Tensor<(usize, Const<20>), f32, Cpu, _> = stack.forward(x.clone().traced(Gradients::leaky()), &mut Ctx::train(0));
    check_value(&npz, &y.retaped::<NoneTape>(), "fcstack_combine/output");
    let grads = (y * flat::<20>(&dev, &npz, "fcstack_combine/upstream")).sum().backward();
    let g = max_abs(&npz, "fcstack_combine/grad/");
    check_grad(&npz, &grads, &x, "fcstack_combine/grad_input", g);
    check_grad(&npz, &grads, &stack.layers.0.weight, "fcstack_combine/grad/nfcs.Fullyconnected0.weight", g);
}

#[test]
fn attention_layer_matches_reference() {
    // in 6 channels, E = int(1.5·6) = 9 per head, 3 heads, L = 20.
    type Attn = Attention<6, 9, 3, 20, 12, 27, 36, f32, Cpu>;
    let dev = Cpu::default();
    let npz = fixture();
    let mut attn: Attn = <Attn as BuildModule<Cpu, f32>>::build(&dev);
    // The freshly built positional embedding must already equal the reference's buffer.
    check_value(&npz, &attn.positions, "attention/param/pos_queries");
    load(&mut attn, "attention");
    let x = seq::<6, 20>(&dev, &npz, "attention/input");
    let y = attn.forward(x.clone().traced(Gradients::leaky()));
    check_value(&npz, &y.retaped::<NoneTape>(), "attention/output");
    let grads = (y * seq::<9, 20>(&dev, &npz, "attention/upstream")).sum().backward();
    let g = max_abs(&npz, "attention/grad/");
    check_grad(&npz, &grads, &x, "attention/grad_input", g);
    check_grad(&npz, &grads, &attn.queries, "attention/grad/embed_queries.weight", g);
    check_grad(&npz, &grads, &attn.residual, "attention/grad/reslayer.weight", g);
    check_grad(&npz, &grads, &attn.ff2, "attention/grad/feedforward.2.weight", g);
    check_grad(&npz, &grads, &attn.norm2_bias, "attention/grad/feedforward_layer_norm.bias", g);
}
