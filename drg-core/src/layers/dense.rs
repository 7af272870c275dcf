//! Linear layers at the end of a trunk: the prediction heads (reference P7) and the
//! per-trunk embedding heads of the multi-input models.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;

use super::activation::Activation;
use super::init::fill_uniform_fan_in;
use super::Flat;
use crate::device::DrgDevice;

/// A dense layer `I → O` (PyTorch layout: weight (O, I), bias (O)), initialised as PyTorch's.
pub type Dense<const I: usize, const O: usize, D> = Linear<I, O, f32, D>;

/// Applies a dense layer to a typed batch of feature vectors.
pub fn dense_forward<const I: usize, const O: usize, D: DrgDevice, T: Tape<f32, D>>(
    layer: &Dense<I, O, D>,
    x: Flat<I, D, T>,
) -> Flat<O, D, T> {
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

/// A prediction head whose width is the data's track count (`output ex[_] = ..` in
/// `drg_model!`): `Linear(I → tracks)` with the number of tracks chosen when the model is built,
/// so one compiled model trains on any number of conditions. The input width stays a `Const`
/// (it is architecture); only the output is runtime-sized, and nothing downstream of a head
/// needs its width at compile time (losses and reports read it from the tensors).
///
/// Initialised as PyTorch's `Linear` (U(−1/√I, 1/√I) for weight, then bias, from the device's
/// generator), so a model built with `tracks = 88` draws exactly what `Linear<I, 88>` would.
/// State-dict names: `weight` (tracks, I), `bias` (tracks); the model supplies the path.
#[derive(Debug, Clone)]
pub struct TrackHead<const I: usize, E: Dtype, D: Storage<E>> {
    pub weight: Tensor<(usize, Const<I>), E, D>,
    pub bias: Tensor<(usize,), E, D>,
}

impl<const I: usize, D: DrgDevice> TrackHead<I, f32, D> {
    /// A freshly initialised head with `tracks` outputs.
    pub fn new(dev: &D, tracks: usize) -> Self {
        let mut weight = dev.zeros_like(&(tracks, Const::<I>));
        fill_uniform_fan_in(&mut weight, I).expect("initialising a head");
        let mut bias = dev.zeros_like(&(tracks,));
        fill_uniform_fan_in(&mut bias, I).expect("initialising a head");
        Self { weight, bias }
    }

    /// The number of tracks this head predicts.
    pub fn tracks(&self) -> usize {
        self.weight.shape().0
    }

    /// `(batch, I) → (batch, tracks)`.
    pub fn forward<T: Tape<f32, D>>(&self, x: Flat<I, D, T>) -> Tensor<(usize, usize), f32, D, T> {
        let b = x.shape().0;
        let y = x.matmul(self.weight.retaped::<T>().permute::<(Const<I>, usize), _>());
        y + self.bias.retaped::<T>().broadcast_like::<(usize, usize), Axis<0>>(&(b, self.tracks()))
    }
}

impl<const I: usize, D: DrgDevice> TensorCollection<f32, D> for TrackHead<I, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = TrackHead<I, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        // The shape is only what dfdx's `BuildModule` would build: zero tracks. Models build
        // their heads with `TrackHead::new` and the data's track count instead; every other
        // visitor (optimizers, gradients, saving, loading, moving to a device) reads the
        // tensors' own shapes.
        let weight = runtime_shape_options((0, Const::<I>), |t| fill_uniform_fan_in(t, I));
        let bias = runtime_shape_options((0,), |t| fill_uniform_fan_in(t, I));
        visitor.visit_fields(
            (Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, weight), Self::tensor("bias", |s| &s.bias, |s| &mut s.bias, bias)),
            |(weight, bias)| TrackHead { weight, bias },
        )
    }
}

/// How dfdx re-initialises a tensor (`TensorOptions::reset`).
type Reset<S, D> = fn(&mut Tensor<S, f32, D>) -> Result<(), <D as HasErr>::Err>;

/// dfdx's `TensorOptions` (trainable, reset with `reset`) for a tensor whose shape has a runtime
/// dimension. dfdx 0.13 builds options only for `Const` shapes (`reset_with` needs
/// `ConstShape`, and the struct is `#[non_exhaustive]`), although every visitor but its builder
/// works with any `Shape`; so this writes the three public fields itself.
fn runtime_shape_options<S: Shape, D: Device<f32>>(shape: S, reset: Reset<S, D>) -> TensorOptions<S, f32, D> {
    // A field added to `TensorOptions` (another dfdx version) would change its size: refuse to
    // compile then, instead of leaving the field uninitialised.
    const {
        assert!(
            std::mem::size_of::<TensorOptions<S, f32, D>>() == std::mem::size_of::<(bool, Reset<S, D>, S)>(),
            "dfdx's TensorOptions has other fields than do_gradient_update, reset and shape"
        )
    };
    let mut options = std::mem::MaybeUninit::<TensorOptions<S, f32, D>>::uninit();
    let p = options.as_mut_ptr();
    // SAFETY: dfdx is pinned to =0.13.0, whose `TensorOptions` has exactly the three public
    // fields written here (checked above by size); writing each through a raw field pointer
    // initialises the whole value before `assume_init`.
    unsafe {
        std::ptr::addr_of_mut!((*p).do_gradient_update).write(true);
        std::ptr::addr_of_mut!((*p).reset).write(reset);
        std::ptr::addr_of_mut!((*p).shape).write(shape);
        options.assume_init()
    }
}
