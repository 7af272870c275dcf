//! Fused BatchNorm(+GELU), GELU and add: forward against naive f64 references, gradients against
//! central finite differences, and the running-statistics update formula (momentum, unbiased
//! variance). Tolerance: max|a−b| ≤ 1e-5·max|b|.

mod ops_support;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::BnMode;
use ops_support::*;

const TOL: f64 = 1e-5;
const EPS: f64 = 1e-5;

fn gelu64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// Per-channel mean and biased variance over (B, L).
fn stats(x: &[f64], b: usize, c: usize, l: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (b * l) as f64;
    let vals = |ch: usize| (0..b).flat_map(move |bi| (0..l).map(move |t| (bi * c + ch) * l + t));
    let mean: Vec<f64> = (0..c).map(|ch| vals(ch).map(|i| x[i]).sum::<f64>() / n).collect();
    let var = (0..c).map(|ch| vals(ch).map(|i| (x[i] - mean[ch]).powi(2)).sum::<f64>() / n).collect();
    (mean, var)
}

/// BatchNorm with the given statistics, then GELU if asked.
#[allow(clippy::too_many_arguments)]
fn bn_ref(x: &[f64], c: usize, l: usize, mean: &[f64], var: &[f64], g: &[f64], bt: &[f64], gelu: bool) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / l) % c;
            let z = (v - mean[ch]) / (var[ch] + EPS).sqrt() * g[ch] + bt[ch];
            if gelu {
                gelu64(z)
            } else {
                z
            }
        })
        .collect()
}

fn check_bn(b: usize, c: usize, l: usize, train: bool, with_gelu: bool, seed: u64) {
    let dev = Cpu::default();
    let xv: Vec<f32> = randn(b * c * l, seed).iter().map(|v| v * 2.0 + 0.7).collect();
    let gv = randn(c, seed + 1);
    let bv = randn(c, seed + 2);
    let rmv = randn(c, seed + 3);
    let rvv: Vec<f32> = randn(c, seed + 4).iter().map(|v| v.abs() + 0.5).collect();
    let up = randn(b * c * l, seed + 5);
    let x = t3(&dev, xv.clone(), &[b, c, l]);
    let (gamma, beta) = (t1(&dev, gv.clone()), t1(&dev, bv.clone()));
    let (mut rm, mut rv) = (t1(&dev, rmv.clone()), t1(&dev, rvv.clone()));
    let momentum = 0.1f32;
    let mode = if train { BnMode::Train { momentum } } else { BnMode::Eval };
    let (out, grads, gx) = run_with_upstream(&x, &up, |x| DrgDevice::batchnorm_gelu(x, &gamma, &beta, &mut rm, &mut rv, mode, with_gelu));
    let (x64, g64, b64, up64) = (to_f64(&xv), to_f64(&gv), to_f64(&bv), to_f64(&up));
    let what = format!("B={b} C={c} L={l} train={train} gelu={with_gelu}");
    let reference = |x: &[f64], g: &[f64], bt: &[f64]| {
        let (mean, var) = if train { stats(x, b, c, l) } else { (to_f64(&rmv), to_f64(&rvv)) };
        bn_ref(x, c, l, &mean, &var, g, bt, with_gelu)
    };
    assert_close(&format!("{what}: forward"), &out, &reference(&x64, &g64, &b64), TOL);
    let h = 1e-6;
    let fd_x = finite_diff(&x64, h, |x| dot(&reference(x, &g64, &b64), &up64));
    assert_close(&format!("{what}: grad x"), &gx, &fd_x, TOL);
    let fd_g = finite_diff(&g64, h, |g| dot(&reference(&x64, g, &b64), &up64));
    assert_close(&format!("{what}: grad gamma"), &grads.get(&gamma).as_vec(), &fd_g, TOL);
    let fd_b = finite_diff(&b64, h, |bt| dot(&reference(&x64, &g64, bt), &up64));
    assert_close(&format!("{what}: grad beta"), &grads.get(&beta).as_vec(), &fd_b, TOL);
    // running statistics: updated with momentum and the unbiased variance in train mode only
    let (want_rm, want_rv): (Vec<f64>, Vec<f64>) = if train {
        let (mean, var) = stats(&x64, b, c, l);
        let n = (b * l) as f64;
        let m = momentum as f64;
        (
            rmv.iter().zip(&mean).map(|(&r, bm)| (1.0 - m) * r as f64 + m * bm).collect(),
            rvv.iter().zip(&var).map(|(&r, bv)| (1.0 - m) * r as f64 + m * bv * n / (n - 1.0)).collect(),
        )
    } else {
        (to_f64(&rmv), to_f64(&rvv))
    };
    assert_close(&format!("{what}: running_mean"), &rm.as_vec(), &want_rm, 1e-6);
    assert_close(&format!("{what}: running_var"), &rv.as_vec(), &want_rv, 1e-6);
}

#[test]
fn batchnorm_gelu_matches_naive_reference_and_finite_differences() {
    let mut seed = 2000;
    for (b, c, l) in [(3, 4, 7), (5, 3, 1), (1, 2, 9)] {
        for train in [true, false] {
            for with_gelu in [true, false] {
                check_bn(b, c, l, train, with_gelu, seed);
                seed += 10;
            }
        }
    }
}

#[test]
fn gelu_matches_erf_form_and_finite_differences() {
    let dev = Cpu::default();
    let mut xv = randn(3 * 5 * 11, 77);
    xv.extend([0.0, -6.0, 6.0, -12.0, 1e-3]);
    let n = xv.len();
    let x = t3(&dev, xv.clone(), &[1, 1, n]);
    let up = randn(n, 78);
    let (out, _, gx) = run_with_upstream(&x, &up, DrgDevice::gelu);
    let x64 = to_f64(&xv);
    assert_close("gelu forward", &out, &x64.iter().map(|&v| gelu64(v)).collect::<Vec<_>>(), 1e-6);
    let fd = finite_diff(&x64, 1e-6, |x| dot(&x.iter().map(|&v| gelu64(v)).collect::<Vec<_>>(), &to_f64(&up)));
    assert_close("gelu grad", &gx, &fd, TOL);
}

#[test]
fn add_sums_values_and_sends_the_gradient_to_both_tapes() {
    let dev = Cpu::default();
    let (av, bv, up) = (randn(2 * 3 * 5, 1), randn(2 * 3 * 5, 2), randn(2 * 3 * 5, 3));
    let a = t3(&dev, av.clone(), &[2, 3, 5]);
    let b = t3(&dev, bv.clone(), &[2, 3, 5]);
    let y = DrgDevice::add(a.leaky_trace(), b.leaky_trace());
    let want: Vec<f64> = av.iter().zip(&bv).map(|(a, b)| (a + b) as f64).collect();
    assert_close("add forward", &y.as_vec(), &want, 0.0);
    let upt = t3(&dev, up.clone(), &[2, 3, 5]);
    let grads = (y * upt).sum::<(), _>().backward();
    assert_close("add grad a", &grads.get(&a).as_vec(), &to_f64(&up), 0.0);
    assert_close("add grad b", &grads.get(&b).as_vec(), &to_f64(&up), 0.0);
    // the untaped right operand of a taped left one gets no tape but the sum is the same
    let y2 = DrgDevice::add(a.leaky_trace(), b.clone());
    assert_close("add forward, untaped b", &y2.as_vec(), &want, 0.0);
}

#[test]
#[should_panic(expected = "batchnorm_gelu: gamma")]
fn batchnorm_rejects_mismatched_parameters() {
    let dev = Cpu::default();
    let x = t3(&dev, vec![0.0; 2 * 3 * 4], &[2, 3, 4]);
    let g = t1(&dev, vec![1.0; 2]);
    let b = t1(&dev, vec![0.0; 3]);
    let (mut rm, mut rv) = (t1(&dev, vec![0.0; 3]), t1(&dev, vec![1.0; 3]));
    let _ = DrgDevice::batchnorm_gelu(x, &g, &b, &mut rm, &mut rv, BnMode::Eval, true);
}
