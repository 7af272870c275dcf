//! Strided conv stacks: the reference's `strides` / `trstrides` (`Res_Conv1d` in
//! `drg_tools/modules.py` at commit `79b2f07`), with or without a pooling in the stack.
//!
//! Layer n with stride s is the reference's `Padded_Conv1d(.., stride = s, padding = convpad)`
//! with the stride-1 "same" padding `convpad` (left ⌊e/2⌋ − [e even], right ⌊e/2⌋, e = d·(k−1)+1):
//! its output has ⌈L/s⌉ positions and is every s-th output (0, s, 2s, ..) of the stride-1
//! convolution, which is how it is computed here. Where the length changes, the reference
//! pools the layer's skip source with `Padded_AvgPool1d(k, stride = s, padding = convpad,
//! dilation = d, count_include_pad = False)`: position j of the skip is the mean of the source
//! at positions j·s − left + i·d (i < k) that lie inside the sequence, the padding not counted.
//!
//! With a pooling of window P after every `S`-th layer, the layer's pooling pools the strided
//! output (after the skip-add), and the next layer's skip goes through every window the
//! reference collects for it (`reswindows` of `Res_Conv1d`, applied in order by
//! `Residual_convolution`): first that pooling's residual window ([`StackPool::residual`]) on the
//! skip source, then, where the next layer's stride changes the length, its mean window.
//!
//! The stack keeps [`ConvStack`]'s type, so its state-dict names are the same; the strides are a
//! type argument of [`ConvStack::forward_strided`].

use dfdx::prelude::*;
use dfdx::tensor::TensorFromVec;

use super::conv_stack::{ConvStack, StackLayers};
use super::ctx::Ctx;
use super::dropout::dropout;
use super::stack_pooling::StackPool;
use super::{Seq, SeqDyn};
use crate::device::DrgDevice;

/// The stride of one layer, as a type (`(Stride<1>, Stride<2>)` for `strides = [1, 2]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stride<const S: usize>;

/// A tuple of [`Stride`]s, one per layer.
pub trait Strides {
    const S: &'static [usize];
}

macro_rules! strides_tuple {
    ($($S:ident),+) => {
        impl<$(const $S: usize),+> Strides for ($(Stride<$S>,)+) {
            const S: &'static [usize] = &[$($S),+];
        }
    };
}
strides_tuple!(S0);
strides_tuple!(S0, S1);
strides_tuple!(S0, S1, S2);
strides_tuple!(S0, S1, S2, S3);
strides_tuple!(S0, S1, S2, S3, S4);
strides_tuple!(S0, S1, S2, S3, S4, S5);
strides_tuple!(S0, S1, S2, S3, S4, S5, S6);
strides_tuple!(S0, S1, S2, S3, S4, S5, S6, S7);

/// The output length of a strided stack: ⌈L/s⌉ per layer, then ⌈L/p⌉ after a layer with a
/// pooling (`p` > 0 after every `every`-th layer). Fails (at compile time in a const context)
/// where a layer or a pooling would not fit (length < kernel size or < window, which the
/// reference does not build) or the strides do not match the layers.
pub const fn strided_out_len(len: usize, kernels: &[usize], strides: &[usize], p: usize, every: usize) -> usize {
    assert!(kernels.len() == strides.len(), "one stride per conv-stack layer");
    let mut len = len;
    let mut i = 0;
    while i < kernels.len() {
        assert!(len >= kernels[i], "a conv-stack layer needs a length of at least its kernel size");
        assert!(strides[i] >= 1, "a stride is at least 1");
        len = len.div_ceil(strides[i]);
        if p > 0 && (i + 1) % every == 0 {
            assert!(p <= len, "a conv-stack pooling needs a length of at least its window");
            len = len.div_ceil(p);
        }
        i += 1;
    }
    len
}

/// The stride-1 "same" padding of a kernel `k` with dilation `d`: (left, right).
pub fn same_padding(k: usize, d: usize) -> (usize, usize) {
    let e = d * (k - 1) + 1;
    (e / 2 - usize::from(e.is_multiple_of(2)), e / 2)
}

/// Every `s`-th position (0, s, 2s, ..) of `x`: ⌈L/s⌉ positions.
pub fn subsample<const C: usize, D: DrgDevice + TensorFromVec<usize>, T: Tape<f32, D>>(x: SeqDyn<C, D, T>, s: usize) -> SeqDyn<C, D, T> {
    let (b, _, len) = *x.shape();
    let m = len.div_ceil(s);
    let idx: Vec<usize> = (0..b * C).flat_map(|_| (0..m).map(move |j| j * s)).collect();
    let idx = x.device().tensor_from_vec(idx, (b, Const::<C>, m));
    x.gather(idx)
}

/// The reference's residual mean window for a strided layer (`Padded_AvgPool1d` with
/// `count_include_pad=False`): position j is the mean of `x` at j·s − left + i·d, i < k, over
/// the positions inside the sequence.
pub fn strided_mean_window<const C: usize, D: DrgDevice + TensorFromVec<usize>, T: Tape<f32, D>>(
    x: SeqDyn<C, D, T>,
    k: usize,
    d: usize,
    s: usize,
) -> SeqDyn<C, D, T> {
    let (b, _, len) = *x.shape();
    let m = len.div_ceil(s);
    let (left, _) = same_padding(k, d);
    // per output position: the k source positions (0 where outside) and their weights
    let mut pos = Vec::with_capacity(m * k);
    let mut weight = Vec::with_capacity(m * k);
    for j in 0..m {
        let inside: Vec<Option<usize>> = (0..k).map(|i| (j * s + i * d).checked_sub(left).filter(|&p| p < len)).collect();
        let count = inside.iter().flatten().count().max(1) as f32;
        for p in inside {
            pos.push(p.unwrap_or(0));
            weight.push(if p.is_some() { 1.0 / count } else { 0.0 });
        }
    }
    let dev = x.device().clone();
    let idx: Vec<usize> = (0..b * C).flat_map(|_| pos.iter().copied()).collect();
    let idx = dev.tensor_from_vec(idx, (b, Const::<C>, m * k));
    let w = dev.tensor_from_vec(weight, (m, k)).broadcast_like::<_, Axes2<0, 1>>(&(b, Const::<C>, m, k));
    let g: Tensor<(usize, Const<C>, usize), f32, D, T> = x.gather(idx);
    (g.reshape_like(&(b, Const::<C>, m, k)) * w).sum::<(usize, Const<C>, usize), Axis<3>>()
}

impl<const C: usize, const P: usize, const EVERY: usize, L, K: StackPool, const DROP: u32> ConvStack<C, P, EVERY, L, K, DROP> {
    /// The stack with stride `St::S[n]` in layer n: `LI` positions in, `LO` out, checked at
    /// compile time. A stride-1 layer, its skip and its pooling are as in [`ConvStack::forward`].
    pub fn forward_strided<const LI: usize, const LO: usize, St: Strides, D: DrgDevice + TensorFromVec<usize>, T: Tape<f32, D>>(
        &mut self,
        x: Seq<C, LI, D, T>,
        dilations: &[usize],
        ctx: &mut Ctx,
    ) -> Seq<C, LO, D, T>
    where
        L: StackLayers<C, D>,
    {
        const { assert!(LO == strided_out_len(LI, L::KERNELS, St::S, P, EVERY), "strided conv stack output length does not fit") };
        assert_eq!(dilations.len(), L::KERNELS.len(), "one dilation per layer");
        let b = x.shape().0;
        let x: SeqDyn<C, D, T> = x.reshape_like(&(b, Const::<C>, LI));
        // r: the skip source (the previous conv's output); h: the running activation.
        let mut r = x.with_empty_tape();
        let mut h = x;
        let mut pooled_before = false;
        for (i, &dilation) in dilations.iter().enumerate() {
            let len = h.shape().2;
            let s = St::S[i];
            let z = self.layers.layer(i, h, ctx);
            let z = if s > 1 { subsample(z, s) } else { z };
            ctx.record(&format!("conv{i}"), &z);
            // the previous layer's pooling window, then this layer's mean window
            let source = if pooled_before { K::residual(r, P) } else { r };
            let skip = if z.shape().2 != len { strided_mean_window(source, L::KERNELS[i], dilation, s) } else { source };
            r = z.with_empty_tape();
            h = D::add(z, skip);
            if DROP > 0 {
                h = dropout(h, DROP as f32 / 1000.0, ctx);
            }
            pooled_before = P > 0 && (i + 1) % EVERY == 0;
            if pooled_before {
                h = K::pool(h, P);
            }
        }
        h.reshape_like(&(b, Const::<C>, Const::<LO>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_padding_follow_the_reference() {
        // currlen = floor((L + left + right − d(k−1) − 1)/s + 1) = ⌈L/s⌉
        assert_eq!(strided_out_len(100, &[5, 5, 5], &[1, 2, 2], 0, 1), 25);
        assert_eq!(strided_out_len(101, &[5, 5], &[2, 3], 0, 1), 17);
        // a pooling of 3 after every layer pools the strided length: 101 → 51 → 17 → 6 → 2
        assert_eq!(strided_out_len(101, &[5, 5], &[2, 3], 3, 1), 2);
        assert_eq!(same_padding(5, 1), (2, 2));
        assert_eq!(same_padding(4, 1), (1, 2));
        assert_eq!(same_padding(3, 2), (2, 2));
    }

    #[test]
    fn subsample_and_mean_window_by_hand() {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec((0..7).map(|v| v as f32).collect(), (1, Const::<1>, 7));
        assert_eq!(subsample(x.clone(), 3).as_vec(), [0.0, 3.0, 6.0]);
        // k = 3, d = 1, s = 2: padding 1 each side; windows [-1,0,1], [1,2,3], [3,4,5], [5,6,7]
        assert_eq!(strided_mean_window(x, 3, 1, 2).as_vec(), [0.5, 2.0, 4.0, 5.5]);
    }
}
