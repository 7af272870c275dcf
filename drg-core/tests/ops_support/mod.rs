//! Shared helpers of the `ops_*` tests: deterministic random data, the tolerance checks, central
//! finite differences, fixture loading, and running an op forward + backward through dfdx.
#![allow(dead_code)]

use drg_core::dfdx::prelude::*;

/// Deterministic pseudo-random standard-normal-ish values (sum of uniforms), seeded.
pub fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uni = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f64) / ((1u64 << 24) as f64)
    };
    (0..n).map(|_| ((0..4).map(|_| uni()).sum::<f64>() - 2.0) as f32 * 1.7).collect()
}

/// `max|a − b| ≤ rel · max|b|` (the fixtures README's per-tensor tolerance).
pub fn assert_close(what: &str, got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0.0f64, 0);
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let d = (a as f64 - b).abs();
        if d > worst || d.is_nan() {
            worst = d;
            at = i;
        }
    }
    assert!(
        worst <= rel * scale && !worst.is_nan(),
        "{what}: max|a−b| = {worst:e} at {at} (got {}, want {}), allowed {rel:e} × max|b| = {:e}",
        got[at],
        want[at],
        rel * scale
    );
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Central finite differences of `f` at `x` for every coordinate.
pub fn finite_diff(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + h;
            let fp = f(&xp);
            xp[i] = x[i] - h;
            let fm = f(&xp);
            xp[i] = x[i];
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// `Σ out ⊙ up`, the scalar whose gradients the tests compare.
pub fn dot(out: &[f64], up: &[f64]) -> f64 {
    out.iter().zip(up).map(|(a, b)| a * b).sum()
}

/// The shared fixture archive `layers.npz`.
pub fn layers() -> drg_core::import::npz::Npz {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/layers.npz");
    drg_core::import::npz::read_npz(path).expect("read layers.npz")
}

/// A fixture array as (dims, f32 values).
pub fn fx(npz: &drg_core::import::npz::Npz, key: &str) -> (Vec<usize>, Vec<f32>) {
    npz.f32(key).unwrap()
}

pub type X3 = Tensor<(usize, usize, usize), f32, Cpu>;

pub fn t3(dev: &Cpu, v: Vec<f32>, d: &[usize]) -> X3 {
    dev.tensor_from_vec(v, (d[0], d[1], d[2]))
}

pub fn t1(dev: &Cpu, v: Vec<f32>) -> Tensor<(usize,), f32, Cpu> {
    let n = v.len();
    dev.tensor_from_vec(v, (n,))
}

/// Runs `op` on a traced copy of `x`, backpropagates `Σ out ⊙ up`, and returns
/// (out, gradients, ∂/∂x).
pub fn run_with_upstream<F>(x: &X3, up: &[f32], op: F) -> (Vec<f32>, Gradients<f32, Cpu>, Vec<f32>)
where
    F: FnOnce(Tensor<(usize, usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>) -> Tensor<(usize, usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>,
{
    let dev = x.device().clone();
    let out = op(x.leaky_trace());
    let ov = out.as_vec();
    let d = out.shape().concrete();
    let upt = dev.tensor_from_vec(up.to_vec(), (d[0], d[1], d[2]));
    let grads = (out * upt).sum::<(), _>().backward();
    let gx = grads.get(x).as_vec();
    (ov, grads, gx)
}
