//! Strided conv stacks, `dilated(.., strides = [..])` and `convblocks(.., stride = s)` (the
//! reference's `strides` / `trstrides`, `Res_Conv1d` in `drg_tools/modules.py`). No reference
//! fixture has them, so the stacks are compared with an f64 loop written here from the
//! reference's code: layer n is `Padded_Conv1d` with the stride-1 "same" padding and stride s
//! (window j starts at j·s of the padded input; ⌈L/s⌉ outputs), and where the length changes
//! the skip is `Padded_AvgPool1d(k, stride = s, padding, dilation = d, count_include_pad = False)`
//! of the skip source (the previous conv's output, at first the stack's input). With a pooling
//! in the stack (`pooling_layer` after the layer's skip-add, on the strided length), the next
//! layer's skip goes through the windows the reference collects for it, in order
//! (`Residual_convolution`): the pooling's residual window (weighted: the same pool; max:
//! zero-padded; mean: over the real positions), then the mean window where the stride changes
//! the length.

mod ops_support;

use std::collections::BTreeMap;

use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::import::{export_gradients, export_state_dict, StateDict};
use drg_core::layers::conv_stack::{ConvStack, StackLayer};
use drg_core::layers::conv_stack_strided::Stride;
use drg_core::layers::stack_pooling::{MaxStackPool, WeightedStackPool};
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use ops_support::finite_diff;

drg_model! {
    /// 50 → 25 → 25 → 9 in the dilated stack (strides 2, 1, 3), 9 → 5 → 3 in the transformer
    /// stack (stride 2, an even kernel: padding 1 left, 2 right).
    pub struct Strided {
        input seq: onehot(4, 50);
        trunk seq: conv(4, 3) >> gelu
                 >> dilated(k = 3, dilations = [1, 2, 1], strides = [2, 1, 3], batchnorm = false)
                 >> convblocks(2, k = 4, stride = 2, batchnorm = false)
                 >> flatten;
        output out[2] = head(seq);
        loss mse;
    }

    /// Strides with a weighted pooling in the dilated stack: 120 → 60 → pool 3 → 20 → 10 →
    /// pool 3 (q = 1) → 4; layer 1's skip is the weighted pool of z0, then its mean window.
    pub struct StridedWeighted {
        input seq: onehot(4, 120);
        trunk seq: conv(4, 3) >> gelu
                 >> dilated(k = 3, dilations = [1, 2], strides = [2, 2], wpool = 3)
                 >> flatten;
        output out[2] = head(seq);
        loss mse;
    }

    /// Max pooling (the skip's pooling zero-padded): 200 → 100 → pool 3 (q = 1) → 34 → 17 →
    /// pool 3 (q = 1) → 6.
    pub struct StridedMax {
        input seq: onehot(4, 200);
        trunk seq: conv(4, 3) >> gelu >> convblocks(2, k = 3, stride = 2, maxpool = 3) >> flatten;
        output out[2] = head(seq);
        loss mse;
    }

    /// Mean pooling and an even kernel: 200 → 67 → pool 2 (q = 1) → 34 → 12 → pool 2 → 6.
    pub struct StridedMean {
        input seq: onehot(4, 200);
        trunk seq: conv(4, 3) >> gelu >> convblocks(2, k = 4, stride = 3, meanpool = 2) >> flatten;
        output out[2] = head(seq);
        loss mse;
    }
}

/// The pooling inside a stack.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Weighted,
    Max,
    Mean,
}

/// `pooling_layer(.., pooling_size = p, stride = p, padding = q)` of `Res_Conv1d` (`residual`:
/// false) and its residual window in `Residual_convolution` (true), on `rows` rows of `len`:
/// q = ⌈(p − len mod p)/2⌉ (0 when p divides len), windows at w·p − q, ⌈len/p⌉ of them.
/// Weighted: pads with the minimum of the whole tensor, softmax-weighted sums; max: the
/// main path's pads are −∞, the residual's zeros (`ZeroPad2d`); mean: over the real positions.
fn pool(kind: Kind, residual: bool, x: &[f64], rows: usize, len: usize, p: usize) -> Vec<f64> {
    let q = if len.is_multiple_of(p) { 0 } else { (p - len % p).div_ceil(2) } as i64;
    let lo = len.div_ceil(p);
    let min = x.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut out = Vec::with_capacity(rows * lo);
    for r in 0..rows {
        for w in 0..lo {
            let slots: Vec<Option<f64>> = (0..p as i64)
                .map(|i| w as i64 * p as i64 - q + i)
                .map(|pos| (pos >= 0 && pos < len as i64).then(|| x[r * len + pos as usize]))
                .collect();
            let real: Vec<f64> = slots.iter().flatten().copied().collect();
            out.push(match kind {
                Kind::Weighted => {
                    let v: Vec<f64> = slots.iter().map(|s| s.unwrap_or(min)).collect();
                    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = v.iter().map(|a| (a - m).exp()).sum();
                    v.iter().map(|a| a * (a - m).exp() / z).sum()
                }
                Kind::Max => {
                    let m = real.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    if residual && real.len() < p {
                        m.max(0.0)
                    } else {
                        m
                    }
                }
                Kind::Mean => real.iter().sum::<f64>() / real.len() as f64,
            });
        }
    }
    out
}

type Params = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// One stack on `x` (rows × C × `len`) in f64: GELU → strided conv (`{prefix}Conv{n}.conv1d`),
/// skip add; `layers` holds every layer's (kernel, dilation, stride). Returns the output and its
/// length.
/// `pooling`: the stack's pooling (kind, window) after every layer.
fn stack(
    p: &Params,
    prefix: &str,
    x: &[f64],
    rows: usize,
    len: usize,
    layers: &[(usize, usize, usize)],
    pooling: Option<(Kind, usize)>,
) -> (Vec<f64>, usize) {
    let (mut h, mut r, mut len) = (x.to_vec(), x.to_vec(), len);
    // the length of `r` (the previous conv's output; the input at first)
    let mut r_len = len;
    for (n, &(k, d, s)) in layers.iter().enumerate() {
        if let (Some((kind, psize)), true) = (pooling, n > 0) {
            // the previous layer's pooling window on the skip source, first
            r = pool(kind, true, &r, rows * shape_c(p, prefix), r_len, psize);
        }
        let (shape, w) = &p[&format!("{prefix}Conv{n}.conv1d.weight")];
        let c = shape[0];
        assert_eq!(shape, &[c, c, k]);
        let bias = p.get(&format!("{prefix}Conv{n}.conv1d.bias")).map(|(_, b)| b.clone());
        let e = d * (k - 1) + 1;
        let left = e / 2 - usize::from(e % 2 == 0);
        let m = len.div_ceil(s);
        let at = |v: &[f64], row: usize, ch: usize, pos: usize| -> Option<f64> {
            pos.checked_sub(left).filter(|&q| q < len).map(|q| v[(row * c + ch) * len + q])
        };
        let a: Vec<f64> = h.iter().map(|&v| gelu(v)).collect();
        let mut z = vec![0.0; rows * c * m];
        let mut skip = vec![0.0; rows * c * m];
        for row in 0..rows {
            for o in 0..c {
                for j in 0..m {
                    let mut acc = bias.as_ref().map_or(0.0, |b| b[o]);
                    for ci in 0..c {
                        for i in 0..k {
                            acc += w[(o * c + ci) * k + i] * at(&a, row, ci, j * s + i * d).unwrap_or(0.0);
                        }
                    }
                    z[(row * c + o) * m + j] = acc;
                    skip[(row * c + o) * m + j] = if m != len {
                        let inside: Vec<f64> = (0..k).filter_map(|i| at(&r, row, o, j * s + i * d)).collect();
                        inside.iter().sum::<f64>() / inside.len() as f64
                    } else {
                        r[(row * c + o) * len + j]
                    };
                }
            }
        }
        h = z.iter().zip(&skip).map(|(a, b)| a + b).collect();
        r = z;
        (len, r_len) = (m, m);
        if let Some((kind, psize)) = pooling {
            h = pool(kind, false, &h, rows * c, len, psize);
            len = len.div_ceil(psize);
        }
    }
    (h, len)
}

/// The stack's channel count (its first conv's output channels).
fn shape_c(p: &Params, prefix: &str) -> usize {
    p[&format!("{prefix}Conv0.conv1d.weight")].0[0]
}

fn as_f64(sd: &StateDict) -> Params {
    sd.entries.iter().map(|(k, e)| (k.clone(), (e.shape.clone(), e.values.iter().map(|&v| v as f64).collect()))).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

#[test]
fn declared_strided_stacks_match_the_loop() {
    let dev = Cpu::seed_from_u64(23);
    let mut model = StridedDefault::new(&dev, &[2]);
    let p = as_f64(&export_state_dict(&model));
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(3, 4, 50));
    let mut ctx = Ctx::eval().with_probe();
    let _ = model.forward(vec![x], &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let (shape, stem) = &stages["after_act"];
    assert_eq!(shape, &[3, 4, 50]);
    let (dil, len) = stack(&p, "convolution_layers.convlayers.", &f64s(stem), 3, 50, &[(3, 1, 2), (3, 2, 1), (3, 1, 3)], None);
    assert_eq!(len, 9);
    let (shape, got) = &stages["after_dilated"];
    assert_eq!(shape, &[3, 4, 9]);
    assert_close("after_dilated", &f64s(got), &dil, 1e-5, 0.0);
    let (tr, len) = stack(&p, "trconvolution_layers.convlayers.", &f64s(got), 3, 9, &[(4, 1, 2), (4, 1, 2)], None);
    assert_eq!(len, 3);
    let (shape, got) = &stages["after_trconv"];
    assert_eq!(shape, &[3, 4, 3]);
    assert_close("after_trconv", &f64s(got), &tr, 1e-5, 0.0);
}

const C: usize = 3;
type Layers = (StackLayer<0, C, 3, 1, true, false, f32, Cpu>, StackLayer<1, C, 2, 2, true, false, f32, Cpu>);
type Stack = ConvStack<C, 0, 1, Layers, WeightedStackPool, 0>;

/// The layer's gradients (input and every weight, of Σ out·c) against central finite
/// differences of the loop: strides 2 then 3 on 11 positions (11 → 6 → 2).
#[test]
fn strided_stack_gradients_match_finite_differences() {
    let dev = Cpu::seed_from_u64(29);
    let mut s = Stack::build(&dev);
    let x: Tensor<(usize, Const<C>, Const<11>), f32, Cpu> = dev.sample_normal_like(&(2, Const::<C>, Const::<11>));
    let c: Vec<f32> = dev.sample_normal_like(&(2, Const::<C>, Const::<2>)).as_vec();
    let p = as_f64(&export_state_dict(&s));
    let x64 = f64s(&x.as_vec());
    let c64 = f64s(&c);
    let y: Tensor<(usize, Const<C>, Const<2>), f32, Cpu, _> =
        s.forward_strided::<11, 2, (Stride<2>, Stride<3>), Cpu, _>(x.clone().leaky_traced(), &[1, 2], &mut Ctx::eval());
    let y_values = f64s(&y.as_vec());
    let loss = (y * dev.tensor_from_vec(c, (2, Const::<C>, Const::<2>))).sum();
    let mut g = loss.backward();
    let dx = f64s(&g.get(&x).as_vec());
    let dp = export_gradients(&s, &mut g);
    let run = |p: &Params, x: &[f64]| -> Vec<f64> {
        // layer 0: k = 3, d = 1, s = 2; layer 1: k = 2, d = 2, s = 3
        let (h, len) = stack(p, "convlayers.", x, 2, 11, &[(3, 1, 2), (2, 2, 3)], None);
        assert_eq!(len, 2);
        h
    };
    assert_close("forward", &y_values, &run(&p, &x64), 1e-5, 0.0);
    let loss_of = |p: &Params, x: &[f64]| run(p, x).iter().zip(&c64).map(|(a, b)| a * b).sum::<f64>();
    let h = 1e-6;
    let fd_x = finite_diff(&x64, h, |x| loss_of(&p, x));
    assert_close("d/dx", &dx, &fd_x, 1e-4, 1e-6);
    assert_eq!(dp.len(), p.len());
    for (key, (_, values)) in &p {
        let fd = finite_diff(values, h, |v| {
            let mut moved = p.clone();
            moved.get_mut(key).unwrap().1 = v.to_vec();
            loss_of(&moved, &x64)
        });
        let got = f64s(&dp.get(key).unwrap_or_else(|| panic!("no gradient for {key}")).values);
        assert_close(&format!("d/d{key}"), &got, &fd, 1e-4, 1e-6);
    }
}

/// Checks the stack stage `stage` of model `M` (prefix `prefix`, input `len` positions) against
/// the loop from the model's own `after_act`.
fn check_pooled<M: DrgModel<Cpu>>(
    stage: &str,
    prefix: &str,
    len: usize,
    layers: &[(usize, usize, usize)],
    pooling: (Kind, usize),
    lo: usize,
) {
    let dev = Cpu::seed_from_u64(31);
    let mut model = M::new(&dev, &[2]);
    let p = as_f64(&export_state_dict(&model));
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(3, 4, len));
    let mut ctx = Ctx::eval().with_probe();
    let _ = model.forward(vec![x], &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let (_, act) = &stages["after_act"];
    let (want, n) = stack(&p, prefix, &f64s(act), 3, len, layers, Some(pooling));
    assert_eq!(n, lo, "{stage}: length");
    let (shape, got) = &stages[stage];
    assert_eq!(shape, &[3, 4, lo], "{stage}");
    assert_close(&format!("{pooling:?} {stage}"), &f64s(got), &want, 1e-5, 0.0);
}

#[test]
fn declared_strided_stacks_with_pooling_match_the_loop() {
    check_pooled::<StridedWeightedDefault>(
        "after_dilated",
        "convolution_layers.convlayers.",
        120,
        &[(3, 1, 2), (3, 2, 2)],
        (Kind::Weighted, 3),
        4,
    );
    check_pooled::<StridedMaxDefault>("after_trconv", "trconvolution_layers.convlayers.", 200, &[(3, 1, 2), (3, 1, 2)], (Kind::Max, 3), 6);
    check_pooled::<StridedMeanDefault>(
        "after_trconv",
        "trconvolution_layers.convlayers.",
        200,
        &[(4, 1, 3), (4, 1, 3)],
        (Kind::Mean, 2),
        6,
    );
}

type PooledStack = ConvStack<C, 2, 1, Layers, MaxStackPool, 0>;

/// The strided stack with a max pooling (zero-padded in the skip): gradients of Σ out·c (input
/// and every weight) against central finite differences of the loop; 23 → 12 → pool 2 → 6 →
/// 3 → pool 2 (q = 1) → 2, layer 1's skip the zero-padded max pool of z0, then its mean window.
#[test]
fn strided_stack_with_pooling_gradients_match_finite_differences() {
    let dev = Cpu::seed_from_u64(37);
    let mut s = PooledStack::build(&dev);
    let x: Tensor<(usize, Const<C>, Const<23>), f32, Cpu> = dev.sample_normal_like(&(2, Const::<C>, Const::<23>));
    let c: Vec<f32> = dev.sample_normal_like(&(2, Const::<C>, Const::<2>)).as_vec();
    let p = as_f64(&export_state_dict(&s));
    let x64 = f64s(&x.as_vec());
    let c64 = f64s(&c);
    let y: Tensor<(usize, Const<C>, Const<2>), f32, Cpu, _> =
        s.forward_strided::<23, 2, (Stride<2>, Stride<2>), Cpu, _>(x.clone().leaky_traced(), &[1, 2], &mut Ctx::eval());
    let y_values = f64s(&y.as_vec());
    let loss = (y * dev.tensor_from_vec(c, (2, Const::<C>, Const::<2>))).sum();
    let mut g = loss.backward();
    let dx = f64s(&g.get(&x).as_vec());
    let dp = export_gradients(&s, &mut g);
    let run = |p: &Params, x: &[f64]| -> Vec<f64> {
        let (h, len) = stack(p, "convlayers.", x, 2, 23, &[(3, 1, 2), (2, 2, 2)], Some((Kind::Max, 2)));
        assert_eq!(len, 2);
        h
    };
    assert_close("forward", &y_values, &run(&p, &x64), 1e-5, 0.0);
    let loss_of = |p: &Params, x: &[f64]| run(p, x).iter().zip(&c64).map(|(a, b)| a * b).sum::<f64>();
    let h = 1e-6;
    let fd_x = finite_diff(&x64, h, |x| loss_of(&p, x));
    assert_close("d/dx", &dx, &fd_x, 1e-4, 1e-6);
    for (key, (_, values)) in &p {
        let fd = finite_diff(values, h, |v| {
            let mut moved = p.clone();
            moved.get_mut(key).unwrap().1 = v.to_vec();
            loss_of(&moved, &x64)
        });
        let got = f64s(&dp.get(key).unwrap_or_else(|| panic!("no gradient for {key}")).values);
        assert_close(&format!("d/d{key}"), &got, &fd, 1e-4, 1e-6);
    }
}
