//! BatchNorm over (batch, channel, position), optionally fused with the GELU that follows it in
//! every conv-stack layer (reference P3/P4); also over feature vectors, for the fully connected
//! stack's and the classifier's batch norm (`fc_batch_norm`).

use dfdx::prelude::*;

use super::ctx::Ctx;
use crate::device::DrgDevice;
use crate::ops::BnMode;

/// PyTorch's BatchNorm1d momentum for the running statistics.
pub const MOMENTUM: f32 = 0.1;

/// `BatchNorm1d(C)`: eps 1e-5, momentum 0.1, affine.
///
/// State-dict names: `weight`, `bias` (trained), `running_mean`, `running_var` (buffers: saved and
/// loaded but not touched by optimizers). The reference's `num_batches_tracked` counter does not
/// influence results with a fixed momentum and is not stored.
#[derive(Debug, Clone)]
pub struct BatchNorm<const C: usize, E: Dtype, D: Storage<E>> {
    pub weight: Tensor<Rank1<C>, E, D>,
    pub bias: Tensor<Rank1<C>, E, D>,
    pub running_mean: Tensor<Rank1<C>, E, D>,
    pub running_var: Tensor<Rank1<C>, E, D>,
}

impl<const C: usize, D: DrgDevice> BatchNorm<C, f32, D> {
    /// Normalises `x` (batch statistics in train mode, running statistics in eval mode), then
    /// applies the exact GELU when `gelu`. In train mode the running statistics are updated.
    pub fn forward<L: Dim, T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, Const<C>, L), f32, D, T>,
        ctx: &Ctx,
        gelu: bool,
    ) -> Tensor<(usize, Const<C>, L), f32, D, T> {
        let mode = if ctx.train { BnMode::Train { momentum: MOMENTUM } } else { BnMode::Eval };
        D::batchnorm_gelu(x, &self.weight, &self.bias, &mut self.running_mean, &mut self.running_var, mode, gelu)
    }

    /// `BatchNorm1d` over a batch of feature vectors `(batch, C)` (the reference's
    /// `fc_batch_norm`: statistics over the batch only), as a sequence of length 1.
    pub fn forward_flat<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, Const<C>), f32, D, T>,
        ctx: &Ctx,
    ) -> Tensor<(usize, Const<C>), f32, D, T> {
        let b = x.shape().0;
        let y = self.forward(x.reshape_like(&(b, Const::<C>, Const::<1>)), ctx, false);
        y.reshape_like(&(b, Const::<C>))
    }
}

impl<const C: usize, D: DrgDevice> TensorCollection<f32, D> for BatchNorm<C, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = BatchNorm<C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, TensorOptions::reset_to_ones()),
                Self::tensor("bias", |s| &s.bias, |s| &mut s.bias, TensorOptions::reset_to_zeros()),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.running_var,
                    |s| &mut s.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
            ),
            |(weight, bias, running_mean, running_var)| BatchNorm { weight, bias, running_mean, running_var },
        )
    }
}
