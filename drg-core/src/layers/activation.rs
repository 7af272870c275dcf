//! Activation functions: the reference's `kernel_function` / `net_function` / `fc_function` /
//! `combine_function` choices (its `func_dict`): the exact (erf) GELU (its default), ReLU,
//! Sigmoid, Tanh, and the identity (`Id0`, or the `Linear` of an output class).

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
}

impl Activation {
    /// Every activation, in the order of their [`Activation::code`]s.
    pub const ALL: [Activation; 5] = [Activation::Gelu, Activation::Identity, Activation::Relu, Activation::Sigmoid, Activation::Tanh];

    /// A small number that names the activation in a const generic (`StackLayer`, `FcAct`).
    pub const fn code(self) -> u8 {
        match self {
            Activation::Gelu => 0,
            Activation::Identity => 1,
            Activation::Relu => 2,
            Activation::Sigmoid => 3,
            Activation::Tanh => 4,
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
        }
    }
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
        let want: [(Activation, Reference); 4] = [
            (Activation::Identity, |x| x),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
            (Activation::Tanh, |x| x.tanh()),
        ];
        for (a, f) in want {
            let y = a.apply(dev.tensor_from_vec(xs.to_vec(), (5usize,))).as_vec();
            for (y, &x) in y.iter().zip(&xs) {
                assert!((y - f(x)).abs() < 1e-6, "{a:?}({x}) = {y}, want {}", f(x));
            }
        }
    }
}
