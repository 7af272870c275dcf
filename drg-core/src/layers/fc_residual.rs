//! The fully connected stack with skips: the reference's `Res_FullyConnect` with
//! `residual_after = r > 0` (its `nfc_residuals`, `drg_tools/modules.py` at commit `79b2f07`).
//!
//! The reference's forward pass keeps `res`, the stack's input, and walks its layers in order;
//! after layer n (0-based) with (n+1) mod r = 0 it adds `Residuallayer{n}(res)`, a linear layer
//! *without bias* from the width of `res` to layer n's output width, to layer n's output (after
//! its dropout and activation), and the sum becomes the new `res`. The projection is there even
//! when both widths are equal. Layers after the last multiple of r get no skip.
//!
//! The layers are the plain stack's ([`super::fc_stack::FcLayer`]: `[BatchNorm →] Linear →
//! Dropout → activation`); a model without skips keeps using [`super::fc_stack::FcStack`], so
//! this type only adds a code path.

use dfdx::nn::modules::UnbiasedLinear;
use dfdx::prelude::*;

use super::activation::Activation;
use super::ctx::Ctx;
use super::fc_stack::{FcLayer, FcLayers, FcSpec};
use super::Flat;
use crate::device::DrgDevice;

/// The layers of a stack, run one at a time (the skips sit between them).
pub trait FcLayersAt<D: DrgDevice>: FcLayers<D> {
    /// The widths from input to output: `N + 1` entries.
    const WIDTHS: &'static [usize];
    /// Layer `i`'s `[BatchNorm →] Linear → Dropout → activation`.
    fn step_at<T: Tape<f32, D>>(
        &mut self,
        i: usize,
        x: Tensor<(usize, usize), f32, D, T>,
        p: f32,
        act: Activation,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T>;
}

/// The skips' projections, `Residuallayer{(j+1)·EVERY − 1}` for j = 0, 1, ..: bias-free linear
/// layers (dfdx's `UnbiasedLinear`, tensor `weight` of shape `(out, in)` as PyTorch's).
pub trait Projections<D: DrgDevice>: Clone {
    /// `(in, out)` of every projection.
    const WIDTHS: &'static [(usize, usize)];
    /// Projection `j` of `res`.
    fn project<T: Tape<f32, D>>(&self, j: usize, res: Tensor<(usize, usize), f32, D, T>) -> Tensor<(usize, usize), f32, D, T>;
}

/// A stack of layers `L` with a skip after every `EVERY`-th layer through the projections `R`,
/// dropout and activation from `S`.
///
/// State-dict names: `nfcs.Fullyconnected<k>.*` (and `nfcs.Bnorm_fullyconnected<k>.*`) as
/// [`super::fc_stack::FcStack`], and `nfcs.Residuallayer<n>.weight` (the model supplies the
/// outer `nfcs` path).
#[derive(Debug, Clone)]
pub struct ResFcStack<L, R, S, const EVERY: usize> {
    pub layers: L,
    pub residuals: R,
    pub spec: std::marker::PhantomData<S>,
}

/// Whether the projections `proj` fit a stack of layer widths `widths` with a skip every
/// `every` layers: one projection per completed group (at least one: a stack without skips is
/// the plain [`super::fc_stack::FcStack`]), each from the group's input width to its output
/// width.
pub const fn skips_fit(widths: &[usize], proj: &[(usize, usize)], every: usize) -> bool {
    if every == 0 || widths.is_empty() || proj.is_empty() || proj.len() != (widths.len() - 1) / every {
        return false;
    }
    let mut j = 0;
    while j < proj.len() {
        if proj[j].0 != widths[j * every] || proj[j].1 != widths[(j + 1) * every] {
            return false;
        }
        j += 1;
    }
    true
}

impl<L, R, S: FcSpec, const EVERY: usize> ResFcStack<L, R, S, EVERY> {
    /// `Flat<I> → Flat<O>`; the layer and projection widths are checked at compile time. Takes
    /// `&mut self` because batch norm layers update their running statistics in train mode.
    pub fn forward<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
        &mut self,
        x: Flat<I, D, T>,
        ctx: &mut Ctx,
    ) -> Flat<O, D, T>
    where
        L: FcLayersAt<D>,
        R: Projections<D>,
    {
        let res = x.with_empty_tape();
        self.forward_from(x, res, ctx)
    }

    /// As [`ResFcStack::forward`], with the first skip reading `res` instead of `x`: the
    /// features before the `linear(..)` that produced `x` (the reference's `Res_FullyConnect`
    /// keeps `res = x` before its `EmbeddtoFully` layer, the `fclayer_size`; the projection is
    /// sized for that layer's output, so both have `I` features). `res` carries no tape of its
    /// own: it is a tape-free handle of a tensor whose tape went on into `x`, so its gradient
    /// adds to that tensor's.
    pub fn forward_from<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
        &mut self,
        x: Flat<I, D, T>,
        res: Flat<I, D, T>,
        ctx: &mut Ctx,
    ) -> Flat<O, D, T>
    where
        L: FcLayersAt<D>,
        R: Projections<D>,
    {
        const {
            assert!(L::N > 0 && L::IN == I && L::OUT == O, "fully connected stack widths do not fit");
            assert!(skips_fit(L::WIDTHS, R::WIDTHS, EVERY), "residual projections do not fit the stack's layers");
        }
        let b = x.shape().0;
        let x: Tensor<(usize, usize), f32, D, T> = x.reshape_like(&(b, I));
        // res: the skip source (the stack's input, then every sum); h: the running activation.
        let mut res: Tensor<(usize, usize), f32, D, T> = res.reshape_like(&(b, I));
        let mut h = x;
        for i in 0..L::N {
            h = self.layers.step_at(i, h, S::DROPOUT, S::ACT, ctx);
            if (i + 1) % EVERY == 0 {
                let skip = self.residuals.project((i + 1) / EVERY - 1, res);
                h = D::add(h, skip);
                res = h.with_empty_tape();
            }
        }
        h.reshape_like(&(b, Const::<O>))
    }
}

fn unbiased<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
    layer: &UnbiasedLinear<I, O, f32, D>,
    x: Tensor<(usize, usize), f32, D, T>,
) -> Tensor<(usize, usize), f32, D, T> {
    let b = x.shape().0;
    let y = layer.forward(x.reshape_like(&(b, Const::<I>)));
    y.reshape_like(&(b, O))
}

macro_rules! res_fc_tuple {
    ($n:literal; $($idx:tt: $L:ident),+; $first:ident) => {
        impl<D: DrgDevice, $($L: FcLayer<D>),+> FcLayersAt<D> for ($($L,)+)
        {
            const WIDTHS: &'static [usize] = &[$first::IN, $($L::OUT),+];
            fn step_at<T: Tape<f32, D>>(&mut self, i: usize, x: Tensor<(usize, usize), f32, D, T>, p: f32, act: Activation, ctx: &mut Ctx) -> Tensor<(usize, usize), f32, D, T> {
                match i {
                    $($idx => self.$idx.step(x, p, act, ctx),)+
                    _ => panic!("fully connected stack has no layer {i}"),
                }
            }
        }
    };
}

res_fc_tuple!(1; 0: L0; L0);
res_fc_tuple!(2; 0: L0, 1: L1; L0);
res_fc_tuple!(3; 0: L0, 1: L1, 2: L2; L0);
res_fc_tuple!(4; 0: L0, 1: L1, 2: L2, 3: L3; L0);
res_fc_tuple!(5; 0: L0, 1: L1, 2: L2, 3: L3, 4: L4; L0);
res_fc_tuple!(6; 0: L0, 1: L1, 2: L2, 3: L3, 4: L4, 5: L5; L0);

macro_rules! projections_tuple {
    ($($idx:tt: $I:ident $O:ident),+) => {
        impl<D: DrgDevice, $(const $I: usize, const $O: usize),+> Projections<D> for ($(UnbiasedLinear<$I, $O, f32, D>,)+) {
            const WIDTHS: &'static [(usize, usize)] = &[$(($I, $O)),+];
            fn project<T: Tape<f32, D>>(&self, j: usize, res: Tensor<(usize, usize), f32, D, T>) -> Tensor<(usize, usize), f32, D, T> {
                match j {
                    $($idx => unbiased(&self.$idx, res),)+
                    _ => panic!("fully connected stack has no projection {j}"),
                }
            }
        }
    };
}

projections_tuple!(0: I0 O0);
projections_tuple!(0: I0 O0, 1: I1 O1);
projections_tuple!(0: I0 O0, 1: I1 O1, 2: I2 O2);
projections_tuple!(0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3);
projections_tuple!(0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3, 4: I4 O4);
projections_tuple!(0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3, 4: I4 O4, 5: I5 O5);

/// The state-dict walk: the layers under their own keys (`nfcs.Fullyconnected{k}`, ..), the
/// projections `j` under `nfcs.Residuallayer{(j+1)·EVERY − 1}`.
macro_rules! res_fc_collection {
    ([$($idx:tt: $L:ident),+] [$($j:tt: $I:ident $O:ident),+]) => {
        impl<S: FcSpec, D: DrgDevice, const EVERY: usize, $($L: FcLayer<D>,)+ $(const $I: usize, const $O: usize),+> TensorCollection<f32, D>
            for ResFcStack<($($L,)+), ($(UnbiasedLinear<$I, $O, f32, D>,)+), S, EVERY>
        {
            type To<E2: Dtype, D2: Device<E2>> = ResFcStack<($($L::To<E2, D2>,)+), ($(UnbiasedLinear<$I, $O, E2, D2>,)+), S, EVERY>;
            fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                let names = [$($L::key($idx)),+];
                let skips = [$(format!("nfcs.Residuallayer{}", ($j + 1) * EVERY - 1)),+];
                visitor.visit_fields(
                    (
                        ($(Self::module(&names[$idx], |s| &s.layers.$idx, |s| &mut s.layers.$idx),)+),
                        ($(Self::module(&skips[$j], |s| &s.residuals.$j, |s| &mut s.residuals.$j),)+),
                    ),
                    |(layers, residuals)| ResFcStack { layers, residuals, spec: Default::default() },
                )
            }
        }
    };
}

/// Every (layers, projections) count up to six layers: 1 ≤ projections ≤ layers.
macro_rules! res_fc_collections {
    ($layers:tt) => {
        res_fc_collection!($layers [0: I0 O0]);
        res_fc_collection!($layers [0: I0 O0, 1: I1 O1]);
        res_fc_collection!($layers [0: I0 O0, 1: I1 O1, 2: I2 O2]);
        res_fc_collection!($layers [0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3]);
        res_fc_collection!($layers [0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3, 4: I4 O4]);
        res_fc_collection!($layers [0: I0 O0, 1: I1 O1, 2: I2 O2, 3: I3 O3, 4: I4 O4, 5: I5 O5]);
    };
}

res_fc_collections!([0: L0]);
res_fc_collections!([0: L0, 1: L1]);
res_fc_collections!([0: L0, 1: L1, 2: L2]);
res_fc_collections!([0: L0, 1: L1, 2: L2, 3: L3]);
res_fc_collections!([0: L0, 1: L1, 2: L2, 3: L3, 4: L4]);
res_fc_collections!([0: L0, 1: L1, 2: L2, 3: L3, 4: L4, 5: L5]);

#[cfg(test)]
mod tests {
    use super::skips_fit;

    #[test]
    fn skips_fit_checks_count_and_widths() {
        // fc(3) at 16 with a skip after every layer: 16 → 17 → 17 → 16
        let w = [16, 17, 17, 16];
        assert!(skips_fit(&w, &[(16, 17), (17, 17), (17, 16)], 1));
        // every 2: one skip after layer 1, from 16 to 17; layer 2 has none
        assert!(skips_fit(&w, &[(16, 17)], 2));
        assert!(!skips_fit(&w, &[(16, 17), (17, 16)], 2), "a skip after layer 3 does not exist");
        assert!(!skips_fit(&w, &[(17, 17)], 2), "the first skip reads the stack's input");
        assert!(!skips_fit(&w, &[(16, 16)], 2), "the skip ends at layer 1's width");
        assert!(!skips_fit(&w, &[], 4), "r > n: no skip, use the plain stack");
        assert!(!skips_fit(&w, &[(16, 17)], 0));
    }
}
