//! One training step of the basemodel trunk at batch 8, built directly from `drg_core::ops`:
//!
//! RC conv(4→300, k15, bias) → BN → GELU → weighted pool(4) → 3 residual dilated convs
//! 300→300 k11 d=[1,2,4] (pre-activation BN→GELU→conv, skips as the reference: h₁ = z₀ + x,
//! h₂ = z₁ + z₀, h₃ = z₂ + z₁) → flatten → linear head (88 tracks) → MSE, backward, SGD with
//! momentum 0.9. Prints seconds per step (median) and GFLOP/s of the convolutions, for
//! L = 2,000 and L = 10,000, after per-op timings of the 300→300 k11 convolution.
//!
//! Run: `cargo bench --bench trunk_step` (optionally `-- 2000` to pick lengths, `ops-only` to
//! skip the trunk steps, `trunk-only` to skip the per-op timings).

use std::time::Instant;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::{BnMode, ConvGeom};
use rand::{Rng, SeedableRng};

type Dev = Cpu;
type T1 = Tensor<(usize,), f32, Dev>;
type T2 = Tensor<(usize, usize), f32, Dev>;
type T3 = Tensor<(usize, usize, usize), f32, Dev>;

const B: usize = 8;
const C: usize = 300;
const K_STEM: usize = 15;
const K: usize = 11;
const DILATIONS: [usize; 3] = [1, 2, 4];
const POOL: usize = 4;
const TRACKS: usize = 88;

fn randn(rng: &mut rand::rngs::StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.gen::<f32>() - 0.5) * 2.0 * scale).collect()
}

/// BatchNorm parameters and buffers of one channel set.
struct Bn {
    gamma: T1,
    beta: T1,
    mean: T1,
    var: T1,
}

impl Bn {
    fn new(dev: &Dev) -> Self {
        Self {
            gamma: dev.tensor_from_vec(vec![1.0; C], (C,)),
            beta: dev.tensor_from_vec(vec![0.0; C], (C,)),
            mean: dev.tensor_from_vec(vec![0.0; C], (C,)),
            var: dev.tensor_from_vec(vec![1.0; C], (C,)),
        }
    }
}

/// The trunk's trainable tensors, plus SGD velocities.
struct Trunk {
    stem_w: T3,
    stem_b: T1,
    stem_bn: Bn,
    bns: Vec<Bn>,
    convs: Vec<T3>,
    head_w: T2,
    head_b: T1,
    velocity: Vec<Vec<f32>>,
}

impl Trunk {
    fn new(dev: &Dev, len: usize, rng: &mut rand::rngs::StdRng) -> Self {
        let lp = len / POOL;
        let s_stem = 1.0 / ((4 * K_STEM) as f32).sqrt();
        let s_conv = 1.0 / ((C * K) as f32).sqrt();
        let s_head = 1.0 / ((C * lp) as f32).sqrt();
        Self {
            stem_w: dev.tensor_from_vec(randn(rng, C * 4 * K_STEM, s_stem), (C, 4, K_STEM)),
            stem_b: dev.tensor_from_vec(randn(rng, C, s_stem), (C,)),
            stem_bn: Bn::new(dev),
            bns: (0..3).map(|_| Bn::new(dev)).collect(),
            convs: (0..3).map(|_| dev.tensor_from_vec(randn(rng, C * C * K, s_conv), (C, C, K))).collect(),
            head_w: dev.tensor_from_vec(randn(rng, C * lp * TRACKS, s_head), (C * lp, TRACKS)),
            head_b: dev.tensor_from_vec(vec![0.0; TRACKS], (TRACKS,)),
            velocity: Vec::new(),
        }
    }

    /// Forward (train mode) to the MSE loss against `target`.
    fn loss(&mut self, x: &T3, target: &T2) -> Tensor<(), f32, Dev, OwnedTape<f32, Dev>> {
        let len = x.shape().2;
        let lp = len / POOL;
        let bn_mode = BnMode::Train { momentum: 0.1 };
        let h = DrgDevice::rc_conv1d(x.leaky_trace(), &self.stem_w, Some(&self.stem_b), ConvGeom::same(K_STEM, 1), (B, C, len));
        let bn = &mut self.stem_bn;
        let h = DrgDevice::batchnorm_gelu(h, &bn.gamma, &bn.beta, &mut bn.mean, &mut bn.var, bn_mode, true);
        let mut h = DrgDevice::weighted_pool(h, POOL, (B, C, lp));
        let mut r = h.with_empty_tape();
        for ((bn, w), d) in self.bns.iter_mut().zip(&self.convs).zip(DILATIONS) {
            let a = DrgDevice::batchnorm_gelu(h, &bn.gamma, &bn.beta, &mut bn.mean, &mut bn.var, bn_mode, true);
            let z = DrgDevice::conv1d(a, w, None::<&T1>, ConvGeom::same(K, d), (B, C, lp));
            let s = std::mem::replace(&mut r, z.with_empty_tape());
            h = DrgDevice::add(z, s);
        }
        let flat = h.reshape_like(&(B, C * lp));
        let y = flat.matmul(self.head_w.clone()) + self.head_b.clone().broadcast_like::<_, Axis<0>>(&(B, TRACKS));
        (y - target.clone()).square().mean()
    }

    /// SGD with momentum 0.9 (PyTorch's form: v = μv + g; p −= lr·v) over every parameter.
    fn sgd(&mut self, grads: &mut Gradients<f32, Dev>, lr: f32) {
        fn step<S: Shape>(p: &mut Tensor<S, f32, Dev>, g: &mut Gradients<f32, Dev>, v: &mut Vec<f32>, lr: f32) {
            let n = p.shape().num_elements();
            // read the gradient in place (no copy), update a host copy of the parameter on both
            // cores, write it back
            let gv: &[f32] = g.get_or_alloc_mut(p).unwrap();
            if v.is_empty() {
                v.resize(n, 0.0);
            }
            let mut pv = vec![0.0f32; n];
            p.copy_into(&mut pv);
            let half = n.div_ceil(2).max(1);
            std::thread::scope(|s| {
                for ((p, v), g) in pv.chunks_mut(half).zip(v.chunks_mut(half)).zip(gv.chunks(half)) {
                    s.spawn(move || {
                        for ((p, v), g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                            *v = 0.9 * *v + g;
                            *p -= lr * *v;
                        }
                    });
                }
            });
            p.copy_from(&pv);
        }
        let n = 4 + 2 * 3 + 3 + 2;
        if self.velocity.is_empty() {
            self.velocity = vec![Vec::new(); n];
        }
        let mut vel = std::mem::take(&mut self.velocity);
        let mut it = vel.iter_mut();
        step(&mut self.stem_w, grads, it.next().unwrap(), lr);
        step(&mut self.stem_b, grads, it.next().unwrap(), lr);
        step(&mut self.stem_bn.gamma, grads, it.next().unwrap(), lr);
        step(&mut self.stem_bn.beta, grads, it.next().unwrap(), lr);
        for bn in &mut self.bns {
            step(&mut bn.gamma, grads, it.next().unwrap(), lr);
            step(&mut bn.beta, grads, it.next().unwrap(), lr);
        }
        for w in &mut self.convs {
            step(w, grads, it.next().unwrap(), lr);
        }
        step(&mut self.head_w, grads, it.next().unwrap(), lr);
        step(&mut self.head_b, grads, it.next().unwrap(), lr);
        self.velocity = vel;
    }
}

/// FLOPs of one step's convolutions and head: forward 2·MACs, backward 2× forward.
fn step_flops(len: usize) -> f64 {
    let lp = (len / POOL) as f64;
    let stem = 2.0 * 2.0 * (B * C * 4 * K_STEM) as f64 * len as f64; // two strands
    let convs = 3.0 * 2.0 * (B * C * C * K) as f64 * lp;
    let head = 2.0 * (B * C * TRACKS) as f64 * lp;
    3.0 * (stem + convs + head)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn one_hot(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; B * 4 * len];
    for b in 0..B {
        for t in 0..len {
            x[(b * 4 + rng.gen_range(0..4)) * len + t] = 1.0;
        }
    }
    x
}

fn bench_trunk(dev: &Dev, len: usize, steps: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut trunk = Trunk::new(dev, len, &mut rng);
    let x: T3 = dev.tensor_from_vec(one_hot(&mut rng, len), (B, 4, len));
    let target: T2 = dev.tensor_from_vec(randn(&mut rng, B * TRACKS, 1.0), (B, TRACKS));
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut parts = Vec::new();
    let mut first_loss = f32::NAN;
    let mut last_loss = f32::NAN;
    for i in 0..=steps {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let loss = trunk.loss(&x, &target);
        last_loss = loss.array();
        if i == 0 {
            first_loss = last_loss;
        }
        let t1 = Instant::now();
        let mut grads = loss.backward();
        let t2 = Instant::now();
        if i == 0 {
            // every trainable tensor must have received a gradient
            let norm = |g: &mut Gradients<f32, Dev>, t: &T3| g.get_or_alloc_mut(t).unwrap().iter().map(|v| v.abs() as f64).sum::<f64>();
            let norms: Vec<f64> = std::iter::once(&trunk.stem_w).chain(&trunk.convs).map(|w| norm(&mut grads, w)).collect();
            assert!(norms.iter().all(|&n| n > 0.0), "missing conv weight gradients: {norms:?}");
        }
        trunk.sgd(&mut grads, 1e-3);
        drop(grads);
        let t3 = Instant::now();
        if i > 0 {
            // step 0 is warm-up
            times.push((t3 - t0).as_secs_f64());
            cpu.push(cpu_seconds() - c0);
            parts.push(format!("{:.2}+{:.2}+{:.2}", (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64()));
        }
    }
    let med = median(times.clone());
    println!(
        "trunk step  L={len:>6}: {med:.3} s/step (median of {steps}; forward+backward+update: {}), {:.1} GFLOP/s, {:.2} CPU-s/step; loss {first_loss:.4} -> {last_loss:.4}",
        parts.join(", "),
        step_flops(len) / med / 1e9,
        median(cpu)
    );
}

/// CPU seconds (user + system) this process has used: on a shared machine, GFLOP per CPU-second
/// measures the kernels' efficiency better than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // fields 14 and 15 of /proc/[pid]/stat (utime, stime; field 3, the state letter, is skipped),
    // in clock ticks of 1/100 s
    if f.len() > 12 {
        (f[10] + f[11]) / 100.0
    } else {
        f64::NAN
    }
}

/// Forward and backward of one 300→300 k11 convolution at batch 8.
fn bench_conv(dev: &Dev, len: usize, reps: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x: T3 = dev.tensor_from_vec(randn(&mut rng, B * C * len, 1.0), (B, C, len));
    let w: T3 = dev.tensor_from_vec(randn(&mut rng, C * C * K, 0.05), (C, C, K));
    let flops = 2.0 * (B * C * C * K * len) as f64;
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    let cpu0 = cpu_seconds();
    for _ in 0..reps {
        let t0 = Instant::now();
        let y = DrgDevice::conv1d(x.leaky_trace(), &w, None::<&T1>, ConvGeom::same(K, 2), (B, C, len));
        let t1 = Instant::now();
        let grads = y.sum::<(), _>().backward();
        let t2 = Instant::now();
        drop(grads);
        fwd.push((t1 - t0).as_secs_f64());
        bwd.push((t2 - t1).as_secs_f64());
    }
    let cpu = cpu_seconds() - cpu0;
    let (f, b) = (median(fwd), median(bwd));
    println!(
        "conv 300->300 k11 B=8 L={len:>5}: forward {:.3} s = {:.1} GFLOP/s, backward {:.3} s = {:.1} GFLOP/s; {:.1} GFLOP per CPU-second",
        f,
        flops / f / 1e9,
        b,
        2.0 * flops / b / 1e9,
        3.0 * flops * reps as f64 / cpu / 1e9
    );
}

/// Forward and backward time of one op on a taped input (median of `reps`).
fn time_op<F>(name: &str, x: &T3, reps: usize, op: F)
where
    F: Fn(Tensor<(usize, usize, usize), f32, Dev, OwnedTape<f32, Dev>>) -> Tensor<(usize, usize, usize), f32, Dev, OwnedTape<f32, Dev>>,
{
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t0 = Instant::now();
        let y = op(x.leaky_trace());
        let t1 = Instant::now();
        let grads = y.sum::<(), _>().backward();
        let t2 = Instant::now();
        drop(grads);
        fwd.push((t1 - t0).as_secs_f64());
        bwd.push((t2 - t1).as_secs_f64());
    }
    println!("{name}: forward {:.3} s, backward (incl. sum) {:.3} s", median(fwd), median(bwd));
}

/// The non-GEMM ops at the stem's size, [8, 300, len].
fn bench_elementwise(dev: &Dev, len: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let x: T3 = dev.tensor_from_vec(randn(&mut rng, B * C * len, 1.0), (B, C, len));
    let bn = std::cell::RefCell::new(Bn::new(dev));
    let mode = BnMode::Train { momentum: 0.1 };
    time_op(&format!("batchnorm_gelu [8,300,{len}]"), &x, 3, |x| {
        let mut bn = bn.borrow_mut();
        let bn = &mut *bn;
        DrgDevice::batchnorm_gelu(x, &bn.gamma, &bn.beta, &mut bn.mean, &mut bn.var, mode, true)
    });
    time_op(&format!("weighted_pool(4) [8,300,{len}]"), &x, 3, |x| DrgDevice::weighted_pool(x, POOL, (B, C, len / POOL)));
    let w: T3 = dev.tensor_from_vec(randn(&mut rng, C * 4 * K_STEM, 0.1), (C, 4, K_STEM));
    let x4: T3 = dev.tensor_from_vec(one_hot(&mut rng, len), (B, 4, len));
    time_op(&format!("rc_conv1d 4->300 k15 [8,4,{len}]"), &x4, 3, |x| {
        DrgDevice::rc_conv1d(x, &w, None::<&T1>, ConvGeom::same(K_STEM, 1), (B, C, len))
    });
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "machine: {cpu}, {} logical CPUs, RAYON_NUM_THREADS={} (shared machine: timings are noisy)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    let lens: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let lens = if lens.is_empty() { vec![2000, 10000] } else { lens };
    let dev = Dev::default();
    // As in training (`DrgDevice::open`): dfdx's buffer cache on; our ops take their output
    // buffers from it (`DrgDevice::host_buffer`), so it recycles each step's buffers into the
    // next. `DRG_BENCH_NO_CACHE=1` turns it off for comparison.
    if std::env::var_os("DRG_BENCH_NO_CACHE").is_none() {
        dev.enable_cache();
    }
    let trunk_only = std::env::args().any(|a| a == "trunk-only");
    for &l in lens.iter().filter(|_| !trunk_only) {
        bench_conv(&dev, l / POOL, 3);
    }
    for &l in lens.iter().filter(|_| !trunk_only) {
        bench_elementwise(&dev, l);
    }
    if std::env::args().any(|a| a == "ops-only") {
        return;
    }
    for &l in &lens {
        bench_trunk(&dev, l, if l > 5000 { 3 } else { 5 });
    }
}
