//! Activation functions: the reference's `kernel_function` / `net_function` / `fc_function` /
//! `combine_function` choices (its `func_dict`): the exact (erf) GELU (its default), ReLU,
//! Sigmoid, Tanh, the identity (`Id0`, or the `Linear` of an output class), and the cropped
//! exponentials `EXP` and `EXPmax` the reference offers for outputs (`outclass`).

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
}

impl Activation {
    /// Every activation, in the order of their [`Activation::code`]s.
    pub const ALL: [Activation; 7] = [
        Activation::Gelu,
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Exp,
        Activation::ExpMax,
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
            _ => panic!("no activation has this code"),
        }
    }

    pub fn apply<S: Shape, D: DrgDevice, T: Tape<f32, D>>(self, x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
        match self {
            Activation::Gelu => D::gelu(x),
            Activation::Identity => x,
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Exp => x.clamp(f32::MIN, exp_crop(2f64.powi(32))).exp(),
            Activation::ExpMax => x.clamp(f32::MIN, exp_crop(128.0)).exp(),
        }
    }
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
        let xs = [-2.0f32, -0.5, 0.0, 0.7, 3.0];
        type Reference = fn(f32) -> f32;
        let want: [(Activation, Reference); 6] = [
            (Activation::Identity, |x| x),
            (Activation::Exp, |x| x.exp()),
            (Activation::ExpMax, |x| x.min(128f32.ln()).exp()),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
            (Activation::Tanh, |x| x.tanh()),
        ];
        for (a, f) in want {
            let y = a.apply(dev.tensor_from_vec(xs.to_vec(), (5usize,))).as_vec();
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
}
