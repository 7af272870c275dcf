//! The activation after an output's head (`output .. = head(..), act = exp_max;`, the reference's
//! `outclass='EXPmax'`): the same model without it, same seed and so the same weights, gives the
//! head's values, which the activation must map as exp(min(x, ln 128)); the gradient through it
//! is checked against finite differences of the whole model.

use drg_core::cli::hyper::CnnString;
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;

drg_model! {
    pub struct Linear {
        input seq: onehot(4, 60);
        trunk seq: conv(6, 5) >> gelu >> maxpool(3) >> flatten >> linear(8);
        output a[3] = head(seq);
        output b[2] = head(seq), validation = none;
    }

    pub struct Cropped {
        input seq: onehot(4, 60);
        trunk seq: conv(6, 5) >> gelu >> maxpool(3) >> flatten >> linear(8);
        output a[3] = head(seq), act = exp_max;
        output b[2] = head(seq), validation = none, act = exp;
    }
}

type In<T = NoneTape> = Tensor<(usize, usize, usize), f32, Cpu, T>;

fn input(dev: &Cpu, scale: f32) -> In {
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 4, 60));
    x * scale
}

#[test]
fn the_head_activation_is_the_cropped_exponential() {
    let seeded = || Cpu::seed_from_u64(9);
    let mut linear = LinearDefault::new(&seeded(), &[3, 2]);
    let mut cropped = CroppedDefault::new(&seeded(), &[3, 2]);
    // A large input drives some head values over ln 128 ≈ 4.85, where EXPmax crops.
    let x = input(&Cpu::seed_from_u64(1), 1000.0);
    let heads = linear.forward(vec![x.clone()], &mut Ctx::eval());
    let outs = cropped.forward(vec![x], &mut Ctx::eval());
    let crops = [128f32.ln(), 2f32.powi(32).ln()];
    let mut cropped_values = 0;
    for ((h, o), crop) in heads.iter().zip(&outs).zip(crops) {
        for (h, o) in h.as_vec().into_iter().zip(o.as_vec()) {
            let want = h.min(crop).exp();
            assert!((o - want).abs() <= 1e-5 * want, "act({h}) = {o}, want {want}");
            cropped_values += usize::from(h > crop);
        }
    }
    assert!(cropped_values > 0, "no head value reached the crop; the test input is too small");
    // The reference's `--cnn` names the activations as its `outclass`.
    CnnString::parse("outclass=['EXPmax','EXP']").unwrap().check_architecture(&<CroppedDefault as DrgModel<Cpu>>::SPEC).unwrap();
    assert!(CnnString::parse("outclass=Linear").unwrap().check_architecture(&<CroppedDefault as DrgModel<Cpu>>::SPEC).is_err());
}

/// d(Σ outputs)/d(input) by backpropagation against central differences of the model in f32
/// (step 1e-2 on inputs of scale 0.3, below the crop).
#[test]
fn gradients_through_the_head_activation_match_finite_differences() {
    let dev = Cpu::seed_from_u64(4);
    let mut model = CroppedDefault::new(&dev, &[3, 2]);
    let x = input(&Cpu::seed_from_u64(2), 0.3);
    let total = |m: &mut CroppedDefault, x: In| -> f64 {
        m.forward(vec![x], &mut Ctx::eval()).iter().map(|o| o.as_vec().iter().map(|&v| v as f64).sum::<f64>()).sum()
    };
    let outs = model.forward(vec![x.clone().traced(Gradients::leaky())], &mut Ctx::eval());
    let mut outs = outs.into_iter();
    let first = outs.next().unwrap().sum();
    let sum = outs.fold(first, |acc, o| acc + o.sum());
    let g = sum.backward();
    let analytic = g.get(&x).as_vec();
    let base = x.as_vec();
    let h = 1e-2f32;
    let scale = analytic.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    for i in (0..base.len()).step_by(37) {
        let mut plus = base.clone();
        plus[i] += h;
        let mut minus = base.clone();
        minus[i] -= h;
        let shape = (2usize, 4usize, 60usize);
        let fd =
            (total(&mut model, dev.tensor_from_vec(plus, shape)) - total(&mut model, dev.tensor_from_vec(minus, shape))) / (2.0 * h as f64);
        assert!((analytic[i] as f64 - fd).abs() <= 2e-3 * scale, "input {i}: backprop {} vs finite difference {fd}", analytic[i]);
    }
}
