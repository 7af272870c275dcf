//! Activation functions: the reference's `kernel_function` / `net_function` / `fc_function` /
//! `combine_function` choices (its `func_dict`): the exact (erf) GELU (its default), ReLU,
//! Sigmoid, Tanh, the identity (`Id0`, or the `Linear` of an output class), and the functions the
//! reference offers only after an output's head (`outclass`, its `func_dict_single` in
//! `drg_tools/modules.py`): the cropped exponentials `EXP` and `EXPmax`, the cropped powers
//! `SQUARED` and `THIRD` (`POWmax`), and `Softmax` over the tracks of a row.

use dfdx::prelude::*;

use crate::device::DrgDevice;

/// An activation chosen by a model declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    /// The reference's `EXP`: exp(min(x, ln 2³²)); the gradient is 0 above the crop.
    Exp,
    /// The reference's `EXPmax`: exp(min(x, ln 128)), outputs at most 128.
    ExpMax,
    /// The reference's `Softmax` (`nn.Softmax()` without a `dim`, which takes dim 1 of the
    /// (rows, tracks) output): softmax over the last axis.
    Softmax,
    /// The reference's `SQUARED`, `POWmax(exponent = 2)`: min(x, √128)²; no lower crop, the
    /// gradient is 0 above the crop.
    Squared,
    /// The reference's `THIRD`, `POWmax(exponent = 3)`: min(x, ∛128)³; no lower crop, the
    /// gradient is 0 above the crop.
    Third,
}

impl Activation {
    /// Every activation, in the order of their [`Activation::code`]s.
    pub const ALL: [Activation; 10] = [
        Activation::Gelu,
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Exp,
        Activation::ExpMax,
        Activation::Softmax,
        Activation::Squared,
        Activation::Third,
    ];

    /// A small number that names the activation in a const generic (`StackLayer`, `FcAct`).
    pub const fn code(self) -> u8 {
        match self {
            Activation::Gelu => 0,
            Activation::Identity => 1,
            Activation::Relu => 2,
            Activation::Sigmoid => 3,
            Activation::Tanh => 4,
            Activation::Exp => 5,
            Activation::ExpMax => 6,
            Activation::Softmax => 7,
            Activation::Squared => 8,
            Activation::Third => 9,
        }
    }

    /// The activation of a [`Activation::code`]; panics (at compile time in a const context) on
    /// any other number.
    pub const fn from_code(code: u8) -> Activation {
        match code {
            0 => Activation::Gelu,
            1 => Activation::Identity,
            2 => Activation::Relu,
            3 => Activation::Sigmoid,
            4 => Activation::Tanh,
            5 => Activation::Exp,
            6 => Activation::ExpMax,
            7 => Activation::Softmax,
            8 => Activation::Squared,
            9 => Activation::Third,
            _ => panic!("no activation has this code"),
        }
    }

    /// Applies the activation. All but [`Activation::Softmax`] act on each value alone; the
    /// softmax normalises over the last axis (the tracks of an output's (rows, tracks) matrix).
    pub fn apply<S: Shape, D: DrgDevice, T: Tape<f32, D>>(self, x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
        match self {
            Activation::Gelu => D::gelu(x),
            Activation::Identity => x,
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Exp => x.clamp(f32::MIN, exp_crop(2f64.powi(32))).exp(),
            Activation::ExpMax => x.clamp(f32::MIN, exp_crop(128.0)).exp(),
            Activation::Softmax => softmax_last_axis(x),
            Activation::Squared => x.clamp(f32::MIN, pow_crop(2)).square(),
            Activation::Third => x.clamp(f32::MIN, pow_crop(3)).powi(3),
        }
    }
}

/// The largest input of the reference's `POWmax(crop_max = 128, exponent)`: it computes
/// pow(−Threshold(−x), exponent) with `Threshold(−c, −c)`, c = 128^(1/exponent) in float64
/// (`crop_max**(1./exponent)`), i.e. pow(min(x, c), exponent) with c rounded to float32 as torch
/// rounds the threshold to the tensor's type.
fn pow_crop(exponent: i32) -> f32 {
    128f64.powf(1.0 / exponent as f64) as f32
}

/// Softmax over the last axis of any shape: the tensor is seen as (values / last, last) rows,
/// each normalised on its own, and given back its shape.
fn softmax_last_axis<S: Shape, D: DrgDevice, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
    let shape = *x.shape();
    let cols = shape.concrete().into_iter().last().unwrap_or(1).max(1);
    let rows = shape.num_elements() / cols;
    x.reshape_like(&(rows, cols)).softmax::<Axis<1>>().reshape_like(&shape)
}

/// The largest input of the reference's `EXPmax(crop_max)`: it computes exp(−Threshold(−x)) with
/// `Threshold(−ln crop_max, −ln crop_max)`, i.e. exp(min(x, ln crop_max)) in float32.
fn exp_crop(crop_max: f64) -> f32 {
    crop_max.ln() as f32
}

/// The exact GELU, 0.5·x·(1 + erf(x/√2)), as a parameter-free layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gelu;

impl Gelu {
    pub fn forward<S: Shape, D: DrgDevice, T: Tape<f32, D>>(&self, x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
        D::gelu(x)
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;
    use dfdx::prelude::*;

    #[test]
    fn codes_round_trip_and_values_follow_the_definitions() {
        for a in Activation::ALL {
            assert_eq!(Activation::from_code(a.code()), a);
        }
        let dev = Cpu::default();
        let xs = [-2.0f32, -0.5, 0.0, 0.7, 3.0, 5.5, 12.0];
        type Reference = fn(f32) -> f32;
        // √128 ≈ 11.31 and ∛128 ≈ 5.04: the crops of SQUARED and THIRD, written out in f64.
        let want: [(Activation, Reference); 8] = [
            (Activation::Identity, |x| x),
            (Activation::Exp, |x| x.exp()),
            (Activation::ExpMax, |x| x.min(128f32.ln()).exp()),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
            (Activation::Tanh, |x| x.tanh()),
            (Activation::Squared, |x| (x as f64).min(11.313708498984761).powi(2) as f32),
            (Activation::Third, |x| (x as f64).min(5.039684199579492).powi(3) as f32),
        ];
        for (a, f) in want {
            let y = a.apply(dev.tensor_from_vec(xs.to_vec(), (xs.len(),))).as_vec();
            for (y, &x) in y.iter().zip(&xs) {
                assert!((y - f(x)).abs() < 1e-6 * f(x).abs().max(1.0), "{a:?}({x}) = {y}, want {}", f(x));
            }
        }
    }

    /// The cropped exponentials' gradients against central finite differences of their own
    /// forward pass (in f64 from f32 evaluations, step 1e-3), away from the crop, where the
    /// reference's gradient switches from exp(x) to 0.
    #[test]
    fn exp_gradients_match_finite_differences() {
        let dev = Cpu::default();
        // Below and above ln 128 ≈ 4.85 (EXPmax) and ln 2³² ≈ 22.18 (EXP).
        let xs = vec![-3.0f32, -0.4, 0.0, 1.3, 4.5, 5.3, 9.0, 21.5, 23.0];
        for a in [Activation::Exp, Activation::ExpMax] {
            let x = dev.tensor_from_vec(xs.clone(), (xs.len(),));
            let g = a.apply(x.leaky_trace()).sum().backward();
            let grad = g.get(&x).as_vec();
            let f = |v: f32| a.apply(dev.tensor_from_vec(vec![v], (1usize,))).as_vec()[0] as f64;
            for (&x0, &gx) in xs.iter().zip(&grad) {
                let h = 1e-3f32;
                let fd = (f(x0 + h) - f(x0 - h)) / (2.0 * h as f64);
                let tol = 2e-3 * fd.abs().max(1.0);
                assert!((gx as f64 - fd).abs() <= tol, "{a:?}: d/dx at {x0} = {gx}, finite difference {fd}");
            }
            // Above the crop the output is constant and the gradient 0.
            let above = if a == Activation::ExpMax { 5.3 } else { 23.0 };
            let i = xs.iter().position(|&v| v == above).unwrap();
            assert_eq!(grad[i], 0.0, "{a:?} above its crop");
        }
    }

    /// `Softmax` normalises each row of a (rows, tracks) matrix on its own, as `nn.Softmax()`
    /// does for a 2-D input (dim 1): an f64 loop exp(x_j − max) / Σ exp(x_k − max) per row.
    #[test]
    fn softmax_runs_over_the_tracks_of_each_row() {
        let dev = Cpu::default();
        let x = vec![-1.0f32, 0.5, 2.0, 30.0, 0.0, 0.0, 0.0, 0.0, 4.0, -3.0, 1.0, 0.25];
        let y = Activation::Softmax.apply(dev.tensor_from_vec(x.clone(), (3usize, 4usize))).as_vec();
        for (row, out) in x.chunks(4).zip(y.chunks(4)) {
            let m = row.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
            let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            for (&v, &o) in row.iter().zip(out) {
                let want = (v as f64 - m).exp() / z;
                assert!((o as f64 - want).abs() < 1e-6, "softmax of {row:?}: {o}, want {want}");
            }
        }
    }

    /// The gradients of `Softmax` (of a weighted sum of its outputs, so that they are not all 0),
    /// `SQUARED` and `THIRD` against central finite differences of their forward pass (f64 from
    /// f32 evaluations, step 1e-3), away from the crops; above a crop the gradient is 0, as the
    /// reference's `Threshold`.
    #[test]
    fn softmax_and_power_gradients_match_finite_differences() {
        let dev = Cpu::default();
        let xs = vec![-3.0f32, -0.4, 0.1, 1.3, 4.5, 5.3, 9.0, 12.5];
        let weights: Vec<f32> = (0..xs.len()).map(|i| 0.3 + 0.7 * i as f32).collect();
        for a in [Activation::Softmax, Activation::Squared, Activation::Third] {
            let shape = (2usize, 4usize);
            let w = dev.tensor_from_vec(weights.clone(), shape);
            let x = dev.tensor_from_vec(xs.clone(), shape);
            let g = (a.apply(x.leaky_trace()) * w.clone()).sum().backward();
            let grad = g.get(&x).as_vec();
            // Σ w·y in f64 over the f32 outputs: the unchanged outputs cancel exactly.
            let f = |v: Vec<f32>| {
                let y: Tensor<(usize, usize), f32, Cpu> = a.apply(dev.tensor_from_vec(v, shape));
                y.as_vec().iter().zip(&weights).map(|(&y, &w)| y as f64 * w as f64).sum::<f64>()
            };
            for i in 0..xs.len() {
                let h = 1e-3f32;
                let (mut plus, mut minus) = (xs.clone(), xs.clone());
                plus[i] += h;
                minus[i] -= h;
                let fd = (f(plus) - f(minus)) / (2.0 * h as f64);
                let tol = 2e-3 * fd.abs().max(1.0);
                assert!((grad[i] as f64 - fd).abs() <= tol, "{a:?}: d/dx{i} = {}, finite difference {fd}", grad[i]);
            }
        }
        // Above the crops (√128 ≈ 11.31 for SQUARED, ∛128 ≈ 5.04 for THIRD) the gradient is 0.
        let x = dev.tensor_from_vec(xs.clone(), (xs.len(),));
        let g = Activation::Squared.apply(x.leaky_trace()).sum().backward().get(&x).as_vec();
        assert_eq!(g[7], 0.0, "SQUARED above its crop");
        assert_eq!(g[6], 18.0, "SQUARED below its crop: 2x");
        let g = Activation::Third.apply(x.leaky_trace()).sum().backward().get(&x).as_vec();
        assert_eq!((g[5], g[6], g[7]), (0.0, 0.0, 0.0), "THIRD above its crop");
    }
}
