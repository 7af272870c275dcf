//! A 1-d convolution with the reference's 'same' padding, its channels, kernel size and dilation
//! in the type; optionally over both strands of a one-hot sequence (the trunk's first layer).

use dfdx::prelude::*;

use super::init::fill_uniform_fan_in;
use crate::device::DrgDevice;
use crate::ops::ConvGeom;

/// `Conv1d(CI → CO, kernel K, dilation DIL)`, stride 1, the reference's asymmetric 'same' padding
/// (so the length is unchanged), with a bias when `BIAS`.
///
/// With `RC` (the reference's first layer with `reverse_complement`, P1) it runs the same weights
/// over the sequence and its reverse complement (channels and positions flipped; with A,C,G,T
/// order the channel flip is the complement), flips the second result back and keeps the
/// element-wise maximum, so a motif counts on either strand.
///
/// State-dict names: `weight` (CO, CI, K) and `bias` (CO); the enclosing module supplies the
/// reference's path (`convolutions.conv1d`, `convlayers.Conv0.conv1d`). Without `BIAS` there is no bias
/// tensor: it is neither trained, saved nor expected in an imported state dict.
#[derive(Debug, Clone)]
pub struct Conv1d<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const DIL: usize,
    const BIAS: bool,
    E: Dtype,
    D: Storage<E>,
    const RC: bool = false,
> {
    pub weight: Tensor<Rank3<CO, CI, K>, E, D>,
    /// `Some` exactly when `BIAS`.
    pub bias: Option<Tensor<Rank1<CO>, E, D>>,
}

impl<const CI: usize, const CO: usize, const K: usize, const DIL: usize, const BIAS: bool, D: DrgDevice, const RC: bool>
    Conv1d<CI, CO, K, DIL, BIAS, f32, D, RC>
{
    /// The padding and stride this layer uses.
    pub const GEOM: ConvGeom = ConvGeom::same(K, DIL);

    /// Applies the convolution; the length `L` may be a `Const` or a runtime `usize`.
    pub fn forward<L: Dim, T: Tape<f32, D>>(
        &self,
        x: Tensor<(usize, Const<CI>, L), f32, D, T>,
    ) -> Tensor<(usize, Const<CO>, L), f32, D, T> {
        let (b, _, l) = *x.shape();
        let bias = self.bias.as_ref();
        if RC {
            D::rc_conv1d(x, &self.weight, bias, Self::GEOM, (b, Const::<CO>, l))
        } else {
            D::conv1d(x, &self.weight, bias, Self::GEOM, (b, Const::<CO>, l))
        }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const DIL: usize, const BIAS: bool, D: DrgDevice, const RC: bool>
    TensorCollection<f32, D> for Conv1d<CI, CO, K, DIL, BIAS, f32, D, RC>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv1d<CI, CO, K, DIL, BIAS, E2, D2, RC>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let weight =
            Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI * K)));
        if BIAS {
            visitor.visit_fields(
                (
                    weight,
                    Self::tensor(
                        "bias",
                        |s| s.bias.as_ref().expect("BIAS"),
                        |s| s.bias.as_mut().expect("BIAS"),
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI * K)),
                    ),
                ),
                |(weight, bias)| Conv1d { weight, bias: Some(bias) },
            )
        } else {
            visitor.visit_fields((weight,), |(weight,)| Conv1d { weight, bias: None })
        }
    }
}
