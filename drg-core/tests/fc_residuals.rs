//! The fully connected stack's skips, `fc(n, residuals = r)` (the reference's `nfc_residuals`,
//! `Res_FullyConnect` in `drg_tools/modules.py`). No reference fixture has them, so every check
//! is against an independent f64 loop written here from the reference's code: it walks the
//! layers in order, `h = act(W·h + b)`, and after every layer n with (n+1) mod r = 0 adds the
//! bias-free projection `Residuallayer{n}` of `res` (the stack's input, then every sum) and sets
//! `res` to the sum. The loop reads the weights by state-dict name, so the names are checked too.

mod ops_support;

use std::collections::BTreeMap;

use drg_core::cli::hyper::CnnString;
use drg_core::dfdx::nn::modules::{Linear, UnbiasedLinear};
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::import::{export_gradients, export_state_dict, StateDict};
use drg_core::layers::fc_residual::ResFcStack;
use drg_core::layers::fc_stack::FcSettings;
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use ops_support::finite_diff;

drg_model! {
    /// A skip after every layer: three projections, 16 → 17, 17 → 17, 17 → 16.
    pub struct EverySkip {
        input seq: onehot(4, 40);
        trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> fc(3, dropout = 0.0, residuals = 1);
        output out[2] = head(seq);
        loss mse;
    }

    /// A skip after every second layer: one projection 16 → 17 over layers 0 and 1; layer 2
    /// has none.
    pub struct SecondSkip {
        input seq: onehot(4, 40);
        trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> fc(3, dropout = 0.0, residuals = 2);
        output out[2] = head(seq);
        loss mse;
    }

    /// `linear(16)` (the reference's `fclayer_size=16`, `EmbeddtoFully`) on 16 flat features,
    /// then skips after every layer: the first reads the features before `linear(16)`.
    pub struct EmbeddedSkip {
        input seq: onehot(4, 40);
        trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> linear(16) >> fc(3, dropout = 0.0, residuals = 1);
        output out[2] = head(seq);
        loss mse;
    }

    /// The same in every output's own layers (the reference's `nfc_layers=[3,3]` with
    /// `fclayer_size=16` and `nfc_residuals=2`).
    pub struct OwnEmbeddedSkip {
        input seq: onehot(4, 40);
        trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten;
        output out[2] = head(seq >> linear(16) >> fc(3, dropout = 0.0, residuals = 2));
        output two[3] = head(seq >> linear(16) >> fc(3, dropout = 0.0, residuals = 2)), validation = none;
        loss mse;
    }
}

/// Exact (erf) GELU in f64.
fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// The reference's `Res_FullyConnect.forward` with GELU and no dropout, in f64: `n` layers under
/// `{prefix}Fullyconnected{k}`, skips under `{prefix}Residuallayer{k}`, on `rows` rows of `x`.
fn reference(params: &BTreeMap<String, (Vec<usize>, Vec<f64>)>, prefix: &str, n: usize, every: usize, x: &[f64], rows: usize) -> Vec<f64> {
    let get = |k: &str| params.get(k).unwrap_or_else(|| panic!("no tensor {k}; have {:?}", params.keys()));
    let width_in = x.len() / rows;
    let mut out = Vec::new();
    for row in x.chunks(width_in) {
        // With `{prefix}EmbeddtoFully` (the reference's `fclayer_size`) the stack starts with
        // that linear layer, no activation; `res` stays the row before it.
        let mut h = match params.get(&format!("{prefix}EmbeddtoFully.weight")) {
            Some((shape, w)) => {
                let (_, b) = get(&format!("{prefix}EmbeddtoFully.bias"));
                let (o, i) = (shape[0], shape[1]);
                (0..o).map(|r| b[r] + (0..i).map(|c| w[r * i + c] * row[c]).sum::<f64>()).collect()
            }
            None => row.to_vec(),
        };
        let mut res = row.to_vec();
        for k in 0..n {
            let (shape, w) = get(&format!("{prefix}Fullyconnected{k}.weight"));
            let (_, b) = get(&format!("{prefix}Fullyconnected{k}.bias"));
            let (o, i) = (shape[0], shape[1]);
            assert_eq!(i, h.len(), "layer {k} input width");
            h = (0..o).map(|r| gelu(b[r] + (0..i).map(|c| w[r * i + c] * h[c]).sum::<f64>())).collect();
            let skip = format!("{prefix}Residuallayer{k}.weight");
            if (k + 1) % every == 0 {
                let (shape, p) = get(&skip);
                assert!(!params.contains_key(&format!("{prefix}Residuallayer{k}.bias")), "the projection has no bias");
                let (po, pi) = (shape[0], shape[1]);
                assert_eq!((po, pi), (o, res.len()), "projection {k} maps the skip source to layer {k}'s output");
                for (r, v) in h.iter_mut().enumerate() {
                    *v += (0..pi).map(|c| p[r * pi + c] * res[c]).sum::<f64>();
                }
                res = h.clone();
            } else {
                assert!(!params.contains_key(&skip), "no skip after layer {k} with residuals = {every}");
            }
        }
        out.extend(h);
    }
    out
}

fn as_f64(sd: &StateDict) -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    sd.entries.iter().map(|(k, e)| (k.clone(), (e.shape.clone(), e.values.iter().map(|&v| v as f64).collect()))).collect()
}

/// max|a − b| ≤ rel·max|b| + abs.
fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

/// The declared models: the stage `after_fc` is the loop applied to the stage `flattened`, with
/// the model's own weights read by the reference's names (`nfcs.nfcs.Residuallayer{n}`).
fn model_matches_the_loop<M: DrgModel<Cpu>>(every: usize, skips: &[(&str, [usize; 2])]) {
    let dev = Cpu::seed_from_u64(5);
    let mut model = M::new(&dev, &[2]);
    let sd = export_state_dict(&model);
    for (key, shape) in skips {
        assert_eq!(sd.get(key).map(|e| e.shape.clone()), Some(shape.to_vec()), "{key}");
    }
    let skip_keys = sd.entries.keys().filter(|k| k.contains("Residuallayer")).count();
    assert_eq!(skip_keys, skips.len(), "{:?}", sd.entries.keys());
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(3, 4, 40));
    let mut ctx = Ctx::eval().with_probe();
    let _ = model.forward(vec![x], &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let (shape, flat) = &stages["flattened"];
    let (_, after) = &stages["after_fc"];
    let flat: Vec<f64> = flat.iter().map(|&v| v as f64).collect();
    let want = reference(&as_f64(&sd), "nfcs.nfcs.", 3, every, &flat, shape[0]);
    let got: Vec<f64> = after.iter().map(|&v| v as f64).collect();
    assert_close(&format!("after_fc, residuals = {every}"), &got, &want, 1e-5, 0.0);
}

#[test]
fn declared_skips_after_every_layer_match_the_loop() {
    model_matches_the_loop::<EverySkipDefault>(
        1,
        &[
            ("nfcs.nfcs.Residuallayer0.weight", [17, 16]),
            ("nfcs.nfcs.Residuallayer1.weight", [17, 17]),
            ("nfcs.nfcs.Residuallayer2.weight", [16, 17]),
        ],
    );
}

#[test]
fn declared_skips_after_a_linear_of_the_same_width_match_the_loop() {
    model_matches_the_loop::<EmbeddedSkipDefault>(
        1,
        &[
            ("nfcs.nfcs.Residuallayer0.weight", [17, 16]),
            ("nfcs.nfcs.Residuallayer1.weight", [17, 17]),
            ("nfcs.nfcs.Residuallayer2.weight", [16, 17]),
        ],
    );
    CnnString::parse("fclayer_size=16+nfc_layers=3+nfc_residuals=1")
        .unwrap()
        .check_architecture(&<EmbeddedSkipDefault as DrgModel<Cpu>>::SPEC)
        .unwrap();
}

/// Every output's own `linear(16) >> fc(3, residuals = 2)`: the stage `after_fc{i}` is the loop
/// (with `nfcs.{i}.nfcs.EmbeddtoFully`) applied to the stage `flattened`.
#[test]
fn declared_skips_in_the_outputs_own_layers_match_the_loop() {
    let dev = Cpu::seed_from_u64(7);
    let mut model = OwnEmbeddedSkipDefault::new(&dev, &[2, 3]);
    let sd = export_state_dict(&model);
    let skips: Vec<(String, Vec<usize>)> =
        sd.entries.iter().filter(|(k, _)| k.contains("Residuallayer")).map(|(k, e)| (k.clone(), e.shape.clone())).collect();
    assert_eq!(
        skips,
        [("nfcs.0.nfcs.Residuallayer1.weight".to_string(), vec![17, 16]), ("nfcs.1.nfcs.Residuallayer1.weight".to_string(), vec![17, 16])]
    );
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(3, 4, 40));
    let mut ctx = Ctx::eval().with_probe();
    let _ = model.forward(vec![x], &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let (shape, flat) = &stages["flattened"];
    let flat: Vec<f64> = flat.iter().map(|&v| v as f64).collect();
    for i in 0..2 {
        let want = reference(&as_f64(&sd), &format!("nfcs.{i}.nfcs."), 3, 2, &flat, shape[0]);
        let got: Vec<f64> = stages[&format!("after_fc{i}")].1.iter().map(|&v| v as f64).collect();
        assert_close(&format!("after_fc{i}"), &got, &want, 1e-5, 0.0);
    }
    CnnString::parse("fclayer_size=16+nfc_layers=[3,3]+nfc_residuals=2")
        .unwrap()
        .check_architecture(&<OwnEmbeddedSkipDefault as DrgModel<Cpu>>::SPEC)
        .unwrap();
}

/// The input gradient of the declared model with `linear(16) >> fc(3, residuals = 1)` (through
/// the skip from before `linear`, and through `linear`) against central differences of the
/// model in f32.
#[test]
fn declared_skips_after_a_linear_gradients_match_finite_differences() {
    let dev = Cpu::seed_from_u64(8);
    let mut model = EmbeddedSkipDefault::new(&dev, &[2]);
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 4, 40));
    let c: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 2));
    let outs = model.forward(vec![x.clone().traced(Gradients::leaky())], &mut Ctx::eval());
    let g = (outs.into_iter().next().unwrap() * c.clone()).sum().backward();
    let analytic: Vec<f64> = g.get(&x).as_vec().iter().map(|&v| v as f64).collect();
    let base: Vec<f64> = x.as_vec().iter().map(|&v| v as f64).collect();
    let model = std::cell::RefCell::new(model);
    let fd = finite_diff(&base, 1e-3, |v| {
        let x = dev.tensor_from_vec(v.iter().map(|&v| v as f32).collect(), (2usize, 4usize, 40usize));
        let out = model.borrow_mut().forward(vec![x], &mut Ctx::eval()).remove(0);
        out.as_vec().iter().zip(c.as_vec()).map(|(&a, b)| a as f64 * b as f64).sum()
    });
    assert_close("d/dx through linear and the skip", &analytic, &fd, 2e-2, 1e-3);
}

#[test]
fn declared_skips_after_every_second_layer_match_the_loop() {
    model_matches_the_loop::<SecondSkipDefault>(2, &[("nfcs.nfcs.Residuallayer1.weight", [17, 16])]);
}

/// `--cnn nfc_residuals=..` is compared with the declaration's `residuals = ..`.
#[test]
fn cnn_nfc_residuals_is_compared_with_the_declaration() {
    CnnString::parse("nfc_layers=3+nfc_residuals=1").unwrap().check_architecture(&<EverySkipDefault as DrgModel<Cpu>>::SPEC).unwrap();
    CnnString::parse("nfc_layers=3+nfc_residuals=2").unwrap().check_architecture(&<SecondSkipDefault as DrgModel<Cpu>>::SPEC).unwrap();
    for (given, model) in
        [("nfc_residuals=2", &<EverySkipDefault as DrgModel<Cpu>>::SPEC), ("nfc_residuals=0", &<SecondSkipDefault as DrgModel<Cpu>>::SPEC)]
    {
        let e = CnnString::parse(given).unwrap().check_architecture(model).unwrap_err().to_string();
        assert!(e.starts_with(&format!("--cnn: {given} disagrees with")) && e.contains("`residuals = "), "{e}");
    }
}

type Layers = (Linear<6, 8, f32, Cpu>, Linear<8, 8, f32, Cpu>, Linear<8, 5, f32, Cpu>);
type Every1 = ResFcStack<
    Layers,
    (UnbiasedLinear<6, 8, f32, Cpu>, UnbiasedLinear<8, 8, f32, Cpu>, UnbiasedLinear<8, 5, f32, Cpu>),
    FcSettings<0, true>,
    1,
>;
type Every2 = ResFcStack<Layers, (UnbiasedLinear<6, 8, f32, Cpu>,), FcSettings<0, true>, 2>;
type Every3 = ResFcStack<Layers, (UnbiasedLinear<6, 5, f32, Cpu>,), FcSettings<0, true>, 3>;

const ROWS: usize = 4;

/// The layer's values and gradients (input and every weight, of Σ out·c for a fixed random c)
/// against the loop's values and central finite differences of the loop in f64.
fn layer_matches_the_loop<M>(every: usize)
where
    M: BuildModule<Cpu, f32> + TensorCollection<f32, Cpu>,
    M: StackForward,
{
    let dev = Cpu::seed_from_u64(11);
    let mut stack = M::build(&dev);
    let x: Tensor<(usize, Const<6>), f32, Cpu> = dev.sample_normal_like(&(ROWS, Const::<6>));
    let c: Vec<f32> = dev.sample_normal_like(&(ROWS, Const::<5>)).as_vec();
    let params = as_f64(&export_state_dict(&stack));
    let x64: Vec<f64> = x.as_vec().iter().map(|&v| v as f64).collect();
    let c64: Vec<f64> = c.iter().map(|&v| v as f64).collect();

    // leaky: the gradients keep the input's too
    let y = stack.run(x.clone().leaky_traced(), &mut Ctx::eval());
    let want = reference(&params, "nfcs.", 3, every, &x64, ROWS);
    let got: Vec<f64> = y.as_vec().iter().map(|&v| v as f64).collect();
    assert_close(&format!("forward, residuals = {every}"), &got, &want, 1e-5, 0.0);
    let loss = (y * dev.tensor_from_vec(c, (ROWS, Const::<5>))).sum();
    let mut g = loss.backward();
    let dx: Vec<f64> = g.get(&x).as_vec().iter().map(|&v| v as f64).collect();
    let dparams = export_gradients(&stack, &mut g);

    let loss_of = |p: &BTreeMap<String, (Vec<usize>, Vec<f64>)>, x: &[f64]| {
        reference(p, "nfcs.", 3, every, x, ROWS).iter().zip(&c64).map(|(a, b)| a * b).sum::<f64>()
    };
    let h = 1e-6;
    let fd_x = finite_diff(&x64, h, |x| loss_of(&params, x));
    assert_close(&format!("d/dx, residuals = {every}"), &dx, &fd_x, 1e-4, 1e-6);
    assert_eq!(dparams.len(), params.len(), "a gradient for every tensor");
    for (key, (_, values)) in &params {
        let fd = finite_diff(values, h, |v| {
            let mut moved = params.clone();
            moved.get_mut(key).unwrap().1 = v.to_vec();
            loss_of(&moved, &x64)
        });
        let got: Vec<f64> = dparams.get(key).unwrap_or_else(|| panic!("no gradient for {key}")).values.iter().map(|&v| v as f64).collect();
        assert_close(&format!("d/d{key}, residuals = {every}"), &got, &fd, 1e-4, 1e-6);
    }
}

/// `forward` of the three test stacks behind one name.
trait StackForward {
    fn run(
        &mut self,
        x: Tensor<(usize, Const<6>), f32, Cpu, OwnedTape<f32, Cpu>>,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, Const<5>), f32, Cpu, OwnedTape<f32, Cpu>>;
}

macro_rules! stack_forward {
    ($($t:ty),+) => {$(
        impl StackForward for $t {
            fn run(&mut self, x: Tensor<(usize, Const<6>), f32, Cpu, OwnedTape<f32, Cpu>>, ctx: &mut Ctx) -> Tensor<(usize, Const<5>), f32, Cpu, OwnedTape<f32, Cpu>> {
                self.forward::<6, 5, Cpu, OwnedTape<f32, Cpu>>(x, ctx)
            }
        }
    )+};
}
stack_forward!(Every1, Every2, Every3);

#[test]
fn skips_after_every_layer_values_and_gradients() {
    layer_matches_the_loop::<Every1>(1);
}

#[test]
fn skips_after_every_second_layer_values_and_gradients() {
    layer_matches_the_loop::<Every2>(2);
}

#[test]
fn one_skip_over_the_whole_stack_values_and_gradients() {
    layer_matches_the_loop::<Every3>(3);
}
