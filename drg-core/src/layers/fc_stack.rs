//! The fully connected stack of a trunk or a combiner (reference P6, `Res_FullyConnect`).
//!
//! A trunk's stack first reduces the flattened features with a plain linear layer ("embedding",
//! no activation), then runs `n` layers `Linear → Dropout → activation` whose widths follow the
//! reference's 1.1 widening rule ([`fc_widths`]); a combiner's stack has no embedding layer and no
//! dropout. The layer widths are const generics of the `Linear`s in the `layers` tuple (the model
//! macro computes them); the stack checks at compile time that they chain.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;

use super::activation::Activation;
use super::batchnorm::BatchNorm;
use super::ctx::Ctx;
use super::dropout::dropout;
use super::Flat;
use crate::device::DrgDevice;

/// The widths of a stack of `n` layers starting (and ending) at width `d`, as the reference builds
/// them with `layer_widening = 1.1`: the first ⌊n/2⌋ layers widen `w → int(1.1·w)`, a middle one
/// (n odd) keeps the width, the rest narrow `w → int(w/1.1)`, the last mapping back to `d`.
/// Returns the n+1 widths from input to output.
pub fn fc_widths(d: usize, n: usize) -> Vec<usize> {
    let mut widths = vec![d];
    let mut w = d;
    for i in 0..n {
        let next = if i + 1 == n {
            d
        } else if i < n / 2 {
            (w as f64 * 1.1) as usize
        } else if n % 2 == 1 && i == n / 2 {
            w
        } else {
            (w as f64 / 1.1) as usize
        };
        widths.push(next);
        w = next;
    }
    widths
}

/// Dropout probability and activation of a stack, as associated constants so that a stack can
/// be rebuilt from its tensors alone.
pub trait FcSpec: 'static {
    const DROPOUT: f32;
    const ACT: Activation;
}

/// The settings of a stack: dropout `DROPOUT_PERMILLE`/1000 after every linear layer (before the
/// activation), then GELU when `GELU`, else no activation.
#[derive(Debug, Clone, Copy, Default)]
pub struct FcSettings<const DROPOUT_PERMILLE: u32, const GELU: bool>;
impl<const DROPOUT_PERMILLE: u32, const GELU: bool> FcSpec for FcSettings<DROPOUT_PERMILLE, GELU> {
    const DROPOUT: f32 = DROPOUT_PERMILLE as f32 / 1000.0;
    const ACT: Activation = if GELU { Activation::Gelu } else { Activation::Identity };
}

/// The settings of a stack with another activation than GELU or none (`net_function=ReLU`, ..):
/// dropout `DROPOUT_PERMILLE`/1000, then the activation of [`Activation::code`] `ACT`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FcAct<const DROPOUT_PERMILLE: u32, const ACT: u8>;
impl<const DROPOUT_PERMILLE: u32, const ACT: u8> FcSpec for FcAct<DROPOUT_PERMILLE, ACT> {
    const DROPOUT: f32 = DROPOUT_PERMILLE as f32 / 1000.0;
    const ACT: Activation = Activation::from_code(ACT);
}

/// The trunk stacks of the reference: GELU, dropout `PERMILLE`/1000 (`fc_dropout=0.1` is 100).
pub type GeluDropout<const PERMILLE: u32> = FcSettings<PERMILLE, true>;

/// The combiner stacks of the reference: an activation after every layer, no dropout.
pub type CombinerSpec<const GELU: bool> = FcSettings<0, GELU>;

/// The optional first layer of a trunk stack: `EmbeddtoFully`, a linear reduction with no
/// activation. `NoEmbedding` for combiner stacks.
#[derive(Debug, Clone)]
pub struct Embedding<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    pub linear: Linear<I, O, E, D>,
}

/// No embedding layer (combiner stacks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEmbedding;
impl ZeroSizedModule for NoEmbedding {}

/// What a stack's first layer does with the features.
pub trait EmbedLayer<D: DrgDevice>: TensorCollection<f32, D> + Clone {
    const IN: usize;
    const OUT: usize;
    fn apply<T: Tape<f32, D>>(&self, x: Tensor<(usize, usize), f32, D, T>) -> Tensor<(usize, usize), f32, D, T>;
}

impl<const I: usize, const O: usize, D: DrgDevice> EmbedLayer<D> for Embedding<I, O, f32, D> {
    const IN: usize = I;
    const OUT: usize = O;
    fn apply<T: Tape<f32, D>>(&self, x: Tensor<(usize, usize), f32, D, T>) -> Tensor<(usize, usize), f32, D, T> {
        let b = x.shape().0;
        let y = self.linear.forward(x.reshape_like(&(b, Const::<I>)));
        y.reshape_like(&(b, O))
    }
}

impl<D: DrgDevice> EmbedLayer<D> for NoEmbedding {
    const IN: usize = 0;
    const OUT: usize = 0;
    fn apply<T: Tape<f32, D>>(&self, x: Tensor<(usize, usize), f32, D, T>) -> Tensor<(usize, usize), f32, D, T> {
        x
    }
}

impl<const I: usize, const O: usize, D: DrgDevice> TensorCollection<f32, D> for Embedding<I, O, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Embedding<I, O, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(Self::module("EmbeddtoFully", |s| &s.linear, |s| &mut s.linear), |linear| Embedding { linear })
    }
}

/// One layer of a stack: `Linear → Dropout → activation`, optionally with a batch norm in front.
pub trait FcLayer<D: DrgDevice>: TensorCollection<f32, D> + Clone {
    const IN: usize;
    const OUT: usize;
    /// The layer's module path inside the stack, for layer `idx` (`nfcs.Fullyconnected{idx}`).
    fn key(idx: usize) -> String;
    /// The layer's `[BatchNorm →] Linear → Dropout → activation`.
    fn step<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, usize), f32, D, T>,
        p: f32,
        act: Activation,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T>;
}

impl<const I: usize, const O: usize, D: DrgDevice> FcLayer<D> for Linear<I, O, f32, D> {
    const IN: usize = I;
    const OUT: usize = O;
    fn key(idx: usize) -> String {
        format!("nfcs.Fullyconnected{idx}")
    }
    fn step<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, usize), f32, D, T>,
        p: f32,
        act: Activation,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T> {
        let b = x.shape().0;
        linear_step(self, x.reshape_like(&(b, Const::<I>)), p, act, ctx)
    }
}

/// Layer `IDX` of a stack with batch norm (the reference's `fc_batch_norm=True`):
/// `BatchNorm1d(I) → Linear(I → O) → Dropout → activation`, the order of the reference's
/// `Res_FullyConnect` (its batch norm normalises the layer's input, so the first one follows the
/// embedding layer directly).
///
/// State-dict names: `nfcs.Bnorm_fullyconnected<IDX>.*` and `nfcs.Fullyconnected<IDX>.*`.
#[derive(Debug, Clone)]
pub struct BnLinear<const IDX: usize, const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    pub bnorm: BatchNorm<I, E, D>,
    pub linear: Linear<I, O, E, D>,
}

impl<const IDX: usize, const I: usize, const O: usize, D: DrgDevice> TensorCollection<f32, D> for BnLinear<IDX, I, O, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = BnLinear<IDX, I, O, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let bn_name = format!("Bnorm_fullyconnected{IDX}");
        let linear_name = format!("Fullyconnected{IDX}");
        visitor.visit_fields(
            (Self::module(&bn_name, |s| &s.bnorm, |s| &mut s.bnorm), Self::module(&linear_name, |s| &s.linear, |s| &mut s.linear)),
            |(bnorm, linear)| BnLinear { bnorm, linear },
        )
    }
}

impl<const IDX: usize, const I: usize, const O: usize, D: DrgDevice> FcLayer<D> for BnLinear<IDX, I, O, f32, D> {
    const IN: usize = I;
    const OUT: usize = O;
    fn key(idx: usize) -> String {
        assert_eq!(idx, IDX, "a batch-norm fc layer sits at its own index");
        "nfcs".to_string()
    }
    fn step<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, usize), f32, D, T>,
        p: f32,
        act: Activation,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T> {
        let b = x.shape().0;
        let x = self.bnorm.forward_flat(x.reshape_like(&(b, Const::<I>)), ctx);
        linear_step(&self.linear, x, p, act, ctx)
    }
}

/// A tuple of [`FcLayer`]s that chain (each one's output width is the next one's input).
pub trait FcLayers<D: DrgDevice>: Clone {
    /// Number of layers.
    const N: usize;
    /// Input width of the first layer (0 for an empty stack).
    const IN: usize;
    /// Output width of the last layer (0 for an empty stack).
    const OUT: usize;
    /// Every layer's `[BatchNorm →] Linear → Dropout → activation`.
    fn apply<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, usize), f32, D, T>,
        p: f32,
        act: Activation,
        ctx: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T>;
}

/// An embedding layer `E` (or [`NoEmbedding`]) followed by the layers `L`, with dropout and
/// activation from `S`.
///
/// State-dict names: `nfcs.EmbeddtoFully.*`, `nfcs.Fullyconnected<k>.*`,
/// `nfcs.Bnorm_fullyconnected<k>.*` with batch norm (the model supplies the outer `nfcs` /
/// `nclayers.<i>` path).
#[derive(Debug, Clone)]
pub struct FcStack<E, L, S> {
    pub embed: E,
    pub layers: L,
    pub spec: std::marker::PhantomData<S>,
}

impl<E, L, S: FcSpec> FcStack<E, L, S> {
    /// `Flat<I> → Flat<O>`; the widths are checked against the layers at compile time. Takes
    /// `&mut self` because batch norm layers update their running statistics in train mode.
    pub fn forward<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
        &mut self,
        x: Flat<I, D, T>,
        ctx: &mut Ctx,
    ) -> Flat<O, D, T>
    where
        E: EmbedLayer<D>,
        L: FcLayers<D>,
    {
        const {
            let first = if E::OUT > 0 { E::IN } else { L::IN };
            let last = if L::N > 0 { L::OUT } else { E::OUT };
            assert!(first == I || (first == 0 && I == O), "fully connected stack input width does not fit");
            assert!(last == O || (last == 0 && I == O), "fully connected stack output width does not fit");
            assert!(E::OUT == 0 || L::N == 0 || E::OUT == L::IN, "embedding width does not fit the first layer");
        }
        let b = x.shape().0;
        let h = self.embed.apply(x.reshape_like(&(b, I)));
        let h = self.layers.apply(h, S::DROPOUT, S::ACT, ctx);
        h.reshape_like(&(b, Const::<O>))
    }
}

fn linear_step<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
    layer: &Linear<I, O, f32, D>,
    x: Tensor<(usize, Const<I>), f32, D, T>,
    p: f32,
    act: Activation,
    ctx: &mut Ctx,
) -> Tensor<(usize, usize), f32, D, T> {
    let b = x.shape().0;
    let y = layer.forward(x);
    // The reference applies dropout before the activation.
    let y = act.apply(dropout(y, p, ctx));
    y.reshape_like(&(b, O))
}

impl<D: DrgDevice> FcLayers<D> for () {
    const N: usize = 0;
    const IN: usize = 0;
    const OUT: usize = 0;
    fn apply<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<(usize, usize), f32, D, T>,
        _: f32,
        _: Activation,
        _: &mut Ctx,
    ) -> Tensor<(usize, usize), f32, D, T> {
        x
    }
}

impl<E: EmbedLayer<D>, S: FcSpec, D: DrgDevice> TensorCollection<f32, D> for FcStack<E, (), S> {
    type To<E2: Dtype, D2: Device<E2>> = FcStack<E::To<E2, D2>, (), S>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(Self::module("nfcs", |s| &s.embed, |s| &mut s.embed), |embed| FcStack {
            embed,
            layers: (),
            spec: Default::default(),
        })
    }
}

macro_rules! fc_tuple {
    ($n:literal; $($idx:tt: $L:ident),+; $first:ident, $last:ident) => {
        impl<D: DrgDevice, $($L: FcLayer<D>),+> FcLayers<D> for ($($L,)+) {
            const N: usize = $n;
            const IN: usize = $first::IN;
            const OUT: usize = $last::OUT;
            fn apply<T: Tape<f32, D>>(&mut self, x: Tensor<(usize, usize), f32, D, T>, p: f32, act: Activation, ctx: &mut Ctx) -> Tensor<(usize, usize), f32, D, T> {
                $( let x = self.$idx.step(x, p, act, ctx); )+
                x
            }
        }

        impl<E: EmbedLayer<D>, S: FcSpec, D: DrgDevice, $($L: FcLayer<D>),+> TensorCollection<f32, D> for FcStack<E, ($($L,)+), S> {
            type To<E2: Dtype, D2: Device<E2>> = FcStack<E::To<E2, D2>, ($($L::To<E2, D2>,)+), S>;
            fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                let names = [$($L::key($idx)),+];
                visitor.visit_fields(
                    (
                        Self::module("nfcs", |s| &s.embed, |s| &mut s.embed),
                        ($(Self::module(&names[$idx], |s| &s.layers.$idx, |s| &mut s.layers.$idx),)+),
                    ),
                    |(embed, layers)| FcStack { embed, layers, spec: Default::default() },
                )
            }
        }
    };
}

fc_tuple!(1; 0: L0; L0, L0);
fc_tuple!(2; 0: L0, 1: L1; L0, L1);
fc_tuple!(3; 0: L0, 1: L1, 2: L2; L0, L2);
fc_tuple!(4; 0: L0, 1: L1, 2: L2, 3: L3; L0, L3);
fc_tuple!(5; 0: L0, 1: L1, 2: L2, 3: L3, 4: L4; L0, L4);
fc_tuple!(6; 0: L0, 1: L1, 2: L2, 3: L3, 4: L4, 5: L5; L0, L5);

#[cfg(test)]
mod tests {
    use super::fc_widths;

    #[test]
    fn widths_follow_the_reference_rule() {
        assert_eq!(fc_widths(1024, 3), vec![1024, 1126, 1126, 1024]);
        assert_eq!(fc_widths(1024, 2), vec![1024, 1126, 1024]);
        assert_eq!(fc_widths(64, 3), vec![64, 70, 70, 64]);
        assert_eq!(fc_widths(32, 2), vec![32, 35, 32]);
        assert_eq!(fc_widths(512, 2), vec![512, 563, 512]);
        assert_eq!(fc_widths(16, 0), vec![16]);
    }
}
