//! The attention layer's dropout, `attention(.., dropout = p)` (the reference's
//! `attention_dropout`, `MyAttention_layer` in `drg_tools/modules.py`): one `nn.Dropout(p)` used
//! twice, on the heads' concatenated outputs before `combine_layer`, and on the feed-forward
//! block's input after the first LayerNorm, whose skip keeps the undropped values. No reference
//! fixture has it, so the layer is compared with an f64 loop written here, with the masks the
//! layer draws (the context's generator, in that order) replayed by `dropout` on ones.

mod ops_support;

use std::collections::BTreeMap;

use drg_core::dfdx::prelude::*;
use drg_core::import::export_state_dict;
use drg_core::layers::attention::Attention;
use drg_core::layers::dropout::dropout;
use drg_core::layers::Ctx;
use ops_support::finite_diff;

const B: usize = 3;
const CI: usize = 4;
const E: usize = 6;
const H: usize = 2;
const L: usize = 5;
const P: f32 = 0.3;

type Layer = Attention<CI, E, H, L, { 2 * CI }, { H * E }, { 4 * E }, f32, Cpu>;
type Params = BTreeMap<String, Vec<f64>>;
/// `(batch, CI, L)`.
type Input = Tensor<(usize, Const<CI>, Const<L>), f32, Cpu>;

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// LayerNorm over a row (eps 1e-5, biased variance) with an affine map.
fn layer_norm(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    x.iter().enumerate().map(|(i, v)| (v - mean) / (var + 1e-5).sqrt() * w[i] + b[i]).collect()
}

/// `out[o] = Σ_i w[o·n + i]·x[i]` for a (out, n, 1) pointwise-conv weight.
fn mix(w: &[f64], x: &[f64], out: usize) -> Vec<f64> {
    let n = x.len();
    (0..out).map(|o| (0..n).map(|i| w[o * n + i] * x[i]).sum()).collect()
}

/// The layer on `x` (B, CI, L) in f64, with the scaled masks `m1` (B, L, H·E) and `m2` (B, L, E)
/// (all ones: no dropout). Returns (B, E, L).
fn reference(p: &Params, x: &[f64], m1: &[f64], m2: &[f64]) -> Vec<f64> {
    let he = H * E;
    let mut out = vec![0.0; B * E * L];
    for b in 0..B {
        // positions × channels: the input, then the positional embedding (CI rows over L)
        let rows: Vec<Vec<f64>> = (0..L).map(|l| (0..CI).map(|c| x[(b * CI + c) * L + l]).collect()).collect();
        let xin: Vec<Vec<f64>> =
            (0..L).map(|l| rows[l].iter().copied().chain((0..CI).map(|c| p["pos_queries"][c * L + l])).collect()).collect();
        let q: Vec<Vec<f64>> = xin.iter().map(|r| mix(&p["embed_queries.weight"], r, he)).collect();
        let k: Vec<Vec<f64>> = xin.iter().map(|r| mix(&p["embed_keys.weight"], r, he)).collect();
        let v: Vec<Vec<f64>> = xin.iter().map(|r| mix(&p["embed_values.weight"], r, he)).collect();
        let mut o = vec![vec![0.0; he]; L];
        for h in 0..H {
            for i in 0..L {
                let s: Vec<f64> =
                    (0..L).map(|j| (0..E).map(|e| q[i][h * E + e] * k[j][h * E + e]).sum::<f64>() / (E as f64).sqrt()).collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for j in 0..L {
                    let a = (s[j] - m).exp() / z;
                    for e in 0..E {
                        o[i][h * E + e] += a * v[j][h * E + e];
                    }
                }
            }
        }
        for i in 0..L {
            let dropped: Vec<f64> = (0..he).map(|c| o[i][c] * m1[(b * L + i) * he + c]).collect();
            let res = mix(&p["reslayer.weight"], &rows[i], E);
            let u: Vec<f64> = mix(&p["combine_layer.weight"], &dropped, E).iter().zip(&res).map(|(a, r)| a + r).collect();
            let u = layer_norm(&u, &p["layer_norm.weight"], &p["layer_norm.bias"]);
            let fin: Vec<f64> = (0..E).map(|e| u[e] * m2[(b * L + i) * E + e]).collect();
            let hidden: Vec<f64> = mix(&p["feedforward.0.weight"], &fin, 4 * E).into_iter().map(gelu).collect();
            let ff = mix(&p["feedforward.2.weight"], &hidden, E);
            let y: Vec<f64> = ff.iter().zip(&u).map(|(a, b)| a + b).collect();
            let y = layer_norm(&y, &p["feedforward_layer_norm.weight"], &p["feedforward_layer_norm.bias"]);
            for e in 0..E {
                out[(b * E + e) * L + i] = y[e];
            }
        }
    }
    out
}

fn setup() -> (Layer, Input, Params) {
    let dev = Cpu::seed_from_u64(17);
    let layer = Layer::build(&dev);
    let x = dev.sample_normal_like(&(B, Const::<CI>, Const::<L>));
    let params = export_state_dict(&layer).entries.into_iter().map(|(k, e)| (k, e.values.iter().map(|&v| v as f64).collect())).collect();
    (layer, x, params)
}

/// The masks `forward_dropout` draws from `Ctx::train(seed)`, in its order, scaled by 1/(1 − p).
fn masks(seed: u64) -> (Vec<f64>, Vec<f64>) {
    let dev = Cpu::default();
    let mut ctx = Ctx::train(seed);
    let m1 = dropout(dev.ones_like(&(B, L, H * E)), P, &mut ctx).as_vec();
    let m2 = dropout(dev.ones_like(&(B, L, E)), P, &mut ctx).as_vec();
    (m1.iter().map(|&v| v as f64).collect(), m2.iter().map(|&v| v as f64).collect())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

fn f64s(v: Vec<f32>) -> Vec<f64> {
    v.into_iter().map(|v| v as f64).collect()
}

#[test]
fn without_dropout_the_layer_is_the_loop_and_unchanged() {
    let (layer, x, params) = setup();
    let plain = layer.forward(x.clone()).as_vec();
    let ones = (vec![1.0; B * L * H * E], vec![1.0; B * L * E]);
    assert_close("forward", &f64s(plain.clone()), &reference(&params, &f64s(x.as_vec()), &ones.0, &ones.1), 1e-5, 0.0);
    // eval mode, and training with dropout switched off, give exactly `forward`
    assert_eq!(layer.forward_dropout(x.clone(), P, &mut Ctx::eval()).as_vec(), plain);
    assert_eq!(layer.forward_dropout(x.clone(), P, &mut Ctx::train(3).without_dropout()).as_vec(), plain);
}

#[test]
fn training_drops_before_combine_and_on_the_feed_forward_input() {
    let (layer, x, params) = setup();
    let (m1, m2) = masks(9);
    assert!(m1.contains(&0.0) && m2.contains(&0.0), "the seed drops something at both places");
    let got = f64s(layer.forward_dropout(x.clone(), P, &mut Ctx::train(9)).as_vec());
    let x64 = f64s(x.as_vec());
    assert_close("train", &got, &reference(&params, &x64, &m1, &m2), 1e-5, 0.0);
    // either mask alone does not explain the output: both places drop
    let ones1 = vec![1.0; m1.len()];
    let ones2 = vec![1.0; m2.len()];
    for (what, alone) in
        [("only before combine", reference(&params, &x64, &m1, &ones2)), ("only feed-forward", reference(&params, &x64, &ones1, &m2))]
    {
        let worst = got.iter().zip(&alone).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst > 1e-3, "{what} matches too: {worst:e}");
    }

    // the input gradient of Σ out·c with these masks against central differences of the loop
    let dev = Cpu::default();
    let c: Vec<f32> = dev.sample_normal_like(&(B, Const::<E>, Const::<L>)).as_vec();
    let y = layer.forward_dropout(x.clone().leaky_traced(), P, &mut Ctx::train(9));
    let loss = (y * dev.tensor_from_vec(c.clone(), (B, Const::<E>, Const::<L>))).sum();
    let dx = f64s(loss.backward().get(&x).as_vec());
    let c64 = f64s(c);
    let h = 1e-6;
    let fd = finite_diff(&x64, h, |x| reference(&params, x, &m1, &m2).iter().zip(&c64).map(|(a, b)| a * b).sum::<f64>());
    assert_close("d/dx", &dx, &fd, 1e-4, 1e-6);
}
