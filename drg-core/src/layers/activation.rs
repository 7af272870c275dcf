//! Activation functions. The reference uses the exact (erf) GELU everywhere.

use dfdx::prelude::*;

use crate::device::DrgDevice;

/// An activation chosen by a model declaration (`gelu`, or none for a plain linear map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Identity,
}

impl Activation {
    pub fn apply<S: Shape, D: DrgDevice, T: Tape<f32, D>>(self, x: Tensor<S, f32, D, T>) -> Tensor<S, f32, D, T> {
        match self {
            Activation::Gelu => D::gelu(x),
            Activation::Identity => x,
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
