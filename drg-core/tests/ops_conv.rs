//! conv1d and the reverse-complement stem: forward against a naive f64 convolution, every
//! gradient against central finite differences of that f64 reference, and both against the
//! reference implementation's fixtures (`layers.npz`). Tolerance: max|a−b| ≤ 1e-5·max|b|.

mod ops_support;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::ConvGeom;
use ops_support::*;

const TOL: f64 = 1e-5;

/// Sizes of one test convolution.
#[derive(Clone, Copy, Debug)]
struct Case {
    b: usize,
    ci: usize,
    l: usize,
    co: usize,
    geom: ConvGeom,
}

impl Case {
    fn lo(&self) -> usize {
        self.geom.out_len(self.l)
    }
}

/// y[b,o,t] = bias[o] + Σ_i Σ_j w[o,i,j]·xpad[b, i, t·s + j·d − pad_left], in f64.
fn conv_ref(c: &Case, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let (k, g, lo) = (c.geom.kernel, c.geom, c.lo());
    let mut y = vec![0.0; c.b * c.co * lo];
    for b in 0..c.b {
        for o in 0..c.co {
            for t in 0..lo {
                let mut acc = bias.map_or(0.0, |bb| bb[o]);
                for i in 0..c.ci {
                    for j in 0..k {
                        let p = (t * g.stride + j * g.dilation) as isize - g.pad_left as isize;
                        if p >= 0 && (p as usize) < c.l {
                            acc += w[(o * c.ci + i) * k + j] * x[(b * c.ci + i) * c.l + p as usize];
                        }
                    }
                }
                y[(b * c.co + o) * lo + t] = acc;
            }
        }
    }
    y
}

/// The reverse complement of x `[B, C, L]` (flip channels and positions).
fn rc(c: &Case, x: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; x.len()];
    for b in 0..c.b {
        for i in 0..c.ci {
            for t in 0..c.l {
                r[(b * c.ci + i) * c.l + t] = x[(b * c.ci + c.ci - 1 - i) * c.l + c.l - 1 - t];
            }
        }
    }
    r
}

/// max(conv(x), flip_L(conv(rc(x)))), in f64.
fn rc_conv_ref(c: &Case, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let yf = conv_ref(c, x, w, bias);
    let yr = conv_ref(c, &rc(c, x), w, bias);
    let lo = c.lo();
    (0..yf.len()).map(|n| yf[n].max(yr[n - n % lo + (lo - 1 - n % lo)])).collect()
}

type RefFn = fn(&Case, &[f64], &[f64], Option<&[f64]>) -> Vec<f64>;

/// Runs the op, then checks forward and the gradients of Σ out ⊙ up w.r.t. x, w and bias
/// against the f64 reference and its finite differences.
fn check_against_reference(c: Case, with_bias: bool, rc_stem: bool, seed: u64) {
    let dev = Cpu::default();
    let xv = randn(c.b * c.ci * c.l, seed);
    let wv = randn(c.co * c.ci * c.geom.kernel, seed + 1);
    let bv = randn(c.co, seed + 2);
    let up = randn(c.b * c.co * c.lo(), seed + 3);
    let x = t3(&dev, xv.clone(), &[c.b, c.ci, c.l]);
    let w = t3(&dev, wv.clone(), &[c.co, c.ci, c.geom.kernel]);
    let bias = t1(&dev, bv.clone());
    let out_shape = (c.b, c.co, c.lo());
    let (out, grads, gx) = run_with_upstream(&x, &up, |x| {
        let bias = if with_bias { Some(&bias) } else { None };
        if rc_stem {
            DrgDevice::rc_conv1d(x, &w, bias, c.geom, out_shape)
        } else {
            DrgDevice::conv1d(x, &w, bias, c.geom, out_shape)
        }
    });
    let reference: RefFn = if rc_stem { rc_conv_ref } else { conv_ref };
    let (x64, w64, b64, up64) = (to_f64(&xv), to_f64(&wv), to_f64(&bv), to_f64(&up));
    let b_opt = |b: &[f64]| if with_bias { Some(b.to_vec()) } else { None };
    let what = format!("{c:?} bias={with_bias} rc={rc_stem}");
    assert_close(&format!("{what}: forward"), &out, &reference(&c, &x64, &w64, b_opt(&b64).as_deref()), TOL);
    let h = 1e-6;
    let fd_x = finite_diff(&x64, h, |x| dot(&reference(&c, x, &w64, b_opt(&b64).as_deref()), &up64));
    assert_close(&format!("{what}: grad x"), &gx, &fd_x, TOL);
    let fd_w = finite_diff(&w64, h, |w| dot(&reference(&c, &x64, w, b_opt(&b64).as_deref()), &up64));
    assert_close(&format!("{what}: grad w"), &grads.get(&w).as_vec(), &fd_w, TOL);
    if with_bias {
        let fd_b = finite_diff(&b64, h, |b| dot(&reference(&c, &x64, &w64, Some(b)), &up64));
        assert_close(&format!("{what}: grad bias"), &grads.get(&bias).as_vec(), &fd_b, TOL);
    }
}

fn geom(kernel: usize, dilation: usize, stride: usize, pad_left: usize, pad_right: usize) -> ConvGeom {
    ConvGeom { kernel, dilation, stride, pad_left, pad_right }
}

#[test]
fn conv1d_matches_naive_reference_and_finite_differences() {
    let cases = [
        (Case { b: 2, ci: 3, l: 13, co: 4, geom: ConvGeom::same(3, 1) }, true),
        (Case { b: 3, ci: 2, l: 17, co: 3, geom: geom(3, 2, 2, 3, 1) }, false),
        // batch 1: the GEMM-parallel path
        (Case { b: 1, ci: 3, l: 12, co: 2, geom: geom(4, 1, 3, 0, 2) }, true),
        (Case { b: 2, ci: 2, l: 9, co: 3, geom: ConvGeom::same(4, 3) }, true),
        (Case { b: 2, ci: 2, l: 5, co: 2, geom: geom(2, 3, 1, 0, 0) }, false),
        // padding wider than the input
        (Case { b: 2, ci: 1, l: 3, co: 2, geom: geom(3, 2, 1, 5, 4) }, true),
    ];
    for (i, (c, bias)) in cases.into_iter().enumerate() {
        check_against_reference(c, bias, false, 100 + i as u64 * 10);
    }
}

#[test]
fn rc_conv1d_matches_naive_reference_and_finite_differences() {
    // Gaussian inputs: no exact ties between strands, so the max is differentiable.
    let cases = [
        (Case { b: 2, ci: 4, l: 11, co: 3, geom: ConvGeom::same(5, 1) }, true),
        (Case { b: 3, ci: 4, l: 9, co: 2, geom: ConvGeom::same(4, 1) }, false),
        (Case { b: 1, ci: 4, l: 7, co: 3, geom: ConvGeom::same(2, 1) }, true),
    ];
    for (i, (c, bias)) in cases.into_iter().enumerate() {
        check_against_reference(c, bias, true, 500 + i as u64 * 10);
    }
}

/// A fixture conv layer of `layers.npz`: forward output, grad_input and parameter gradients.
fn check_fixture(layer: &str, rc_stem: bool, geom: ConvGeom) {
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
            DrgDevice::rc_conv1d(x, &w, bias.as_ref(), geom, out_shape)
        } else {
            DrgDevice::conv1d(x, &w, bias.as_ref(), geom, out_shape)
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
fn rcconv_k15_matches_fixture() {
    check_fixture("rcconv_k15", true, ConvGeom::same(15, 1));
}

#[test]
fn rcconv_k8_matches_fixture_including_the_tie_rule() {
    // the last output positions of the last sample are exact ties between the strands
    check_fixture("rcconv_k8", true, ConvGeom::same(8, 1));
}

#[test]
fn conv_k11_d4_matches_fixture() {
    check_fixture("conv_k11_d4", false, ConvGeom::same(11, 4));
}

#[test]
fn conv_k4_d3_matches_fixture() {
    check_fixture("conv_k4_d3", false, ConvGeom::same(4, 3));
}

#[test]
#[should_panic(expected = "conv1d: output shape")]
fn conv1d_rejects_a_wrong_output_shape() {
    let dev = Cpu::default();
    let x = t3(&dev, vec![0.0; 2 * 3 * 10], &[2, 3, 10]);
    let w = t3(&dev, vec![0.0; 4 * 3 * 3], &[4, 3, 3]);
    let _ = DrgDevice::conv1d(x, &w, None::<&Tensor<(usize,), f32, Cpu>>, ConvGeom::same(3, 1), (2usize, 4usize, 9usize));
}
