//! Poolings after the stem with a step, `maxpool(p, step = s)`, `meanpool(p, step = s)` and
//! `wpool(p, step = s)` (the reference's `pooling_steps`). No reference fixture has them, so
//! they are compared with an f64 loop written here from the reference's code (`cnn.__init__` in
//! `drg_tools/cnn_model.py`, `pooling_layer` and `Padded_AvgPool1d` in `drg_tools/modules.py` at
//! `79b2f07`):
//! * the padding is `int(np.ceil((p − L % s)/2)) * int(L % s > 0)` on both sides;
//! * max and mean pooling are `nn.MaxPool1d(p, stride = s, padding = q)` and
//!   `nn.AvgPool1d(p, stride = s, padding = q, count_include_pad = False)`: window w covers the
//!   positions w·s − q .. w·s − q + p − 1, max (pads are −∞) or mean over the real positions;
//! * the weighted pool `Padded_AvgPool1d(p, stride = s, padding = q, weighted = True)` pads q
//!   copies of the tensor's minimum when q > 0 (`F.pad(x, (q, q), value = float(x.min()))`),
//!   then `SoftmaxNorm` and the sum over windows of p one after the other, the incomplete tail
//!   cropped: its stride is not used.
//!
//! Every stage of three declared models (conv, act, pool, flattened, output) against that loop,
//! the pooling layers' gradients against central finite differences of it, and the op at more
//! geometries (overlapping windows, gaps, a weighted pool whose padding is negative).

mod ops_support;

use std::collections::BTreeMap;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::import::export_state_dict;
use drg_core::layers::pooling::{MaxPoolSteps, MeanPoolSteps, WeightedPoolSteps};
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use drg_core::ops::pool::PoolKind;
use ops_support::{assert_close, dot, finite_diff, randn, to_f64};

drg_model! {
    /// 50 positions, max pooling 4 with step 3: q = ⌈(4 − 50 mod 3)/2⌉ = 1, 17 windows.
    pub struct MaxSteps {
        input seq: onehot(4, 50);
        trunk seq: conv(3, 3) >> gelu >> maxpool(4, step = 3) >> flatten;
        output out[2] = head(seq);
        loss mse;
    }

    /// 51 positions, mean pooling 5 with step 2 (overlapping windows): q = ⌈(5 − 1)/2⌉ = 2,
    /// 26 windows; an even stem kernel (padding 1 left, 2 right).
    pub struct MeanSteps {
        input seq: onehot(4, 51);
        trunk seq: conv(3, 4) >> gelu >> meanpool(5, step = 2) >> flatten;
        output out[2] = head(seq);
        loss mse;
    }

    /// 17 positions, weighted pooling 4 with step 5: q = ⌈(4 − 2)/2⌉ = 1, 19 padded positions,
    /// 4 windows of 4 (the step sets only the padding).
    pub struct WeightedSteps {
        input seq: onehot(4, 17);
        trunk seq: conv(3, 3) >> gelu >> wpool(4, step = 5) >> flatten;
        output out[2] = head(seq);
        loss mse;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Weighted,
    Max,
    Mean,
}

/// The reference's padding of `pooling_layer(.., pooling_size = p, stride = s, padding = q)`
/// after the stem: `int(np.ceil((p − L % s)/2)) * int(L % s > 0)`.
fn ref_pad(l: usize, p: usize, s: usize) -> i64 {
    if l.is_multiple_of(s) {
        0
    } else {
        ((p as f64 - (l % s) as f64) / 2.0).ceil() as i64
    }
}

/// The reference's pooling of `rows` rows of `l` positions in f64; `min` is the weighted pool's
/// pad value (`float(x.min())`, a constant). Returns the output and its length.
fn ref_pool(kind: Kind, x: &[f64], rows: usize, l: usize, p: usize, s: usize, min: f64) -> (Vec<f64>, usize) {
    let q = ref_pad(l, p, s);
    let mut out = Vec::new();
    match kind {
        Kind::Max | Kind::Mean => {
            assert!(q >= 0, "PyTorch raises on a negative padding");
            let lo = (l as i64 + 2 * q - p as i64) / s as i64 + 1;
            for r in 0..rows {
                for w in 0..lo {
                    let real: Vec<f64> = (0..p as i64)
                        .map(|i| w * s as i64 - q + i)
                        .filter(|&pos| pos >= 0 && pos < l as i64)
                        .map(|pos| x[r * l + pos as usize])
                        .collect();
                    out.push(match kind {
                        Kind::Max => real.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                        _ => real.iter().sum::<f64>() / real.len() as f64,
                    });
                }
            }
            (out, lo as usize)
        }
        Kind::Weighted => {
            // `if self.padding > 0: gopad`, then windows of p, the tail cropped
            let q = q.max(0) as usize;
            let lo = (l + 2 * q) / p;
            for r in 0..rows {
                let padded: Vec<f64> = (0..l + 2 * q).map(|i| if i < q || i >= q + l { min } else { x[r * l + i - q] }).collect();
                for w in padded.chunks_exact(p) {
                    let m = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = w.iter().map(|v| (v - m).exp()).sum();
                    out.push(w.iter().map(|v| v * (v - m).exp() / z).sum());
                }
            }
            (out, lo)
        }
    }
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

type Params = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

/// The stem `Padded_Conv1d` (stride 1, padding left ⌊k/2⌋ − [k even], right ⌊k/2⌋, bias) on
/// `rows` samples of `ci` × `l`.
fn ref_conv(p: &Params, x: &[f64], rows: usize, l: usize) -> (Vec<f64>, usize) {
    let (shape, w) = &p["convolutions.conv1d.weight"];
    let (co, ci, k) = (shape[0], shape[1], shape[2]);
    let b = &p["convolutions.conv1d.bias"].1;
    let left = k / 2 - usize::from(k % 2 == 0);
    let mut y = vec![0.0; rows * co * l];
    for r in 0..rows {
        for o in 0..co {
            for j in 0..l {
                let mut acc = b[o];
                for c in 0..ci {
                    for i in 0..k {
                        if let Some(pos) = (j + i).checked_sub(left).filter(|&pos| pos < l) {
                            acc += w[(o * ci + c) * k + i] * x[(r * ci + c) * l + pos];
                        }
                    }
                }
                y[(r * co + o) * l + j] = acc;
            }
        }
    }
    (y, co)
}

/// Checks every recorded stage of model `M` (input `len` positions, stem pooled by `kind` with
/// window `p` and step `s` into `lo` positions) against the loop.
fn check_model<M: DrgModel<Cpu>>(kind: Kind, len: usize, p: usize, s: usize, lo: usize, seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let mut model = M::new(&dev, &[2]);
    let params: Params = export_state_dict(&model)
        .entries
        .iter()
        .map(|(k, e)| (k.clone(), (e.shape.clone(), e.values.iter().map(|&v| v as f64).collect())))
        .collect();
    let rows = 3;
    let xv = randn(rows * 4 * len, seed);
    let x: Tensor<(usize, usize, usize), f32, Cpu> = dev.tensor_from_vec(xv.clone(), (rows, 4, len));
    let mut ctx = Ctx::eval().with_probe();
    let out = model.forward(vec![x], &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let what = |stage: &str| format!("{kind:?} L={len} p={p} s={s}: {stage}");

    let (conv, c) = ref_conv(&params, &to_f64(&xv), rows, len);
    let (shape, got) = &stages["after_conv"];
    assert_eq!(shape, &[rows, c, len]);
    assert_close(&what("after_conv"), got, &conv, 1e-5);
    let act: Vec<f64> = conv.iter().map(|&v| gelu(v)).collect();
    let (_, got) = &stages["after_act"];
    assert_close(&what("after_act"), got, &act, 1e-5);
    // the pooling from the model's own `after_act` (the weighted pool's pad value is its minimum)
    let act_model = to_f64(got);
    let min = act_model.iter().cloned().fold(f64::INFINITY, f64::min);
    let (pooled, n) = ref_pool(kind, &act_model, rows * c, len, p, s, min);
    assert_eq!(n, lo, "{}: the reference's length", what("after_pool"));
    assert_eq!(n, len.div_ceil(s), "{}: the length the reference sizes the next layer for", what("after_pool"));
    let (shape, got) = &stages["after_pool"];
    assert_eq!(shape, &[rows, c, lo]);
    assert_close(&what("after_pool"), got, &pooled, 1e-5);
    let (shape, flat) = &stages["flattened"];
    assert_eq!(shape, &[rows, c * lo]);
    assert_close(&what("flattened (channel-major)"), flat, &pooled, 1e-5);
    // the linear head on the flattened features
    let (wshape, w) = &params["classifier.classifier.Linear.weight"];
    let b = &params["classifier.classifier.Linear.bias"].1;
    assert_eq!(wshape, &[2, c * lo]);
    let f = to_f64(flat);
    let head: Vec<f64> = (0..rows)
        .flat_map(|r| (0..2).map(|o| b[o] + (0..c * lo).map(|i| w[o * c * lo + i] * f[r * c * lo + i]).sum::<f64>()).collect::<Vec<_>>())
        .collect();
    assert_close(&what("output"), &out[0].as_vec(), &head, 1e-5);
}

#[test]
fn declared_max_pooling_with_steps_matches_the_loop() {
    check_model::<MaxStepsDefault>(Kind::Max, 50, 4, 3, 17, 41);
}

#[test]
fn declared_mean_pooling_with_steps_matches_the_loop() {
    check_model::<MeanStepsDefault>(Kind::Mean, 51, 5, 2, 26, 43);
}

#[test]
fn declared_weighted_pooling_with_steps_matches_the_loop() {
    check_model::<WeightedStepsDefault>(Kind::Weighted, 17, 4, 5, 4, 47);
}

/// Runs `layer` forward and backward with upstream `up`: (output, d Σ out·up / dx).
fn layer_run<const LI: usize, const LO: usize>(
    x: &[f32],
    up: &[f32],
    rows: usize,
    layer: impl Fn(
        Tensor<(usize, Const<2>, Const<LI>), f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Tensor<(usize, Const<2>, Const<LO>), f32, Cpu, OwnedTape<f32, Cpu>>,
) -> (Vec<f32>, Vec<f32>) {
    let dev = Cpu::default();
    let xt: Tensor<(usize, Const<2>, Const<LI>), f32, Cpu> = dev.tensor_from_vec(x.to_vec(), (rows, Const, Const));
    let y = layer(xt.leaky_trace());
    let values = y.as_vec();
    let upt = dev.tensor_from_vec(up.to_vec(), (rows, Const::<2>, Const::<LO>));
    let g = (y * upt).sum().backward();
    (values, g.get(&xt).as_vec())
}

/// The three layers of the declared models, values and input gradients against central finite
/// differences of the loop (the weighted pool's pad value held constant, as the reference's
/// `float(x.min())` is).
#[test]
fn pooling_steps_layers_match_finite_differences() {
    let rows = 2;
    macro_rules! check {
        ($kind:expr, $layer:expr, $li:literal, $lo:literal, $p:literal, $s:literal, $seed:literal) => {{
            let x = randn(rows * 2 * $li, $seed);
            let up = randn(rows * 2 * $lo, $seed + 1);
            let (y, gx) = layer_run::<$li, $lo>(&x, &up, rows, |x| $layer.forward(x));
            let x64 = to_f64(&x);
            let min = x64.iter().cloned().fold(f64::INFINITY, f64::min);
            let what = format!("{:?} L={} p={} s={}", $kind, $li, $p, $s);
            let (want, n) = ref_pool($kind, &x64, rows * 2, $li, $p, $s, min);
            assert_eq!(n, $lo, "{what}: length");
            assert_close(&format!("{what}: forward"), &y, &want, 1e-5);
            let fd = finite_diff(&x64, 1e-6, |x| dot(&ref_pool($kind, x, rows * 2, $li, $p, $s, min).0, &to_f64(&up)));
            assert_close(&format!("{what}: d/dx"), &gx, &fd, 1e-5);
        }};
    }
    check!(Kind::Max, MaxPoolSteps::<4, 3>, 50, 17, 4, 3, 61);
    check!(Kind::Mean, MeanPoolSteps::<5, 2>, 51, 26, 5, 2, 63);
    check!(Kind::Weighted, WeightedPoolSteps::<4, 5>, 17, 4, 4, 5, 65);
}

/// The op (`DrgDevice::pool_steps`) at more geometries than the models': overlapping windows
/// with and without padding, windows with gaps between them, a step that divides the length,
/// and weighted pools whose padding is negative (none) or half the window.
#[test]
fn pool_steps_op_matches_the_loop_at_every_geometry() {
    let dev = Cpu::default();
    let cases: &[(Kind, usize, usize, usize)] = &[
        (Kind::Max, 11, 4, 2),
        (Kind::Max, 12, 3, 4),
        (Kind::Mean, 11, 4, 2),
        (Kind::Mean, 13, 2, 3),
        (Kind::Mean, 9, 3, 3),
        (Kind::Weighted, 6, 6, 5),
        (Kind::Weighted, 9, 3, 4),
        (Kind::Weighted, 7, 4, 7),
        (Kind::Weighted, 6, 4, 7),
    ];
    for (i, &(kind, l, p, s)) in cases.iter().enumerate() {
        let (b, c) = (2, 3);
        let x = randn(b * c * l, 700 + i as u64);
        let x64 = to_f64(&x);
        let min = x64.iter().cloned().fold(f64::INFINITY, f64::min);
        let (want, lo) = ref_pool(kind, &x64, b * c, l, p, s, min);
        assert_eq!(drg_core::ops::pool::steps_len(kind == Kind::Weighted, l, p, s), Some(lo), "{kind:?} L={l} p={p} s={s}");
        let up = randn(b * c * lo, 800 + i as u64);
        let xt = dev.tensor_from_vec(x.clone(), (b, c, l));
        let op = match kind {
            Kind::Weighted => PoolKind::Weighted,
            Kind::Max => PoolKind::Max,
            Kind::Mean => PoolKind::Mean,
        };
        let y = Cpu::pool_steps(xt.leaky_trace(), op, (p, s), (b, c, lo));
        let what = format!("{kind:?} L={l} p={p} s={s}");
        assert_close(&format!("{what}: forward"), &y.as_vec(), &want, 1e-5);
        let g = (y * dev.tensor_from_vec(up.clone(), (b, c, lo))).sum().backward();
        let fd = finite_diff(&x64, 1e-6, |x| dot(&ref_pool(kind, x, b * c, l, p, s, min).0, &to_f64(&up)));
        assert_close(&format!("{what}: d/dx"), &g.get(&xt).as_vec(), &fd, 1e-5);
        // the device-generic op (the one CUDA runs) on the CPU gives the same
        let yc = drg_core::ops::composite::pool_steps(dev.tensor_from_vec(x.clone(), (b, c, l)), op, (p, s), (b, c, lo));
        assert_close(&format!("{what}: composite forward"), &yc.as_vec(), &want, 1e-5);
    }
}
