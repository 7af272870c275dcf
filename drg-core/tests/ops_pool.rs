//! Weighted / max / mean pooling: forward against a naive f64 reference, gradients against
//! central finite differences of it (the pad value held constant, as the reference's is), and
//! weighted pooling against every `wpool_*` fixture of `layers.npz`. Tolerance 1e-5·max|b|.

mod ops_support;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::pooled_len;
use ops_support::*;

const TOL: f64 = 1e-5;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Weighted,
    Max,
    Mean,
}

/// The reference pooling in f64, written from behaviour P2 directly: pad q copies of `pad` on
/// both sides, cut windows of p, drop the incomplete tail; the mean is over a window's real
/// positions (the reference's `pooling_layer` builds `AvgPool1d(count_include_pad=False)`).
fn pool_ref(kind: Kind, x: &[f64], rows: usize, l: usize, p: usize, pad: f64) -> Vec<f64> {
    let q = if l.is_multiple_of(p) { 0 } else { (p - l % p).div_ceil(2) };
    let lp = l + 2 * q;
    let mut out = Vec::new();
    for r in 0..rows {
        let padded: Vec<f64> = (0..lp).map(|i| if i < q || i >= q + l { pad } else { x[r * l + i - q] }).collect();
        for (wi, w) in padded.chunks_exact(p).enumerate() {
            // the window's real positions (the reference's mean pooling, `AvgPool1d(..,
            // count_include_pad=False)`, divides by their count)
            let real = (wi * p..(wi + 1) * p).filter(|&i| i >= q && i < q + l).count();
            out.push(match kind {
                Kind::Weighted => {
                    let m = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = w.iter().map(|v| (v - m).exp()).sum();
                    w.iter().map(|v| v * (v - m).exp() / z).sum()
                }
                Kind::Max => w.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                Kind::Mean => w.iter().sum::<f64>() / real as f64,
            });
        }
    }
    out
}

fn run(kind: Kind, x: &X3, p: usize, up: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let d = x.shape().concrete();
    let out_shape = (d[0], d[1], pooled_len(d[2], p));
    let (out, _, gx) = run_with_upstream(x, up, |x| match kind {
        Kind::Weighted => DrgDevice::weighted_pool(x, p, out_shape),
        Kind::Max => DrgDevice::max_pool(x, p, out_shape),
        Kind::Mean => DrgDevice::mean_pool(x, p, out_shape),
    });
    (out, gx)
}

#[test]
fn pools_match_naive_reference_and_finite_differences() {
    let dev = Cpu::default();
    for kind in [Kind::Weighted, Kind::Max, Kind::Mean] {
        for (i, &(b, c, l, p)) in
            [(2, 3, 37, 4), (2, 2, 28, 3), (1, 3, 40, 5), (3, 2, 47, 6), (2, 3, 6, 4), (2, 1, 1, 4), (1, 2, 9, 1)].iter().enumerate()
        {
            if kind == Kind::Max && l == 1 {
                // the global-min sample ties with its own pad values: not differentiable
                continue;
            }
            let xv = randn(b * c * l, 900 + i as u64);
            let lo = pooled_len(l, p);
            let up = randn(b * c * lo, 950 + i as u64);
            let x = t3(&dev, xv.clone(), &[b, c, l]);
            let (out, gx) = run(kind, &x, p, &up);
            let x64 = to_f64(&xv);
            let pad = match kind {
                Kind::Mean => 0.0,
                _ => x64.iter().cloned().fold(f64::INFINITY, f64::min),
            };
            let what = format!("{kind:?} B={b} C={c} L={l} p={p}");
            assert_eq!(out.len(), b * c * lo, "{what}: output length");
            assert_close(&format!("{what}: forward"), &out, &pool_ref(kind, &x64, b * c, l, p, pad), TOL);
            let fd = finite_diff(&x64, 1e-6, |x| dot(&pool_ref(kind, x, b * c, l, p, pad), &to_f64(&up)));
            assert_close(&format!("{what}: grad x"), &gx, &fd, TOL);
        }
    }
}

#[test]
fn weighted_pool_matches_every_fixture() {
    let npz = layers();
    let dev = Cpu::default();
    for (layer, p) in [("wpool_p4_L37", 4), ("wpool_p3_L28", 3), ("wpool_p5_L40", 5), ("wpool_p6_L47", 6), ("wpool_p4_L6", 4)] {
        let (xd, xv) = fx(&npz, &format!("{layer}/input"));
        let (od, ov) = fx(&npz, &format!("{layer}/output"));
        let (_, up) = fx(&npz, &format!("{layer}/upstream"));
        let x = t3(&dev, xv, &xd);
        let (out, gx) = run(Kind::Weighted, &x, p, &up);
        assert_eq!(od, vec![xd[0], xd[1], pooled_len(xd[2], p)], "{layer}: output dims");
        assert_close(&format!("{layer}: output"), &out, &to_f64(&ov), TOL);
        assert_close(&format!("{layer}: grad_input"), &gx, &to_f64(&fx(&npz, &format!("{layer}/grad_input")).1), TOL);
    }
}

#[test]
fn the_pad_value_is_the_minimum_of_the_whole_batch() {
    // sample 1 holds the global minimum; sample 0's padded window must see it
    let dev = Cpu::default();
    let x = t3(&dev, vec![1.0, 2.0, 3.0, -1.0, -1.0, -5.0], &[2, 1, 3]);
    let out = DrgDevice::weighted_pool(x, 2, (2usize, 1usize, 2usize)).as_vec();
    // L=3, p=2: q=1, windows (pad, x0) and (x1, x2)
    let wp = |a: f64, b: f64| (a * a.exp() + b * b.exp()) / (a.exp() + b.exp());
    let want = [wp(-5.0, 1.0), wp(2.0, 3.0), wp(-5.0, -1.0), wp(-1.0, -5.0)];
    assert_close("batch-global pad", &out, &want, 1e-6);
}

#[test]
#[should_panic(expected = "weighted_pool: output shape")]
fn pool_rejects_a_wrong_output_shape() {
    let dev = Cpu::default();
    let x = t3(&dev, vec![0.0; 2 * 3 * 10], &[2, 3, 10]);
    let _ = DrgDevice::weighted_pool(x, 4, (2usize, 3usize, 2usize));
}
