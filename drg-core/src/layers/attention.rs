//! The attention layer of the reference's transmodel (P5, `MyAttention_layer`): multi-head
//! self-attention over positions, with a sinusoidal positional embedding *concatenated* to the
//! input channels, a residual projection, LayerNorm and a feed-forward block.
//!
//! It is built from dfdx's own tensor ops (matmul, softmax, normalize), which run on every dfdx
//! device; the sequence here is short (after two poolings), so these are not the hot path.

use dfdx::prelude::*;

use super::ctx::Ctx;
use super::dropout::dropout;
use super::init::fill_uniform_fan_in;
use super::Seq;
use crate::device::DrgDevice;

/// `(batch, positions, channels)`, the layout used inside the layer.
type Rows<D, T> = Tensor<(usize, usize, usize), f32, D, T>;

/// Multi-head attention over a `CI`-channel sequence of length `L` with `H` heads of dimension
/// `E` (the reference's `int(dim_distattention · CI)`); the output has `E` channels.
///
/// The remaining parameters are the derived widths, spelled out because stable Rust cannot compute
/// them in types (checked at compile time): `CI2 = 2·CI` (input and embedding), `HE = H·E`,
/// `E4 = 4·E` (the feed-forward width).
///
/// State-dict names (the model supplies `distattention.Mheadattention0.`): `embed_queries.weight`
/// (HE, CI2, 1), `...embed_keys.weight`, `...embed_values.weight`, `...combine_layer.weight`
/// (E, HE, 1), `...reslayer.weight` (E, CI, 1), `...layer_norm.{weight,bias}` (E),
/// `...feedforward.0.weight` (E4, E, 1), `...feedforward.2.weight` (E, E4, 1),
/// `...feedforward_layer_norm.{weight,bias}` (E) and the buffer `...pos_queries` (CI, L).
#[derive(Debug, Clone)]
pub struct Attention<
    const CI: usize,
    const E: usize,
    const H: usize,
    const L: usize,
    const CI2: usize,
    const HE: usize,
    const E4: usize,
    El: Dtype,
    D: Storage<El>,
> {
    pub queries: Tensor<Rank3<HE, CI2, 1>, El, D>,
    pub keys: Tensor<Rank3<HE, CI2, 1>, El, D>,
    pub values: Tensor<Rank3<HE, CI2, 1>, El, D>,
    pub combine: Tensor<Rank3<E, HE, 1>, El, D>,
    pub residual: Tensor<Rank3<E, CI, 1>, El, D>,
    pub norm1_weight: Tensor<Rank1<E>, El, D>,
    pub norm1_bias: Tensor<Rank1<E>, El, D>,
    pub ff1: Tensor<Rank3<E4, E, 1>, El, D>,
    pub ff2: Tensor<Rank3<E, E4, 1>, El, D>,
    pub norm2_weight: Tensor<Rank1<E>, El, D>,
    pub norm2_bias: Tensor<Rank1<E>, El, D>,
    /// The positional embedding (CI, L), a buffer: saved and loaded, never trained.
    pub positions: Tensor<Rank2<CI, L>, El, D>,
}

/// The reference's positional embedding of `dim` rows over `len` positions (checked against the
/// reference's buffer in the tests below): the first ⌊dim/2⌋ rows are sines, the rest cosines; row
/// n (1-based within each half) has wavelength len/(0.8 + 1.2ⁿ), computed in f32 in torch's order
/// so that the pseudo-random high rows match.
pub fn positional_embedding(dim: usize, len: usize) -> Vec<f32> {
    let n_sin = dim / 2;
    let mut out = Vec::with_capacity(dim * len);
    for row in 0..dim {
        let (n, sine) = if row < n_sin { (row + 1, true) } else { (row - n_sin + 1, false) };
        let a = pow_1_2(n);
        let s = 0.8f32 + a;
        let w = (1.0f32 / s) * len as f32;
        let two_pi = (2.0 * std::f64::consts::PI) as f32;
        for pos in 0..len {
            let arg = (two_pi * pos as f32) / w;
            let v = if sine { (arg as f64).sin() } else { (arg as f64).cos() };
            out.push(v as f32);
        }
    }
    out
}

/// torch's float32 `1.2 ** n`: the correctly rounded value of f64(f32(1.2))ⁿ, except at the
/// exponents where torch's pow differs by one ulp (measured against the reference's buffer).
fn pow_1_2(n: usize) -> f32 {
    const EXCEPTIONS: [(usize, u32); 7] = [
        (150, 0x532f7b17),
        (162, 0x54c3935e),
        (221, 0x5c8c2123),
        (264, 0x622dc711),
        (390, 0x72bfcc2d),
        (431, 0x78252cdd),
        (435, 0x78ab40f4),
    ];
    if let Some(&(_, bits)) = EXCEPTIONS.iter().find(|(k, _)| *k == n) {
        return f32::from_bits(bits);
    }
    (1.2f32 as f64).powi(n as i32) as f32
}

/// A 1×1 convolution (a per-position linear map) on `(B, L, I)` rows with a weight stored in the
/// conv layout `(O, I, 1)`.
fn pointwise<const O: usize, const I: usize, D: DrgDevice, T: Tape<f32, D>>(
    x: Rows<D, T>,
    w: &Tensor<Rank3<O, I, 1>, f32, D>,
) -> Rows<D, T> {
    let (b, l, _) = *x.shape();
    let wt = w.retaped::<T>().reshape::<Rank2<O, I>>().permute::<Rank2<I, O>, _>();
    let x = x.reshape_like(&(b, l, Const::<I>));
    let y = x.matmul(wt);
    y.reshape_like(&(b, l, O))
}

/// LayerNorm over the channels of every position (eps 1e-5), with an affine map.
fn layer_norm<const C: usize, D: DrgDevice, T: Tape<f32, D>>(
    x: Rows<D, T>,
    gamma: &Tensor<Rank1<C>, f32, D>,
    beta: &Tensor<Rank1<C>, f32, D>,
) -> Rows<D, T> {
    let (b, l, _) = *x.shape();
    let x = x.reshape_like(&(b, l, Const::<C>)).normalize::<Axis<2>>(1e-5);
    let shape = *x.shape();
    let y = x * gamma.retaped::<T>().broadcast_like(&shape) + beta.retaped::<T>().broadcast_like(&shape);
    y.reshape_like(&(b, l, C))
}

impl<const CI: usize, const E: usize, const H: usize, const L: usize, const CI2: usize, const HE: usize, const E4: usize, D: DrgDevice>
    Attention<CI, E, H, L, CI2, HE, E4, f32, D>
{
    pub fn forward<T: Tape<f32, D>>(&self, x: Seq<CI, L, D, T>) -> Seq<E, L, D, T> {
        self.run(x, None)
    }

    /// [`Self::forward`] with the reference's `attention_dropout` `p` (its `MyAttention_layer`,
    /// `drg_tools/modules.py`): one `nn.Dropout(p)` applied twice, to the heads' concatenated
    /// outputs before `combine_layer`, and to the feed-forward block's input after the first
    /// LayerNorm (the block's skip keeps the undropped values). Training only, as
    /// [`dropout`]; masks are drawn in that order.
    pub fn forward_dropout<T: Tape<f32, D>>(&self, x: Seq<CI, L, D, T>, p: f32, ctx: &mut Ctx) -> Seq<E, L, D, T> {
        self.run(x, Some((p, ctx)))
    }

    fn run<T: Tape<f32, D>>(&self, x: Seq<CI, L, D, T>, mut drop: Option<(f32, &mut Ctx)>) -> Seq<E, L, D, T> {
        let mut dropped = |t: Rows<D, T>| match &mut drop {
            Some((p, ctx)) => dropout(t, *p, ctx),
            None => t,
        };
        const {
            assert!(CI2 == 2 * CI, "attention: CI2 must be 2·CI");
            assert!(HE == H * E, "attention: HE must be H·E");
            assert!(E4 == 4 * E, "attention: E4 must be 4·E");
        }
        let b = x.shape().0;
        // (B, C, L) → (B, L, C).
        let rows: Rows<D, T> = x.permute::<_, Axes3<0, 2, 1>>().reshape_like(&(b, L, CI));
        let res = pointwise(rows.with_empty_tape(), &self.residual);
        let pe =
            self.positions.clone().permute::<Rank2<L, CI>, _>().broadcast_like(&(b, Const::<L>, Const::<CI>)).reshape_like(&(b, L, CI));
        let xin = (rows, pe).concat_along(Axis::<2>).reshape_like(&(b, L, CI2));
        let heads = |t: Rows<D, T>| t.reshape_like(&(b, L, H, E)).permute::<_, Axes4<0, 2, 1, 3>>();
        let q = heads(pointwise(xin.with_empty_tape(), &self.queries));
        let k = heads(pointwise(xin.with_empty_tape(), &self.keys));
        let v = heads(pointwise(xin, &self.values));
        let scores = q.matmul(k.permute::<_, Axes4<0, 1, 3, 2>>()) * (1.0 / (E as f32).sqrt());
        let attn = scores.softmax::<Axis<3>>();
        let o = attn.matmul(v).permute::<_, Axes4<0, 2, 1, 3>>().reshape_like(&(b, L, HE));
        let u = pointwise(dropped(o), &self.combine) + res;
        let u = layer_norm(u, &self.norm1_weight, &self.norm1_bias);
        let ff = pointwise(D::gelu(pointwise(dropped(u.with_empty_tape()), &self.ff1)), &self.ff2);
        let v = layer_norm(ff + u, &self.norm2_weight, &self.norm2_bias);
        v.permute::<_, Axes3<0, 2, 1>>().reshape_like(&(b, Const::<E>, Const::<L>))
    }
}

impl<const CI: usize, const E: usize, const H: usize, const L: usize, const CI2: usize, const HE: usize, const E4: usize, D: DrgDevice>
    TensorCollection<f32, D> for Attention<CI, E, H, L, CI2, HE, E4, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Attention<CI, E, H, L, CI2, HE, E4, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::tensor(
                        "embed_queries.weight",
                        |s| &s.queries,
                        |s| &mut s.queries,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI2)),
                    ),
                    Self::tensor(
                        "embed_keys.weight",
                        |s| &s.keys,
                        |s| &mut s.keys,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI2)),
                    ),
                    Self::tensor(
                        "embed_values.weight",
                        |s| &s.values,
                        |s| &mut s.values,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI2)),
                    ),
                    Self::tensor(
                        "combine_layer.weight",
                        |s| &s.combine,
                        |s| &mut s.combine,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, HE)),
                    ),
                    Self::tensor(
                        "reslayer.weight",
                        |s| &s.residual,
                        |s| &mut s.residual,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, CI)),
                    ),
                ),
                (
                    Self::tensor("layer_norm.weight", |s| &s.norm1_weight, |s| &mut s.norm1_weight, TensorOptions::reset_to_ones()),
                    Self::tensor("layer_norm.bias", |s| &s.norm1_bias, |s| &mut s.norm1_bias, TensorOptions::reset_to_zeros()),
                    Self::tensor(
                        "feedforward.0.weight",
                        |s| &s.ff1,
                        |s| &mut s.ff1,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, E)),
                    ),
                    Self::tensor(
                        "feedforward.2.weight",
                        |s| &s.ff2,
                        |s| &mut s.ff2,
                        TensorOptions::reset_with(|t| fill_uniform_fan_in(t, E4)),
                    ),
                    Self::tensor(
                        "feedforward_layer_norm.weight",
                        |s| &s.norm2_weight,
                        |s| &mut s.norm2_weight,
                        TensorOptions::reset_to_ones(),
                    ),
                    Self::tensor("feedforward_layer_norm.bias", |s| &s.norm2_bias, |s| &mut s.norm2_bias, TensorOptions::reset_to_zeros()),
                ),
                Self::tensor(
                    "pos_queries",
                    |s| &s.positions,
                    |s| &mut s.positions,
                    TensorOptions::detached(|t| {
                        t.copy_from(&positional_embedding(CI, L));
                        Ok(())
                    }),
                ),
            ),
            |((queries, keys, values, combine, residual), (norm1_weight, norm1_bias, ff1, ff2, norm2_weight, norm2_bias), positions)| {
                Attention {
                    queries,
                    keys,
                    values,
                    combine,
                    residual,
                    norm1_weight,
                    norm1_bias,
                    ff1,
                    ff2,
                    norm2_weight,
                    norm2_bias,
                    positions,
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::npz::read_npz;

    #[test]
    fn positional_embedding_matches_the_reference_buffer() {
        let npz = read_npz(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/trans.npz")).unwrap();
        let (shape, want) = npz.f32("param/distattention.Mheadattention0.pos_queries").unwrap();
        let got = positional_embedding(shape[0], shape[1]);
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "max |Δ| = {worst}");
    }
}
