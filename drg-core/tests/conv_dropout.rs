//! The conv stacks' dropout (the reference's `conv_dropout`, `Dropout_Convs{n}` of its
//! `Res_Conv1d`): after a layer's skip-add, before that layer's pooling, in train mode only, as
//! `torch.nn.Dropout` (each value zeroed with probability p, the rest scaled by 1/(1 − p)).
//!
//! Each stack with dropout is compared with the same stack (same seed, so the same weights)
//! without it.

use dfdx::prelude::*;
use drg_core::layers::conv_stack::{ConvStack, StackLayer};
use drg_core::layers::stack_pooling::MeanStackPool;
use drg_core::layers::Ctx;

const C: usize = 16;
const L: usize = 1000;
const B: usize = 8;
/// The dropout probability, in thousandths as the layer takes it.
const P: u32 = 250;

type Layer = (StackLayer<0, C, 5, 1, false, true, f32, Cpu>,);
type Dropped = ConvStack<C, 0, 1, Layer, MeanStackPool, P>;
type Plain = ConvStack<C, 0, 1, Layer, MeanStackPool, 0>;
type DroppedPooled = ConvStack<C, 2, 1, Layer, MeanStackPool, P>;

fn build<M: BuildModule<Cpu, f32>>() -> M {
    M::build(&Cpu::seed_from_u64(7))
}

fn input() -> Tensor<(usize, Const<C>, Const<L>), f32, Cpu> {
    Cpu::seed_from_u64(3).sample_normal_like(&(B, Const::<C>, Const::<L>))
}

/// The number of values the test draws masks for, and the bound on the observed rate: the
/// number of zeroed values is Binomial(n, p), whose standard deviation as a rate is
/// √(p(1 − p)/n) ≈ 0.0012 for n = 128,000 and p = 0.25; 0.01 is over 8 standard deviations, so
/// a correct mask fails with probability below 1e-15, while a rate off by 0.01 fails.
const RATE_BOUND: f64 = 0.01;

#[test]
fn eval_mode_and_train_without_dropout_are_unchanged() {
    let (mut dropped, mut plain) = (build::<Dropped>(), build::<Plain>());
    let a: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = dropped.forward(input(), &mut Ctx::eval());
    let b: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = plain.forward(input(), &mut Ctx::eval());
    assert_eq!(a.as_vec(), b.as_vec());
    let a: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = dropped.forward(input(), &mut Ctx::train(1).without_dropout());
    let b: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = plain.forward(input(), &mut Ctx::train(1).without_dropout());
    assert_eq!(a.as_vec(), b.as_vec());
}

#[test]
fn train_mode_zeroes_at_rate_p_and_scales_the_rest() {
    let p = P as f64 / 1000.0;
    let (mut dropped, mut plain) = (build::<Dropped>(), build::<Plain>());
    let got: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = dropped.forward(input(), &mut Ctx::train(11));
    let want: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = plain.forward(input(), &mut Ctx::train(11));
    let scale = (1.0 / (1.0 - p)) as f32;
    let (mut zeroed, mut n) = (0usize, 0usize);
    for (g, w) in got.as_vec().into_iter().zip(want.as_vec()) {
        assert!(w != 0.0, "the undropped output has an exact zero");
        n += 1;
        if g == 0.0 {
            zeroed += 1;
        } else {
            assert!((g - w * scale).abs() <= 1e-6 * w.abs().max(1.0), "kept value {g} is not {w}·{scale}");
        }
    }
    let rate = zeroed as f64 / n as f64;
    assert!((rate - p).abs() < RATE_BOUND, "zeroed {zeroed} of {n}: rate {rate}, expected {p} ± {RATE_BOUND}");
    // Another seed draws another mask.
    let again: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = dropped.forward(input(), &mut Ctx::train(12));
    assert_ne!(again.as_vec(), got.as_vec());
}

/// With mean pooling of 2 after the layer, every pooled value is the mean of two independently
/// dropped values: 0, one of them scaled, or both scaled. Dropout after the pooling would give
/// only 0 or the scaled mean.
#[test]
fn dropout_comes_before_the_stack_pooling() {
    let p = P as f64 / 1000.0;
    let (mut pooled, mut plain) = (build::<DroppedPooled>(), build::<Plain>());
    let got: Tensor<(usize, Const<C>, Const<{ L / 2 }>), f32, Cpu> = pooled.forward(input(), &mut Ctx::train(5));
    let h: Tensor<(usize, Const<C>, Const<L>), f32, Cpu> = plain.forward(input(), &mut Ctx::train(5));
    let (got, h) = (got.as_vec(), h.as_vec());
    let s = (1.0 / (1.0 - p)) as f32;
    let mut one_dropped = 0usize;
    for (j, g) in got.iter().enumerate() {
        let (a, b) = (h[2 * j], h[2 * j + 1]);
        let cases = [0.0, s * a / 2.0, s * b / 2.0, s * (a + b) / 2.0];
        let which = cases.iter().position(|c| (g - c).abs() <= 1e-5 * (a.abs() + b.abs()).max(1.0));
        match which {
            Some(1) | Some(2) => one_dropped += 1,
            Some(_) => {}
            None => panic!("pooled value {g} is none of {cases:?}"),
        }
    }
    // One of two values dropped: probability 2p(1 − p) = 0.375, over 64,000 windows
    // (standard deviation 0.0019; the bound is over 5 of them).
    let rate = one_dropped as f64 / got.len() as f64;
    assert!((rate - 2.0 * p * (1.0 - p)).abs() < RATE_BOUND, "one of two dropped in {rate} of the windows");
}
