//! The twelve losses of the reference (`LossKind`, issue 16 point 3) against the reference's own
//! numbers in `fixtures/breadth/losses.npz` (element-wise values, sums and gradients, the
//! degenerate rows included), the device-generic composite against the same fixture, and the host
//! kernel's gradients against central finite differences of an independent f64 definition.

mod ops_support;

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::import::npz::{read_npz, Npz};
use drg_core::ops::composite;
use drg_core::train::loss::{elementwise_loss, summed_loss, LossKind};
use ops_support::*;

fn fixture() -> Npz {
    read_npz(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/breadth/losses.npz")).expect("read breadth/losses.npz")
}

/// The losses of the fixture: every kind but `None`.
fn fixture_kinds() -> impl Iterator<Item = LossKind> {
    LossKind::ALL.into_iter().filter(|k| *k != LossKind::None)
}

/// Per row of a `(rows, cols)` matrix: max|a − b| ≤ rel·max(max|b_row|, 1). Per row because the
/// degenerate rows' gradients are ~1e14–1e18 and would swamp a whole-matrix scale; the floor of 1
/// covers values that are float32 rounding noise in the reference (exact value 0).
fn assert_rows_close(what: &str, got: &[f32], want: &[f32], cols: usize, rel: f32, skip: &[usize]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (row, (g, w)) in got.chunks(cols).zip(want.chunks(cols)).enumerate().filter(|(r, _)| !skip.contains(r)) {
        let allowed = rel * w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = g.iter().zip(w).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= allowed, "{what}: row {row}: max|a−b| = {worst:e} > {allowed:e} ({g:?} vs {w:?})");
    }
}

/// The summed loss and d sum / d pred of one head through `$f` (the host kernel or the composite).
macro_rules! sum_and_grad {
    ($f:path, $kind:expr, $pred:expr, $target:expr, $rows:expr, $widths:expr) => {{
        let dev = Cpu::default();
        let widths: &[usize] = $widths;
        let x = dev.tensor_from_vec($pred.to_vec(), ($rows, widths.iter().sum::<usize>()));
        let l = $f($kind, x.leaky_trace(), $target, widths).expect("shapes");
        let value = l.as_vec()[0];
        (value, l.backward().get(&x).as_vec())
    }};
}

#[test]
fn host_losses_match_the_breadth_fixture() {
    let npz = fixture();
    let (shape, pred) = fx(&npz, "pred");
    let (_, target) = fx(&npz, "target");
    let (rows, cols) = (shape[0], shape[1]);
    for kind in fixture_kinds() {
        let name = kind.name();
        assert_eq!(name.parse::<LossKind>(), Ok(kind));
        let elementwise = elementwise_loss(kind, &pred, &target, cols).unwrap();
        let want = fx(&npz, &format!("loss/{name}/elementwise")).1;
        assert_eq!(elementwise.len(), want.len(), "{name}: the reference's element-wise shape");
        assert_rows_close(&format!("{name} element-wise"), &elementwise, &want, cols, 1e-5, &[]);
        let want_sum = fx(&npz, &format!("loss/{name}/sum")).1[0] as f64;
        let sum = summed_loss(&[kind], &pred, &target, &[cols]).unwrap();
        assert!((sum - want_sum).abs() <= 1e-5 * want_sum.abs(), "{name}: host sum {sum} vs {want_sum}");
        let (value, grad) = sum_and_grad!(DrgDevice::loss_sum_grouped, kind, &pred, &target, rows, &[cols]);
        assert!((value as f64 - want_sum).abs() <= 1e-5 * want_sum.abs(), "{name}: taped sum {value} vs {want_sum}");
        assert_rows_close(&format!("{name} gradient"), &grad, &fx(&npz, &format!("grad/{name}")).1, cols, 2e-5, &[]);
    }
}

/// The composite works in f32 and clamps the squared norm (no gradient through the clamp): on the
/// rows whose centred prediction is (near) zero (1: constant, 3: magnitude 1e-18), the correlation's
/// gradient along that row (~1e16, ill-conditioned; see the composite's module note) is not
/// compared. The sum and every other row are, for every loss (column and row-sum lines included).
#[test]
fn composite_losses_match_the_breadth_fixture() {
    let npz = fixture();
    let (shape, pred) = fx(&npz, "pred");
    let (_, target) = fx(&npz, "target");
    let (rows, cols) = (shape[0], shape[1]);
    for kind in fixture_kinds() {
        let name = kind.name();
        let want_sum = fx(&npz, &format!("loss/{name}/sum")).1[0] as f64;
        let (value, grad) = sum_and_grad!(composite::loss_sum_grouped, kind, &pred, &target, rows, &[cols]);
        assert!((value as f64 - want_sum).abs() <= 1e-5 * want_sum.abs(), "{name}: composite sum {value} vs {want_sum}");
        assert!(grad.iter().all(|g| g.is_finite()), "{name}: non-finite composite gradient");
        let row_correlation = matches!(kind, LossKind::Correlationdata | LossKind::Correlationmse | LossKind::Correlationboth);
        let skip: &[usize] = if row_correlation { &[1, 3] } else { &[] };
        assert_rows_close(&format!("{name} composite gradient"), &grad, &fx(&npz, &format!("grad/{name}")).1, cols, 2e-5, skip);
    }
}

// ---------------------------------------------------------------------------------------------
// an independent definition for the finite differences

/// Pearson correlation with torch's per-vector eps clamp (ε = 1e-16).
fn pearson(p: &[f64], y: &[f64]) -> f64 {
    let centred = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - m).collect::<Vec<_>>()
    };
    let (a, c) = (centred(p), centred(y));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-16);
    a.iter().zip(&c).map(|(x, z)| x * z).sum::<f64>() / (norm(&a) * norm(&c))
}

/// Plain cosine, no eps.
fn cosine(p: &[f64], y: &[f64]) -> f64 {
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
    dot(p, y) / (dot(p, p) * dot(y, y)).sqrt()
}

/// The loss summed over one `(rows, tracks)` block, written out loss by loss.
fn naive_sum(kind: LossKind, p: &[f64], y: &[f64], tracks: usize) -> f64 {
    let rows = p.len() / tracks;
    let row = |v: &[f64], r: usize| v[r * tracks..(r + 1) * tracks].to_vec();
    let col = |v: &[f64], c: usize| (0..rows).map(|r| v[r * tracks + c]).collect::<Vec<_>>();
    let sums = |v: &[f64]| (0..rows).map(|r| row(v, r).iter().sum()).collect::<Vec<f64>>();
    let over_rows = |s: fn(&[f64], &[f64]) -> f64| (0..rows).map(|r| tracks as f64 * (1.0 - s(&row(p, r), &row(y, r)))).sum::<f64>();
    let over_cols = |s: fn(&[f64], &[f64]) -> f64| (0..tracks).map(|c| rows as f64 * (1.0 - s(&col(p, c), &col(y, c)))).sum::<f64>();
    let squared: f64 = p.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    let n = (rows * tracks) as f64;
    match kind {
        LossKind::Mse => squared,
        LossKind::L1Loss => p.iter().zip(y).map(|(a, b)| (a - b).abs()).sum(),
        LossKind::PoissonNnl => p.iter().zip(y).map(|(a, b)| a.exp() - b * a).sum(),
        LossKind::Cosinedata => over_rows(cosine),
        LossKind::Cosineclass => over_cols(cosine),
        LossKind::Correlationdata => over_rows(pearson),
        LossKind::Correlationclass => over_cols(pearson),
        LossKind::Correlationsumdata => n * (1.0 - pearson(&sums(p), &sums(y))),
        LossKind::Correlationmse => 0.95 * over_rows(pearson) + 0.05 * squared,
        LossKind::MseCorrelation => 0.95 * over_cols(pearson) + 0.05 * squared,
        LossKind::Correlationboth => 0.5 * over_rows(pearson) / n + 0.5 * over_cols(pearson) / n,
        LossKind::Cosineboth => 0.5 * over_rows(cosine) + 0.5 * over_cols(cosine),
        LossKind::None => 0.0,
    }
}

#[test]
fn host_gradients_match_central_finite_differences() {
    let (rows, widths) = (5, [4usize, 3]);
    let cols: usize = widths.iter().sum();
    // Values on a 1/64 grid are exact in f32, so the f32 kernel and the f64 definition see the same inputs.
    let grid = |v: Vec<f32>| v.into_iter().map(|x| (x * 64.0).round() / 64.0).collect::<Vec<f32>>();
    let (pred, target) = (grid(randn(rows * cols, 1601)), grid(randn(rows * cols, 1602)));
    let head = |v: &[f32], h: usize| -> Vec<f64> {
        let (off, w) = (widths[..h].iter().sum::<usize>(), widths[h]);
        v.chunks(cols).flat_map(|r| r[off..off + w].iter().map(|&x| x as f64)).collect()
    };
    for kind in fixture_kinds() {
        // two heads side by side: each head's loss over its own columns, heads summed
        let total = |p: &[f64], h: usize, y: &[f64]| naive_sum(kind, p, y, widths[h]);
        let want: f64 = (0..2).map(|h| total(&head(&pred, h), h, &head(&target, h))).sum();
        let (value, grad) = sum_and_grad!(DrgDevice::loss_sum_grouped, kind, &pred, &target, rows, &widths);
        assert!((value as f64 - want).abs() <= 1e-5 * want.abs(), "{kind:?}: {value} vs {want}");
        for h in 0..2 {
            let y = head(&target, h);
            let fd = finite_diff(&head(&pred, h), 1e-6, |p| total(p, h, &y));
            let got = head(&grad, h);
            for (i, (g, d)) in got.iter().zip(&fd).enumerate() {
                assert!((g - d).abs() <= 2e-5 * (1.0 + d.abs()), "{kind:?} head {h} d/dpred[{i}]: {g} vs {d}");
            }
        }
        // the composite: same value and gradient
        let (c_value, c_grad) = sum_and_grad!(composite::loss_sum_grouped, kind, &pred, &target, rows, &widths);
        assert_close(&format!("{kind:?} composite value"), &[c_value], &[value as f64], 1e-5);
        assert_close(&format!("{kind:?} composite gradient"), &c_grad, &to_f64(&grad), 1e-5);
    }
}

#[test]
fn every_loss_name_parses_back_and_unknown_names_list_the_valid_ones() {
    for (kind, name) in LossKind::ALL.into_iter().zip(drg_core::ops::loss::LOSS_NAMES) {
        assert_eq!(kind.name(), name);
        assert_eq!(name.parse::<LossKind>(), Ok(kind));
    }
    let message = "Cosine".parse::<LossKind>().unwrap_err().to_string();
    assert!(message.starts_with("unknown loss 'Cosine': expected one of MSE, L1Loss, PoissonNNL,"), "{message}");
    assert!(drg_core::ops::loss::LOSS_NAMES.iter().all(|n| message.contains(n)), "{message}");
}
