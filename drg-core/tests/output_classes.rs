//! The reference's `outclass` values `Softmax`, `SQUARED` and `THIRD` (`act = softmax | squared
//! | third`), and `act = ..` on the outputs of combined models, as the reference applies them
//! (`drg_tools/cnn_model_multi.py`): after an `mlp` output's head (its `PredictionHead` with the
//! output's `outclass`), and for `difference`/`direct` outputs on each trunk head the output reads
//! (`combine_function`, the trunk networks' `outclass`), before the relation.
//!
//! Every check compares with the same declaration without `act` (same seed, so the same weights:
//! an activation has no parameters), whose head values an f64 loop written from the reference's
//! `func_dict_single` (`drg_tools/modules.py`) maps: `Softmax` = `nn.Softmax()` over the tracks of
//! a row (dim 1 of a 2-D input), `SQUARED` = min(x, √128)², `THIRD` = min(x, ∛128)³ (`POWmax`,
//! crop 128^(1/exponent)). Gradients through the activations are checked against central finite
//! differences of the whole model.

mod ops_support;

use drg_core::cli::hyper::CnnString;
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use ops_support::finite_diff;

drg_model! {
    pub struct Plain {
        input seq: onehot(4, 40);
        trunk seq: conv(5, 5) >> gelu >> meanpool(4) >> flatten >> linear(8);
        output a[4] = head(seq);
        output b[3] = head(seq), validation = none;
        output c[3] = head(seq), validation = none;
    }

    pub struct Classes {
        input seq: onehot(4, 40);
        trunk seq: conv(5, 5) >> gelu >> meanpool(4) >> flatten >> linear(8);
        output a[4] = head(seq), act = softmax;
        output b[3] = head(seq), validation = none, act = squared;
        output c[3] = head(seq), validation = none, act = third;
    }

    /// Use case D's structure: one head per output in each trunk.
    pub struct TwoPlain {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten >> linear(6);
        trunk rna: same as dna;
        output ex[3] = difference(dna, rna);
        output kd[3] = direct(rna), validation = none;
        output kt[3] = direct(dna), validation = none;
    }

    pub struct TwoActs {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten >> linear(6);
        trunk rna: same as dna;
        output ex[3] = difference(dna, rna), act = squared;
        output kd[3] = direct(rna), validation = none, act = softmax;
        output kt[3] = direct(dna), validation = none;
    }

    /// Use case E's structure: one head per trunk, shared by the outputs.
    pub struct SharedPlain {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten >> linear(6);
        trunk rna: same as dna;
        output ex[3] = difference(dna, rna, shared);
        output kd[3] = direct(rna, shared), validation = none;
    }

    pub struct SharedActs {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten >> linear(6);
        trunk rna: same as dna;
        output ex[3] = difference(dna, rna, shared), act = third;
        output kd[3] = direct(rna, shared), validation = none, act = third;
    }

    pub struct MlpPlain {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten;
        trunk rna: same as dna;
        output ex[4] = mlp(dna, rna, layers = 1, embed = 6);
        output kd[3] = mlp(rna, layers = 1, embed = 6), validation = none;
    }

    pub struct MlpActs {
        input dna: onehot(4, 30);
        input rna: onehot(4, 30);
        trunk dna: conv(4, 5) >> gelu >> meanpool(3) >> flatten;
        trunk rna: same as dna;
        output ex[4] = mlp(dna, rna, layers = 1, embed = 6), act = softmax;
        output kd[3] = mlp(rna, layers = 1, embed = 6), validation = none, act = squared;
    }
}

type In = Tensor<(usize, usize, usize), f32, Cpu>;
/// An output batch with the gradient tape.
type Traced = Tensor<(usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>;

/// The reference's `POWmax` crop, 128^(1/exponent) in f64.
fn crop(exponent: i32) -> f64 {
    128f64.powf(1.0 / exponent as f64)
}

/// `SQUARED`, `THIRD` and `Softmax` of the reference, in f64, on a (rows, tracks) matrix.
#[derive(Clone, Copy, Debug)]
enum Class {
    Linear,
    Softmax,
    Squared,
    Third,
}

fn reference(class: Class, values: &[f32], tracks: usize) -> Vec<f64> {
    let x: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    match class {
        Class::Linear => x,
        Class::Squared => x.iter().map(|v| v.min(crop(2)).powi(2)).collect(),
        Class::Third => x.iter().map(|v| v.min(crop(3)).powi(3)).collect(),
        Class::Softmax => x
            .chunks(tracks)
            .flat_map(|row| {
                let m = row.iter().fold(f64::MIN, |m, &v| m.max(v));
                let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
                row.iter().map(move |v| (v - m).exp() / z).collect::<Vec<_>>()
            })
            .collect(),
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: {g}, want {w}");
    }
}

fn input(seed: u64, len: usize, scale: f32) -> In {
    let x: In = Cpu::seed_from_u64(seed).sample_normal_like(&(3, 4, len));
    x * scale
}

/// A fixed weight for element `e` of output `i`: different across the tracks of a row, so that
/// the softmax's gradient is not 0 (its outputs sum to 1 in every row).
fn weight(i: usize, e: usize) -> f32 {
    0.3 + ((7 * e + 3 * i) % 11) as f32 * 0.1
}

/// d(Σ outputs · weights)/d(first input) by backpropagation against central differences of the
/// model in f32 (step 1e-3), on every 7th input value.
fn check_gradients<M: DrgModel<Cpu>>(model: &mut M, xs: Vec<In>) {
    let dev = Cpu::default();
    let weigh = |outs: Vec<Traced>| {
        let mut it = outs.into_iter().enumerate().map(|(i, o)| {
            let shape = *o.shape();
            let w = dev.tensor_from_vec((0..shape.0 * shape.1).map(|e| weight(i, e)).collect(), shape);
            (o * w).sum()
        });
        let first = it.next().unwrap();
        it.fold(first, |a, b| a + b)
    };
    let weigh_plain = |outs: Vec<Tensor<(usize, usize), f32, Cpu>>| -> f64 {
        let each =
            outs.iter().enumerate().map(|(i, o)| o.as_vec().iter().enumerate().map(|(e, &v)| v as f64 * weight(i, e) as f64).sum::<f64>());
        each.sum()
    };
    let x0 = xs[0].clone();
    let shape = *x0.shape();
    let mut traced = vec![x0.clone().traced(Gradients::leaky())];
    traced.extend(xs[1..].iter().map(|x| x.clone().traced(Gradients::leaky())));
    let g = weigh(model.forward(traced, &mut Ctx::eval())).backward();
    let analytic = g.get(&x0).as_vec();
    let base: Vec<f64> = x0.as_vec().iter().map(|&v| v as f64).collect();
    let picked: Vec<usize> = (0..base.len()).step_by(7).collect();
    let model = std::cell::RefCell::new(model);
    let h = 1e-2;
    let fd = finite_diff(&picked.iter().map(|&i| base[i]).collect::<Vec<_>>(), h, |p| {
        let mut v: Vec<f32> = base.iter().map(|&b| b as f32).collect();
        for (&i, &pv) in picked.iter().zip(p) {
            v[i] = pv as f32;
        }
        let mut inputs = vec![dev.tensor_from_vec(v, shape)];
        inputs.extend(xs[1..].iter().cloned());
        weigh_plain(model.borrow_mut().forward(inputs, &mut Ctx::eval()))
    });
    // The f32 rounding of the forward pass, a few units in the last place of the summed
    // magnitudes, divided by the step: the differences' own noise.
    let outs = model.borrow_mut().forward(xs.clone(), &mut Ctx::eval());
    let magnitude: f64 = outs
        .iter()
        .enumerate()
        .map(|(i, o)| o.as_vec().iter().enumerate().map(|(e, &v)| (v * weight(i, e)).abs() as f64).sum::<f64>())
        .sum();
    let noise = 4.0 * f32::EPSILON as f64 * magnitude / (2.0 * h);
    let scale = analytic.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    assert!(scale > 10.0 * noise, "the gradient ({scale:e}) is not above the differences' noise ({noise:e})");
    for (&i, fd) in picked.iter().zip(fd) {
        let tol = 3e-3 * scale + noise;
        assert!((analytic[i] as f64 - fd).abs() <= tol, "input {i}: backprop {} vs finite difference {fd}", analytic[i]);
    }
}

#[test]
fn softmax_squared_and_third_after_a_head() {
    let seeded = || Cpu::seed_from_u64(9);
    let mut plain = PlainDefault::new(&seeded(), &[4, 3, 3]);
    let mut classes = ClassesDefault::new(&seeded(), &[4, 3, 3]);
    // A large input drives head values over the crops (√128 ≈ 11.3, ∛128 ≈ 5.04) and below 0.
    let x = input(1, 40, 300.0);
    let heads = plain.forward(vec![x.clone()], &mut Ctx::eval());
    let outs = classes.forward(vec![x], &mut Ctx::eval());
    let kinds = [(Class::Softmax, 4), (Class::Squared, 3), (Class::Third, 3)];
    let (mut over, mut negative) = (0, 0);
    for ((h, o), (class, tracks)) in heads.iter().zip(&outs).zip(kinds) {
        let h = h.as_vec();
        assert_close(&format!("{class:?}"), &o.as_vec(), &reference(class, &h, tracks));
        if let Class::Squared | Class::Third = class {
            let c = crop(if let Class::Squared = class { 2 } else { 3 });
            over += h.iter().filter(|&&v| v as f64 > c).count();
            negative += h.iter().filter(|&&v| v < 0.0).count();
        }
    }
    assert!(over > 0 && negative > 0, "the heads reach neither the crop nor negative values: {over}, {negative}");
    // The reference's `--cnn` names them as its `outclass`, in any case.
    let spec = &<ClassesDefault as DrgModel<Cpu>>::SPEC;
    CnnString::parse("outclass=['Softmax','SQUARED','THIRD']").unwrap().check_architecture(spec).unwrap();
    assert!(CnnString::parse("outclass=['Softmax','THIRD','SQUARED']").unwrap().check_architecture(spec).is_err());
    assert!(CnnString::parse("outclass=Linear").unwrap().check_architecture(spec).is_err());
}

#[test]
fn gradients_through_softmax_squared_and_third() {
    let mut model = ClassesDefault::new(&Cpu::seed_from_u64(4), &[4, 3, 3]);
    check_gradients(&mut model, vec![input(2, 40, 0.5)]);
}

/// The probe of a model's forward pass: the recorded heads by stage name.
fn heads<M: DrgModel<Cpu>>(model: &mut M, xs: Vec<In>) -> std::collections::BTreeMap<String, Vec<f32>> {
    let mut ctx = Ctx::eval().with_probe();
    model.forward(xs, &mut ctx);
    ctx.probe.unwrap().stages.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[test]
fn difference_and_direct_apply_the_act_to_each_trunk_head_first() {
    let seeded = || Cpu::seed_from_u64(5);
    let xs = vec![input(3, 30, 200.0), input(4, 30, 200.0)];
    let mut plain = TwoPlainDefault::new(&seeded(), &[3, 3, 3]);
    let h = heads(&mut plain, xs.clone());
    let mut acts = TwoActsDefault::new(&seeded(), &[3, 3, 3]);
    let outs = acts.forward(xs.clone(), &mut Ctx::eval());
    let head = |t: usize, k: usize| h[&format!("t{t}/embedding/{k}")].clone();
    // ex = SQUARED(dna head 0) − SQUARED(rna head 0): the reference's combine_function on each
    // trunk network's head, then `simple_multi_output`'s difference.
    let a = reference(Class::Squared, &head(0, 0), 3);
    let b = reference(Class::Squared, &head(1, 0), 3);
    let want: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a - b).collect();
    assert_close("ex", &outs[0].as_vec(), &want);
    assert!(head(0, 0).iter().chain(&head(1, 0)).any(|&v| v as f64 > crop(2)), "no head value over the crop");
    assert_close("kd", &outs[1].as_vec(), &reference(Class::Softmax, &head(1, 1), 3));
    assert_close("kt", &outs[2].as_vec(), &reference(Class::Linear, &head(0, 2), 3));
    // `--cnn`: one head per output takes the activations as a list of `combine_function`s (a
    // single name is replaced by `Linear` there); `outclass` stays the relations.
    let spec = &<TwoActsDefault as DrgModel<Cpu>>::SPEC;
    CnnString::parse("outclass=['difference','direct','direct']+combine_function=['SQUARED','Softmax','Linear']")
        .unwrap()
        .check_architecture(spec)
        .unwrap();
    assert!(CnnString::parse("combine_function=SQUARED").unwrap().check_architecture(spec).is_err());
    CnnString::parse("combine_function=Linear").unwrap().check_architecture(&<TwoPlainDefault as DrgModel<Cpu>>::SPEC).unwrap();
    let mut model = TwoActsDefault::new(&Cpu::seed_from_u64(6), &[3, 3, 3]);
    check_gradients(&mut model, vec![input(7, 30, 0.5), input(8, 30, 0.5)]);
}

#[test]
fn shared_heads_take_one_act_before_the_relation() {
    let seeded = || Cpu::seed_from_u64(11);
    let xs = vec![input(12, 30, 100.0), input(13, 30, 100.0)];
    let mut plain = SharedPlainDefault::new(&seeded(), &[3, 3]);
    let h = heads(&mut plain, xs.clone());
    let mut acts = SharedActsDefault::new(&seeded(), &[3, 3]);
    let outs = acts.forward(xs, &mut Ctx::eval());
    let a = reference(Class::Third, &h["t0/embedding"], 3);
    let b = reference(Class::Third, &h["t1/embedding"], 3);
    assert_close("ex", &outs[0].as_vec(), &a.iter().zip(&b).map(|(a, b)| a - b).collect::<Vec<_>>());
    assert_close("kd", &outs[1].as_vec(), &b);
    let spec = &<SharedActsDefault as DrgModel<Cpu>>::SPEC;
    CnnString::parse("shared_embedding=True+combine_function=THIRD").unwrap().check_architecture(spec).unwrap();
    assert!(CnnString::parse("combine_function=Linear").unwrap().check_architecture(spec).is_err());
    let mut model = SharedActsDefault::new(&Cpu::seed_from_u64(14), &[3, 3]);
    check_gradients(&mut model, vec![input(15, 30, 0.5), input(16, 30, 0.5)]);
}

#[test]
fn mlp_outputs_apply_the_act_after_their_head() {
    let seeded = || Cpu::seed_from_u64(21);
    let xs = vec![input(22, 30, 50.0), input(23, 30, 50.0)];
    let mut plain = MlpPlainDefault::new(&seeded(), &[4, 3]);
    let mut acts = MlpActsDefault::new(&seeded(), &[4, 3]);
    let base = plain.forward(xs.clone(), &mut Ctx::eval());
    let outs = acts.forward(xs, &mut Ctx::eval());
    assert_close("ex", &outs[0].as_vec(), &reference(Class::Softmax, &base[0].as_vec(), 4));
    assert_close("kd", &outs[1].as_vec(), &reference(Class::Squared, &base[1].as_vec(), 3));
    let spec = &<MlpActsDefault as DrgModel<Cpu>>::SPEC;
    CnnString::parse("outclass=['Softmax','SQUARED']+combine_function=GELU").unwrap().check_architecture(spec).unwrap();
    assert!(CnnString::parse("outclass=Linear").unwrap().check_architecture(spec).is_err());
    let mut model = MlpActsDefault::new(&Cpu::seed_from_u64(24), &[4, 3]);
    check_gradients(&mut model, vec![input(25, 30, 3.0), input(26, 30, 3.0)]);
}
