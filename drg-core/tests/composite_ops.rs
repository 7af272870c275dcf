//! The device-generic composites of `drg_core::ops::composite` against the host kernels of
//! `drg_core::ops` (on `Cpu`: forward, input gradient and every parameter gradient, random inputs
//! with stride, dilation and asymmetric padding, ties), against the reference fixtures
//! (`layers.npz`), and — with the `cuda` feature, on a GPU — the composites on `Cuda` against the
//! host kernels on `Cpu`. Tolerance: max|a − b| ≤ 1e-5·max|b| per tensor.

mod ops_support;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::composite;
use drg_core::ops::{BnMode, ConvGeom};
use drg_core::train::loss::LossKind;
use ops_support::*;

const TOL: f64 = 1e-5;

type Taped<D> = Tensor<(usize, usize, usize), f32, D, OwnedTape<f32, D>>;
type P3<D> = Tensor<(usize, usize, usize), f32, D>;
type P1<D> = Tensor<(usize,), f32, D>;

fn p3<D: Device<f32>>(dev: &D, v: &[f32], d: [usize; 3]) -> P3<D> {
    dev.tensor_from_vec(v.to_vec(), (d[0], d[1], d[2]))
}

fn p1<D: Device<f32>>(dev: &D, v: &[f32]) -> P1<D> {
    dev.tensor_from_vec(v.to_vec(), (v.len(),))
}

/// Runs `op` on a traced copy of x `[d]`, backpropagates Σ out ⊙ up (up: seeded random), and
/// returns [out, ∂/∂x, then whatever `read` takes from the gradients].
fn run<D: Device<f32>>(
    dev: &D,
    x: &[f32],
    d: [usize; 3],
    op: impl FnOnce(Taped<D>) -> Taped<D>,
    read: impl FnOnce(&Gradients<f32, D>) -> Vec<Vec<f32>>,
) -> Vec<Vec<f32>> {
    let x = p3(dev, x, d);
    let out = op(x.leaky_trace());
    let ov = out.as_vec();
    let up = dev.tensor_from_vec(randn(ov.len(), 4242), *out.shape());
    let grads = (out * up).sum::<Rank0, _>().backward();
    let mut all = vec![ov, grads.get(&x).as_vec()];
    all.extend(read(&grads));
    all
}

/// Compares every tensor of two runs (names in order: out, dx, then `params`).
fn compare(case: &str, params: &[&str], got: &[Vec<f32>], want: &[Vec<f32>]) {
    let names: Vec<&str> = ["output", "grad x"].iter().chain(params).copied().collect();
    assert_eq!(got.len(), names.len(), "{case}: number of tensors");
    assert_eq!(want.len(), names.len(), "{case}: number of tensors");
    for ((name, g), w) in names.iter().zip(got).zip(want) {
        assert_close(&format!("{case}: {name}"), g, &to_f64(w), TOL);
    }
}

// ---------------------------------------------------------------------------------------------
// convolutions

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    b: usize,
    ci: usize,
    l: usize,
    co: usize,
    geom: ConvGeom,
    bias: bool,
}

fn geom(kernel: usize, dilation: usize, stride: usize, pad_left: usize, pad_right: usize) -> ConvGeom {
    ConvGeom { kernel, dilation, stride, pad_left, pad_right }
}

fn conv_cases(ci: usize) -> Vec<ConvCase> {
    vec![
        ConvCase { b: 2, ci, l: 17, co: 4, geom: ConvGeom::same(5, 1), bias: true },
        ConvCase { b: 2, ci, l: 20, co: 5, geom: ConvGeom::same(8, 1), bias: false },
        ConvCase { b: 3, ci, l: 23, co: 3, geom: ConvGeom::same(4, 3), bias: true },
        ConvCase { b: 2, ci, l: 19, co: 4, geom: geom(3, 2, 3, 4, 1), bias: true },
        ConvCase { b: 1, ci, l: 11, co: 2, geom: geom(5, 1, 2, 0, 0), bias: true },
        ConvCase { b: 2, ci, l: 9, co: 3, geom: geom(2, 4, 1, 0, 6), bias: false },
    ]
}

/// Input of a conv case: random, with the last sample's tail zeroed (all-zero windows: exact
/// ties between the strands of the reverse-complement stem).
fn conv_input(c: &ConvCase, seed: u64) -> Vec<f32> {
    let mut x = randn(c.b * c.ci * c.l, seed);
    let tail = c.l / 3;
    for ch in 0..c.ci {
        let row = ((c.b - 1) * c.ci + ch) * c.l;
        x[row + c.l - tail..row + c.l].fill(0.0);
    }
    x
}

/// One conv case through `$f` (a path to conv1d or rc_conv1d) on `$dev`.
macro_rules! conv_run {
    ($dev:expr, $c:expr, $seed:expr, $f:path) => {{
        let (dev, c) = (&$dev, $c);
        let w = p3(dev, &randn(c.co * c.ci * c.geom.kernel, $seed + 1), [c.co, c.ci, c.geom.kernel]);
        let b = c.bias.then(|| p1(dev, &randn(c.co, $seed + 2)));
        let shape = (c.b, c.co, c.geom.out_len(c.l));
        run(
            dev,
            &conv_input(&c, $seed),
            [c.b, c.ci, c.l],
            |x| $f(x, &w, b.as_ref(), c.geom, shape),
            |g| {
                let mut v = vec![g.get(&w).as_vec()];
                v.extend(b.as_ref().map(|b| g.get(b).as_vec()));
                v
            },
        )
    }};
}

fn param_names(c: &ConvCase) -> &'static [&'static str] {
    if c.bias {
        &["grad weight", "grad bias"]
    } else {
        &["grad weight"]
    }
}

#[test]
fn conv1d_matches_the_host_op() {
    let dev = Cpu::default();
    for (i, c) in conv_cases(3).into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let want = conv_run!(dev, c, seed, DrgDevice::conv1d);
        let got = conv_run!(dev, c, seed, composite::conv1d);
        compare(&format!("conv1d {c:?}"), param_names(&c), &got, &want);
    }
}

#[test]
fn rc_conv1d_matches_the_host_op_including_ties() {
    let dev = Cpu::default();
    for (i, c) in conv_cases(4).into_iter().enumerate() {
        let seed = 200 + 10 * i as u64;
        let want = conv_run!(dev, c, seed, DrgDevice::rc_conv1d);
        let got = conv_run!(dev, c, seed, composite::rc_conv1d);
        compare(&format!("rc_conv1d {c:?}"), param_names(&c), &got, &want);
    }
}

/// A conv layer of `layers.npz` through the composites: output, grad_input, parameter grads.
fn conv_fixture(layer: &str, rc_stem: bool, geom: ConvGeom) {
    let npz = layers();
    let dev = Cpu::default();
    let (xd, xv) = fx(&npz, &format!("{layer}/input"));
    let (wd, wv) = fx(&npz, &format!("{layer}/param/conv1d.weight"));
    let bias = npz.f32(&format!("{layer}/param/conv1d.bias")).ok().map(|(_, b)| t1(&dev, b));
    let (od, ov) = fx(&npz, &format!("{layer}/output"));
    let (_, up) = fx(&npz, &format!("{layer}/upstream"));
    let x = t3(&dev, xv, &xd);
    let w = t3(&dev, wv, &wd);
    let out_shape = (od[0], od[1], od[2]);
    let (out, grads, gx) = run_with_upstream(&x, &up, |x| {
        if rc_stem {
            composite::rc_conv1d(x, &w, bias.as_ref(), geom, out_shape)
        } else {
            composite::conv1d(x, &w, bias.as_ref(), geom, out_shape)
        }
    });
    assert_close(&format!("{layer}: output"), &out, &to_f64(&ov), TOL);
    assert_close(&format!("{layer}: grad_input"), &gx, &to_f64(&fx(&npz, &format!("{layer}/grad_input")).1), TOL);
    let gw = fx(&npz, &format!("{layer}/grad/conv1d.weight")).1;
    assert_close(&format!("{layer}: grad weight"), &grads.get(&w).as_vec(), &to_f64(&gw), TOL);
    if let Some(b) = &bias {
        let gb = fx(&npz, &format!("{layer}/grad/conv1d.bias")).1;
        assert_close(&format!("{layer}: grad bias"), &grads.get(b).as_vec(), &to_f64(&gb), TOL);
    }
}

#[test]
fn conv_composites_match_the_fixtures() {
    conv_fixture("conv_k11_d4", false, ConvGeom::same(11, 4));
    conv_fixture("conv_k4_d3", false, ConvGeom::same(4, 3));
    conv_fixture("rcconv_k15", true, ConvGeom::same(15, 1));
    // the last output positions of the last sample are exact ties between the strands
    conv_fixture("rcconv_k8", true, ConvGeom::same(8, 1));
}

// ---------------------------------------------------------------------------------------------
// pooling

const POOL_CASES: [(usize, usize, usize, usize); 7] =
    [(2, 3, 37, 4), (2, 3, 28, 3), (2, 3, 40, 5), (2, 3, 47, 6), (2, 3, 6, 4), (1, 2, 9, 1), (3, 2, 3, 5)];

/// Pool input: random, or (with `ties`) rounded to multiples of 0.5 so that windows hold equal
/// maxima.
fn pool_input(n: usize, seed: u64, ties: bool) -> Vec<f32> {
    let x = randn(n, seed);
    if ties {
        x.iter().map(|v| (v * 2.0).round() / 2.0).collect()
    } else {
        x
    }
}

macro_rules! pool_run {
    ($dev:expr, ($b:expr, $c:expr, $l:expr, $p:expr), $x:expr, $f:path) => {{
        let (b, c, l, p) = ($b, $c, $l, $p);
        run(&$dev, $x, [b, c, l], |x| $f(x, p, (b, c, l.div_ceil(p))), |_| vec![])
    }};
}

#[test]
fn pools_match_the_host_ops() {
    let dev = Cpu::default();
    for (i, &(b, c, l, p)) in POOL_CASES.iter().enumerate() {
        for ties in [false, true] {
            let x = pool_input(b * c * l, 300 + i as u64, ties);
            let case = format!("(B, C, L, p) = {:?}, ties {ties}", (b, c, l, p));
            let want = pool_run!(dev, (b, c, l, p), &x, DrgDevice::weighted_pool);
            compare(&format!("weighted_pool {case}"), &[], &pool_run!(dev, (b, c, l, p), &x, composite::weighted_pool), &want);
            let want = pool_run!(dev, (b, c, l, p), &x, DrgDevice::max_pool);
            compare(&format!("max_pool {case}"), &[], &pool_run!(dev, (b, c, l, p), &x, composite::max_pool), &want);
            let want = pool_run!(dev, (b, c, l, p), &x, DrgDevice::mean_pool);
            compare(&format!("mean_pool {case}"), &[], &pool_run!(dev, (b, c, l, p), &x, composite::mean_pool), &want);
        }
    }
}

#[test]
fn weighted_pool_composite_matches_the_fixtures() {
    let npz = layers();
    let dev = Cpu::default();
    for (layer, p) in [("wpool_p4_L37", 4), ("wpool_p3_L28", 3), ("wpool_p5_L40", 5), ("wpool_p6_L47", 6), ("wpool_p4_L6", 4)] {
        let (xd, xv) = fx(&npz, &format!("{layer}/input"));
        let (od, ov) = fx(&npz, &format!("{layer}/output"));
        let (_, up) = fx(&npz, &format!("{layer}/upstream"));
        let x = t3(&dev, xv, &xd);
        let (out, _, gx) = run_with_upstream(&x, &up, |x| composite::weighted_pool(x, p, (od[0], od[1], od[2])));
        assert_close(&format!("{layer}: output"), &out, &to_f64(&ov), TOL);
        assert_close(&format!("{layer}: grad_input"), &gx, &to_f64(&fx(&npz, &format!("{layer}/grad_input")).1), TOL);
    }
}

// ---------------------------------------------------------------------------------------------
// BatchNorm + GELU, GELU, add

/// One BatchNorm case through `$f`: returns [out, dx, dγ, dβ, running mean, running var].
macro_rules! bn_run {
    ($dev:expr, [$b:expr, $c:expr, $l:expr], $mode:expr, $gelu:expr, $seed:expr, $f:path) => {{
        let (dev, (b, c, l)) = (&$dev, ($b, $c, $l));
        let gamma = p1(dev, &randn(c, $seed + 1));
        let beta = p1(dev, &randn(c, $seed + 2));
        let mut rm = p1(dev, &randn(c, $seed + 3));
        let rv_host: Vec<f32> = randn(c, $seed + 4).iter().map(|v| 0.4 + (v.abs() % 1.2)).collect();
        let mut rv = p1(dev, &rv_host);
        let mut all = run(
            dev,
            &randn(b * c * l, $seed),
            [b, c, l],
            |x| $f(x, &gamma, &beta, &mut rm, &mut rv, $mode, $gelu),
            |g| vec![g.get(&gamma).as_vec(), g.get(&beta).as_vec()],
        );
        all.push(rm.as_vec());
        all.push(rv.as_vec());
        all
    }};
}

const BN_PARAMS: [&str; 4] = ["grad gamma", "grad beta", "running_mean", "running_var"];

#[test]
fn batchnorm_gelu_matches_the_host_op() {
    let dev = Cpu::default();
    // (B·L = 2 would make every train-mode x-gradient zero up to rounding: not a useful case)
    for (i, dims) in [[3, 4, 7], [3, 5, 2], [4, 3, 16]].into_iter().enumerate() {
        for mode in [BnMode::Train { momentum: 0.1 }, BnMode::Eval] {
            for gelu in [true, false] {
                let seed = 400 + 10 * i as u64;
                let [b, c, l] = dims;
                let want = bn_run!(dev, [b, c, l], mode, gelu, seed, DrgDevice::batchnorm_gelu);
                let got = bn_run!(dev, [b, c, l], mode, gelu, seed, composite::batchnorm_gelu);
                compare(&format!("batchnorm_gelu {dims:?} {mode:?} gelu {gelu}"), &BN_PARAMS, &got, &want);
            }
        }
    }
}

#[test]
fn batchnorm_composite_accepts_rank_2_inputs() {
    // [B, C] is normalised per channel over B, as [B, C, 1]
    let dev = Cpu::default();
    let x = randn(6 * 4, 77);
    let gamma = p1(&dev, &randn(4, 78));
    let beta = p1(&dev, &randn(4, 79));
    let mode = BnMode::Train { momentum: 0.1 };
    let (mut rm, mut rv) = (p1(&dev, &[0.0; 4]), p1(&dev, &[1.0; 4]));
    let want = DrgDevice::batchnorm_gelu(dev.tensor_from_vec(x.clone(), (6, 4)), &gamma, &beta, &mut rm, &mut rv, mode, true).as_vec();
    let (mut rm, mut rv) = (p1(&dev, &[0.0; 4]), p1(&dev, &[1.0; 4]));
    let got = composite::batchnorm_gelu(dev.tensor_from_vec(x, (6, 4)), &gamma, &beta, &mut rm, &mut rv, mode, true).as_vec();
    assert_close("rank-2 batchnorm_gelu", &got, &to_f64(&want), TOL);
}

#[test]
fn gelu_and_add_match_the_host_ops() {
    let dev = Cpu::default();
    let d = [3, 4, 50];
    let x = randn(600, 500);
    let want = run(&dev, &x, d, DrgDevice::gelu, |_| vec![]);
    compare("gelu", &[], &run(&dev, &x, d, composite::gelu, |_| vec![]), &want);
    let other = p3(&dev, &randn(600, 501), d);
    let want = run(&dev, &x, d, |x| DrgDevice::add(x, other.leaky_trace()), |g| vec![g.get(&other).as_vec()]);
    let got = run(&dev, &x, d, |x| composite::add(x, other.leaky_trace()), |g| vec![g.get(&other).as_vec()]);
    compare("add", &["grad other"], &got, &want);
}

#[test]
#[should_panic(expected = "add: operands have different shapes")]
fn composite_add_rejects_different_shapes() {
    let dev = Cpu::default();
    let a = p3(&dev, &[0.0; 6], [1, 2, 3]);
    let b = p3(&dev, &[0.0; 6], [1, 3, 2]);
    let _ = composite::add(a, b);
}

// ---------------------------------------------------------------------------------------------
// loss

/// The summed loss through `$f` (loss_sum_grouped): [value, d/dpred].
macro_rules! loss_run {
    ($dev:expr, $kind:expr, $rows:expr, $widths:expr, $seed:expr, $f:path) => {{
        let (dev, widths): (_, &[usize]) = (&$dev, $widths);
        let cols: usize = widths.iter().sum();
        let pred = dev.tensor_from_vec(randn($rows * cols, $seed), ($rows, cols));
        let target = randn($rows * cols, $seed + 1);
        let l = $f($kind, pred.leaky_trace(), &target, widths).expect("shapes");
        let value = l.as_vec();
        let grads = l.backward();
        vec![value, grads.get(&pred).as_vec()]
    }};
}

#[test]
fn loss_matches_the_host_loss() {
    let dev = Cpu::default();
    for kind in LossKind::ALL {
        for (i, widths) in [&[7usize][..], &[3, 5, 2][..]].into_iter().enumerate() {
            let seed = 600 + 10 * i as u64;
            let want = loss_run!(dev, kind, 6, widths, seed, DrgDevice::loss_sum_grouped);
            let got = loss_run!(dev, kind, 6, widths, seed, composite::loss_sum_grouped);
            assert_close(&format!("{kind:?} {widths:?}: value"), &got[0], &to_f64(&want[0]), TOL);
            assert_close(&format!("{kind:?} {widths:?}: gradient"), &got[1], &to_f64(&want[1]), TOL);
        }
    }
}

/// The composite loss against the reference's `losses.npz`: summed value, finite gradients, and
/// the gradient of every row except the two eps-clamp rows (1 and 3, whose ~1e16 gradients the
/// fixtures README says not to compare), per row with max|a − b| ≤ 2e-5·max(max|b|, 1) (row 0's
/// exact gradient is 0: its f32 value is rounding noise).
#[test]
fn loss_composite_matches_the_losses_fixture() {
    let npz =
        drg_core::import::npz::read_npz(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/losses.npz")).expect("read losses.npz");
    let (shape, pred) = fx(&npz, "pred");
    let (_, target) = fx(&npz, "target");
    let (rows, cols) = (shape[0], shape[1]);
    let split = fx(&npz, "twohead/split").1[0] as usize;
    let dev = Cpu::default();
    let cases = [
        ("Correlationdata", LossKind::Correlationdata, vec![cols], "loss/Correlationdata/sum", "grad/Correlationdata"),
        ("Correlationmse", LossKind::Correlationmse, vec![cols], "loss/Correlationmse/sum", "grad/Correlationmse"),
        ("MSE", LossKind::Mse, vec![cols], "loss/MSE/sum", "grad/MSE"),
        ("two heads", LossKind::Correlationmse, vec![split, cols - split], "twohead/Correlationmse/sum", "twohead/grad"),
    ];
    for (name, kind, widths, sum_key, grad_key) in cases {
        let x = dev.tensor_from_vec(pred.clone(), (rows, cols));
        let l = composite::loss_sum_grouped(kind, x.leaky_trace(), &target, &widths).expect("shapes");
        assert_close(&format!("{name}: sum"), &l.as_vec(), &to_f64(&fx(&npz, sum_key).1), 1e-5);
        let grad = l.backward().get(&x).as_vec();
        assert!(grad.iter().all(|g| g.is_finite()), "{name}: non-finite gradient");
        let want = fx(&npz, grad_key).1;
        for row in (0..rows).filter(|&r| kind == LossKind::Mse || (r != 1 && r != 3)) {
            let s = row * cols..(row + 1) * cols;
            let (got, want) = (&grad[s.clone()], &want[s]);
            let allowed = 2e-5 * want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let worst = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst <= allowed, "{name}: gradient row {row}: max|a−b| = {worst:e} > {allowed:e} ({got:?} vs {want:?})");
        }
    }
}

#[test]
fn loss_composite_reports_bad_shapes_as_the_host_loss() {
    let dev = Cpu::default();
    let pred = || dev.tensor_from_vec(vec![0.0f32; 12], (3, 4));
    for (target, widths) in [(11, vec![4]), (12, vec![2, 0, 2]), (12, vec![2, 3])] {
        let t = vec![0.0f32; target];
        let want = DrgDevice::loss_sum_grouped(LossKind::Mse, pred(), &t, &widths).map(|_| ()).unwrap_err();
        let got = composite::loss_sum_grouped(LossKind::Mse, pred(), &t, &widths).map(|_| ()).unwrap_err();
        assert_eq!(got, want);
    }
}

// ---------------------------------------------------------------------------------------------
// the same composites on a GPU against the host kernels on the CPU

#[cfg(feature = "cuda")]
mod on_cuda {
    use super::*;

    fn gpu() -> Cuda {
        Cuda::try_build(0, 0).expect("a CUDA device (these tests need a GPU)")
    }

    #[test]
    fn cuda_convolutions_match_the_cpu_host_ops() {
        let (cpu, gpu) = (Cpu::default(), gpu());
        for (i, c) in conv_cases(4).into_iter().enumerate() {
            let seed = 700 + 10 * i as u64;
            let want = conv_run!(cpu, c, seed, DrgDevice::conv1d);
            let got = conv_run!(gpu, c, seed, composite::conv1d);
            compare(&format!("cuda conv1d {c:?}"), param_names(&c), &got, &want);
            let want = conv_run!(cpu, c, seed, DrgDevice::rc_conv1d);
            let got = conv_run!(gpu, c, seed, composite::rc_conv1d);
            compare(&format!("cuda rc_conv1d {c:?}"), param_names(&c), &got, &want);
        }
    }

    #[test]
    fn cuda_pools_match_the_cpu_host_ops() {
        let (cpu, gpu) = (Cpu::default(), gpu());
        for (i, &(b, c, l, p)) in POOL_CASES.iter().enumerate() {
            for ties in [false, true] {
                let x = pool_input(b * c * l, 800 + i as u64, ties);
                let case = format!("{:?} ties {ties}", (b, c, l, p));
                let want = pool_run!(cpu, (b, c, l, p), &x, DrgDevice::weighted_pool);
                compare(&format!("cuda weighted_pool {case}"), &[], &pool_run!(gpu, (b, c, l, p), &x, composite::weighted_pool), &want);
                let want = pool_run!(cpu, (b, c, l, p), &x, DrgDevice::max_pool);
                compare(&format!("cuda max_pool {case}"), &[], &pool_run!(gpu, (b, c, l, p), &x, composite::max_pool), &want);
                let want = pool_run!(cpu, (b, c, l, p), &x, DrgDevice::mean_pool);
                compare(&format!("cuda mean_pool {case}"), &[], &pool_run!(gpu, (b, c, l, p), &x, composite::mean_pool), &want);
            }
        }
    }

    #[test]
    fn cuda_batchnorm_gelu_add_and_loss_match_the_cpu_host_ops() {
        let (cpu, gpu) = (Cpu::default(), gpu());
        for mode in [BnMode::Train { momentum: 0.1 }, BnMode::Eval] {
            let want = bn_run!(cpu, [4, 3, 16], mode, true, 900, DrgDevice::batchnorm_gelu);
            let got = bn_run!(gpu, [4, 3, 16], mode, true, 900, composite::batchnorm_gelu);
            compare(&format!("cuda batchnorm_gelu {mode:?}"), &BN_PARAMS, &got, &want);
        }
        let (d, x) = ([3, 4, 50], randn(600, 910));
        let want = run(&cpu, &x, d, DrgDevice::gelu, |_| vec![]);
        compare("cuda gelu", &[], &run(&gpu, &x, d, composite::gelu, |_| vec![]), &want);
        let other = randn(600, 911);
        let (oc, og) = (p3(&cpu, &other, d), p3(&gpu, &other, d));
        let want = run(&cpu, &x, d, |x| DrgDevice::add(x, oc.leaky_trace()), |g| vec![g.get(&oc).as_vec()]);
        let got = run(&gpu, &x, d, |x| composite::add(x, og.leaky_trace()), |g| vec![g.get(&og).as_vec()]);
        compare("cuda add", &["grad other"], &got, &want);
        for kind in LossKind::ALL {
            let want = loss_run!(cpu, kind, 6, &[3, 5, 2], 920, DrgDevice::loss_sum_grouped);
            let got = loss_run!(gpu, kind, 6, &[3, 5, 2], 920, composite::loss_sum_grouped);
            assert_close(&format!("cuda {kind:?}: value"), &got[0], &to_f64(&want[0]), TOL);
            assert_close(&format!("cuda {kind:?}: gradient"), &got[1], &to_f64(&want[1]), TOL);
        }
    }

    #[test]
    fn cuda_dispatch_runs_the_composites() {
        // DrgKernels on Cuda = the composites: a conv through the dispatch equals the direct call
        let gpu = gpu();
        let c = conv_cases(4)[3];
        let via_dispatch = conv_run!(gpu, c, 990, Cuda::conv1d);
        let direct = conv_run!(gpu, c, 990, composite::conv1d);
        compare("cuda dispatch conv1d", param_names(&c), &via_dispatch, &direct);
    }
}

// ---------------------------------------------------------------------------------------------
// demo-model shapes: the host kernels switch to blocked SGEMM and parallel paths on large
// tensors, which the small cases above do not reach

#[test]
fn host_ops_match_the_composites_at_demo_model_shapes() {
    let dev = Cpu::default();
    let cases = [
        ConvCase { b: 8, ci: 4, l: 2000, co: 64, geom: ConvGeom::same(15, 1), bias: true },
        ConvCase { b: 8, ci: 64, l: 500, co: 64, geom: ConvGeom::same(11, 4), bias: false },
        ConvCase { b: 8, ci: 64, l: 166, co: 64, geom: ConvGeom::same(11, 1), bias: true },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let seed = 900 + 10 * i as u64;
        if i == 0 {
            let want = conv_run!(dev, c, seed, DrgDevice::rc_conv1d);
            let got = conv_run!(dev, c, seed, composite::rc_conv1d);
            compare(&format!("rc_conv1d {c:?}"), param_names(&c), &got, &want);
        }
        let want = conv_run!(dev, c, seed, DrgDevice::conv1d);
        let got = conv_run!(dev, c, seed, composite::conv1d);
        compare(&format!("conv1d {c:?}"), param_names(&c), &got, &want);
    }
    for (i, &(b, c, l, p)) in [(8, 64, 2000, 4), (8, 64, 500, 3), (8, 64, 166, 3)].iter().enumerate() {
        let x = pool_input(b * c * l, 950 + i as u64, false);
        let case = format!("(B, C, L, p) = {:?}", (b, c, l, p));
        let want = pool_run!(dev, (b, c, l, p), &x, DrgDevice::weighted_pool);
        compare(&format!("weighted_pool {case}"), &[], &pool_run!(dev, (b, c, l, p), &x, composite::weighted_pool), &want);
    }
    for mode in [BnMode::Train { momentum: 0.1 }, BnMode::Eval] {
        let want = bn_run!(dev, [8, 64, 500], mode, true, 970, DrgDevice::batchnorm_gelu);
        let got = bn_run!(dev, [8, 64, 500], mode, true, 970, composite::batchnorm_gelu);
        compare(&format!("batchnorm_gelu [8, 64, 500] {mode:?}"), &BN_PARAMS, &got, &want);
    }
    let d = [8, 64, 2000];
    let x = randn(8 * 64 * 2000, 980);
    let want = run(&dev, &x, d, DrgDevice::gelu, |_| vec![]);
    compare("gelu [8, 64, 2000]", &[], &run(&dev, &x, d, composite::gelu, |_| vec![]), &want);
}
