//! Linear layers at the end of a trunk: the prediction heads (reference P7) and the
//! per-trunk embedding heads of the multi-input models.

use dfdx::prelude::*;
use dfdx::nn::modules::Linear;

use super::activation::Activation;
use super::Flat;
use crate::device::DrgDevice;

/// A dense layer `I → O` (PyTorch layout: weight (O, I), bias (O)), initialised as PyTorch's.
pub type Dense<const I: usize, const O: usize, D> = Linear<I, O, f32, D>;

/// Applies a dense layer to a typed batch of feature vectors.
pub fn dense_forward<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(layer: &Dense<I, O, D>, x: Flat<I, D, T>) -> Flat<O, D, T> {
    layer.forward(x)
}

/// A prediction head: `Linear(I → O)`, followed by GELU when `GELU` (the reference's
/// `PredictionHead` with outclass `Linear` or `GELU`).
///
/// State-dict names: `classifier.Linear.weight`, `classifier.Linear.bias`; the model supplies
/// the outer `classifier` / `classifier.<i>` path.
#[derive(Debug, Clone)]
pub struct Head<const I: usize, const O: usize, const GELU: bool, E: Dtype, D: Storage<E>> {
    pub linear: Linear<I, O, E, D>,
}

impl<const I: usize, const O: usize, const GELU: bool, D: DrgDevice> Head<I, O, GELU, f32, D> {
    pub fn forward<T: Tape<f32, D>>(&self, x: Flat<I, D, T>) -> Flat<O, D, T> {
        let act = if GELU { Activation::Gelu } else { Activation::Identity };
        act.apply(self.linear.forward(x))
    }
}

impl<const I: usize, const O: usize, const GELU: bool, D: DrgDevice> TensorCollection<f32, D> for Head<I, O, GELU, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Head<I, O, GELU, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(Self::module("classifier.Linear", |s| &s.linear, |s| &mut s.linear), |linear| Head { linear })
    }
}
