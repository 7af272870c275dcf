//! The reference's residual conv stack (P4, `Res_Conv1d`), used for both the dilated
//! convolutions and the pooled "transformer" convolutions.
//!
//! Layer n computes z = Conv_n(GELU(BN_n(h))); its skip source is the previous layer's conv
//! output *before* its own skip was added (the block input for layer 0), weighted-pooled when a
//! pooling ran after the previous layer; h ← z + skip, then a weighted pooling of window `P` after
//! every `S`-th layer (or max / mean pooling, [`super::stack_pooling`], with the residual's own
//! pooling). The number of layers is the tuple's length: a model builder leaves out the
//! layers the reference does not build (length shorter than the kernel).

use dfdx::prelude::*;

use super::activation::Activation;
use super::batchnorm::BatchNorm;
use super::conv::Conv1d;
use super::ctx::Ctx;
use super::dropout::dropout;
use super::pooling::pooled_len;
use super::stack_pooling::{StackPool, WeightedStackPool};
use super::{Seq, SeqDyn};
use crate::device::DrgDevice;

/// Layer `IDX` of a stack: BatchNorm (when `BN`) → activation → Conv1d(C → C, kernel K,
/// dilation DIL). The activation is the reference's `net_function`, by its
/// [`Activation::code`] (GELU unless told otherwise).
///
/// State-dict names: `Bnorm<IDX>.*` and `Conv<IDX>.conv1d.*` (the stack supplies `convlayers`).
#[derive(Debug, Clone)]
pub struct StackLayer<
    const IDX: usize,
    const C: usize,
    const K: usize,
    const DIL: usize,
    const BIAS: bool,
    const BN: bool,
    E: Dtype,
    D: Storage<E>,
    const ACT: u8 = 0,
> {
    /// `Some` exactly when `BN`.
    pub bnorm: Option<BatchNorm<C, E, D>>,
    pub conv: Conv1d<C, C, K, DIL, BIAS, E, D>,
}

impl<const IDX: usize, const C: usize, const K: usize, const DIL: usize, const BIAS: bool, const BN: bool, D: DrgDevice, const ACT: u8>
    StackLayer<IDX, C, K, DIL, BIAS, BN, f32, D, ACT>
{
    /// z = Conv(act(BN(h))), the layer's output before its skip is added.
    pub fn forward<T: Tape<f32, D>>(&mut self, h: SeqDyn<C, D, T>, ctx: &Ctx) -> SeqDyn<C, D, T> {
        let act = const { Activation::from_code(ACT) };
        let a = match (&mut self.bnorm, act) {
            (Some(bn), Activation::Gelu) => bn.forward(h, ctx, true),
            (Some(bn), act) => act.apply(bn.forward(h, ctx, false)),
            (None, act) => act.apply(h),
        };
        self.conv.forward(a)
    }
}

impl<const IDX: usize, const C: usize, const K: usize, const DIL: usize, const BIAS: bool, const BN: bool, D: DrgDevice, const ACT: u8>
    TensorCollection<f32, D> for StackLayer<IDX, C, K, DIL, BIAS, BN, f32, D, ACT>
{
    type To<E2: Dtype, D2: Device<E2>> = StackLayer<IDX, C, K, DIL, BIAS, BN, E2, D2, ACT>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let bn_name = format!("Bnorm{IDX}");
        let conv_name = format!("Conv{IDX}.conv1d");
        let conv = Self::module(&conv_name, |s| &s.conv, |s| &mut s.conv);
        if BN {
            visitor.visit_fields(
                (Self::module(&bn_name, |s| s.bnorm.as_ref().expect("BN"), |s| s.bnorm.as_mut().expect("BN")), conv),
                |(bnorm, conv)| StackLayer { bnorm: Some(bnorm), conv },
            )
        } else {
            visitor.visit_fields((conv,), |(conv,)| StackLayer { bnorm: None, conv })
        }
    }
}

/// The layers of a stack, a tuple of [`StackLayer`]s with the same channel count.
pub trait StackLayers<const C: usize, D: DrgDevice>: Clone {
    /// The kernel size of each layer, in order.
    const KERNELS: &'static [usize];
    /// Runs layer `i` (z = Conv(act(BN(h)))).
    fn layer<T: Tape<f32, D>>(&mut self, i: usize, h: SeqDyn<C, D, T>, ctx: &Ctx) -> SeqDyn<C, D, T>;
}

/// The output length of a stack with the given layer kernels, pooling window `p` (0: none) after
/// every `s`-th layer, for input length `len`. Fails (at compile time when used in a const
/// context) if a layer or a pooling would not fit, which the reference would not build.
pub const fn stack_out_len(len: usize, kernels: &[usize], p: usize, s: usize) -> usize {
    let mut len = len;
    let mut i = 0;
    while i < kernels.len() {
        assert!(len >= kernels[i], "a conv-stack layer needs a length of at least its kernel size");
        if p > 0 && (i + 1) % s == 0 {
            assert!(p <= len, "a conv-stack pooling needs a length of at least its window");
            len = pooled_len(len, p);
        }
        i += 1;
    }
    len
}

/// A residual conv stack over `C` channels with a pooling of window `P` (0: none) after every
/// `S`-th layer, of kind `K` (the reference's weighted pooling unless told otherwise), and
/// dropout of `DROP` thousandths (the reference's `conv_dropout`, its `Dropout_Convs{n}`) after
/// every layer's skip-add, before that layer's pooling; train mode only.
///
/// State-dict names: `convlayers.Bnorm<n>.*`, `convlayers.Conv<n>.conv1d.*` (the model supplies
/// `convolution_layers` / `trconvolution_layers`).
#[derive(Debug, Clone)]
pub struct ConvStack<const C: usize, const P: usize, const S: usize, L, K = WeightedStackPool, const DROP: u32 = 0> {
    pub layers: L,
    pub pool: K,
}

impl<const C: usize, const P: usize, const S: usize, L, K: StackPool, const DROP: u32> ConvStack<C, P, S, L, K, DROP> {
    /// `LI` positions in, `LO` out (checked at compile time against the layers and poolings).
    pub fn forward<const LI: usize, const LO: usize, D: DrgDevice, T: Tape<f32, D>>(
        &mut self,
        x: Seq<C, LI, D, T>,
        ctx: &mut Ctx,
    ) -> Seq<C, LO, D, T>
    where
        L: StackLayers<C, D>,
    {
        const { assert!(LO == stack_out_len(LI, L::KERNELS, P, S), "conv stack output length does not fit") };
        let b = x.shape().0;
        let x: SeqDyn<C, D, T> = x.reshape_like(&(b, Const::<C>, LI));
        // r: the skip source; h: the running activation.
        let mut r = x.with_empty_tape();
        let mut h = x;
        let mut pooled_before = false;
        for i in 0..L::KERNELS.len() {
            let z = self.layers.layer(i, h, ctx);
            ctx.record(&format!("conv{i}"), &z);
            let len = z.shape().2;
            let skip = if pooled_before { K::residual(r, P) } else { r };
            r = z.with_empty_tape();
            h = D::add(z, skip);
            if DROP > 0 {
                h = dropout(h, DROP as f32 / 1000.0, ctx);
            }
            pooled_before = P > 0 && (i + 1) % S == 0;
            if pooled_before {
                h = K::pool(h, P);
                debug_assert_eq!(h.shape().2, pooled_len(len, P));
            }
        }
        h.reshape_like(&(b, Const::<C>, Const::<LO>))
    }
}

macro_rules! stack_tuple {
    ($($idx:tt: $IDX:ident $K:ident $DIL:ident $BIAS:ident $BN:ident $ACT:ident),+) => {
        impl<D: DrgDevice, const C: usize, $(const $IDX: usize, const $K: usize, const $DIL: usize, const $BIAS: bool, const $BN: bool, const $ACT: u8),+>
            StackLayers<C, D> for ($(StackLayer<$IDX, C, $K, $DIL, $BIAS, $BN, f32, D, $ACT>,)+)
        {
            const KERNELS: &'static [usize] = &[$($K),+];
            fn layer<T: Tape<f32, D>>(&mut self, i: usize, h: SeqDyn<C, D, T>, ctx: &Ctx) -> SeqDyn<C, D, T> {
                match i {
                    $($idx => self.$idx.forward(h, ctx),)+
                    _ => panic!("conv stack has no layer {i}"),
                }
            }
        }

        impl<D: DrgDevice, Kind: StackPool, const C: usize, const P: usize, const S: usize, const DROP: u32, $(const $IDX: usize, const $K: usize, const $DIL: usize, const $BIAS: bool, const $BN: bool, const $ACT: u8),+>
            TensorCollection<f32, D> for ConvStack<C, P, S, ($(StackLayer<$IDX, C, $K, $DIL, $BIAS, $BN, f32, D, $ACT>,)+), Kind, DROP>
        {
            type To<E2: Dtype, D2: Device<E2>> = ConvStack<C, P, S, ($(StackLayer<$IDX, C, $K, $DIL, $BIAS, $BN, E2, D2, $ACT>,)+), Kind, DROP>;
            fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    ($(Self::module("convlayers", |s| &s.layers.$idx, |s| &mut s.layers.$idx),)+),
                    |layers| ConvStack { layers, pool: Kind::default() },
                )
            }
        }
    };
}

stack_tuple!(0: I0 K0 X0 B0 N0 A0);
stack_tuple!(0: I0 K0 X0 B0 N0 A0, 1: I1 K1 X1 B1 N1 A1);
stack_tuple!(0: I0 K0 X0 B0 N0 A0, 1: I1 K1 X1 B1 N1 A1, 2: I2 K2 X2 B2 N2 A2);
stack_tuple!(0: I0 K0 X0 B0 N0 A0, 1: I1 K1 X1 B1 N1 A1, 2: I2 K2 X2 B2 N2 A2, 3: I3 K3 X3 B3 N3 A3);
stack_tuple!(0: I0 K0 X0 B0 N0 A0, 1: I1 K1 X1 B1 N1 A1, 2: I2 K2 X2 B2 N2 A2, 3: I3 K3 X3 B3 N3 A3, 4: I4 K4 X4 B4 N4 A4);
stack_tuple!(0: I0 K0 X0 B0 N0 A0, 1: I1 K1 X1 B1 N1 A1, 2: I2 K2 X2 B2 N2 A2, 3: I3 K3 X3 B3 N3 A3, 4: I4 K4 X4 B4 N4 A4, 5: I5 K5 X5 B5 N5 A5);

#[cfg(test)]
mod tests {
    use super::stack_out_len;

    #[test]
    fn stack_lengths_follow_the_reference() {
        // basemodel at 40 kb: tr-conv 10000 → 1667 → 278 → 47 → 8.
        assert_eq!(stack_out_len(10_000, &[11; 4], 6, 1), 8);
        // fixture `base`: 250 → 84 → 28 → 10 (3 layers built).
        assert_eq!(stack_out_len(250, &[11; 3], 3, 1), 10);
        // transmodel dilated stack: WP(10) after layer 3 only.
        assert_eq!(stack_out_len(10_000, &[11; 3], 10, 3), 1_000);
        assert_eq!(stack_out_len(500, &[11; 3], 0, 1), 500);
    }
}
