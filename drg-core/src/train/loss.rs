//! The loss side of training: the reference's losses (defined and computed in [`crate::ops::loss`],
//! re-exported here), the one-head loss of a batch as the trainer takes it ([`loss_sum`]), and
//! the epoch loss bookkeeping of the reference ([`epoch_loss`], [`EpochTracks`]: the
//! normalisation by `N · ΣT`).

use dfdx::shapes::{HasShape, Rank0, Shape};
use dfdx::tensor::{Tape, Tensor};

pub use crate::ops::loss::{elementwise_loss, summed_loss, LossKind, LossShapeError, UnknownLoss, COSINE_EPS};

use crate::device::DrgDevice;

/// The summed loss of a rank-2 prediction `(rows, tracks)` of one head, as a differentiable op:
/// [`DrgDevice::loss_sum_grouped`] with the whole row as one head.
pub fn loss_sum<S, D, T>(kind: LossKind, pred: Tensor<S, f32, D, T>, target: &[f32]) -> Result<Tensor<Rank0, f32, D, T>, LossShapeError>
where
    S: Shape<Concrete = [usize; 2]>,
    D: DrgDevice,
    T: Tape<f32, D>,
{
    let tracks = pred.shape().concrete()[1];
    D::loss_sum_grouped(kind, pred, target, &[tracks])
}

/// The track counts of one epoch's normaliser (the reference divides an epoch's summed loss by `N · ΣT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochTracks {
    /// Tracks of every head (ΣT).
    pub all: usize,
    /// Tracks of the heads whose validation loss is not `None` (ΣT_valid).
    pub valid: usize,
}

impl EpochTracks {
    /// From the heads' widths and their validation losses.
    pub fn new(widths: &[usize], validation: &[LossKind]) -> Self {
        let all = widths.iter().sum();
        let valid = widths.iter().zip(validation).filter(|(_, k)| k.counts()).map(|(w, _)| w).sum();
        Self { all, valid }
    }
}

/// A loss summed over an epoch divided by `N · tracks`, where `N` is the **full** set size (the
/// reference divides by it even though its loaders drop an incomplete last batch). With
/// `tracks == 0` (every validation loss `None`) this is NaN, as in the reference.
pub fn epoch_loss(summed: f64, n: usize, tracks: usize) -> f64 {
    summed / (n as f64 * tracks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::npz::read_npz;
    use dfdx::prelude::*;
    use rand::{Rng, SeedableRng};

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
    }

    /// Relative tolerance for gradients against the float32 reference.
    const GRAD_REL: f32 = 2e-5;

    /// |got − want| ≤ rel·|want| + abs_frac·max(1, max|want|): relative, with a floor for values
    /// that are float32 noise in the reference (1 − r = 2.4e-7 and gradients of 1e-7 on the row
    /// where r is 1 in exact arithmetic).
    fn assert_close(got: &[f32], want: &[f32], rel: f32, abs_frac: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= rel * w.abs() + abs_frac * scale, "{what}[{i}]: got {g}, want {w}");
        }
    }

    /// The summed loss and its gradient through dfdx's tape.
    fn taped(kind: LossKind, pred: &[f32], target: &[f32], rows: usize, widths: &[usize]) -> (f32, Vec<f32>) {
        let dev: Cpu = Default::default();
        let cols = widths.iter().sum();
        let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(pred.to_vec(), (rows, cols));
        let loss = <Cpu as DrgDevice>::loss_sum_grouped(kind, x.leaky_trace(), target, widths).unwrap();
        let value = loss.array();
        let grads = loss.backward();
        (value, grads.get(&x).as_vec())
    }

    #[test]
    fn losses_match_the_reference_fixture() {
        let npz = read_npz(fixture("losses.npz")).unwrap();
        let (shape, pred) = npz.f32("pred").unwrap();
        let (_, target) = npz.f32("target").unwrap();
        let (rows, cols) = (shape[0], shape[1]);
        for (name, kind) in
            [("Correlationdata", LossKind::Correlationdata), ("Correlationmse", LossKind::Correlationmse), ("MSE", LossKind::Mse)]
        {
            assert_eq!(name.parse::<LossKind>().unwrap(), kind);
            let (_, want_el) = npz.f32(&format!("loss/{name}/elementwise")).unwrap();
            let el = elementwise_loss(kind, &pred, &target, cols).unwrap();
            assert_close(&el, &want_el, 1e-5, 1e-6, &format!("{name} elementwise"));
            let (_, want_sum) = npz.f32(&format!("loss/{name}/sum")).unwrap();
            let host = summed_loss(&[kind], &pred, &target, &[cols]).unwrap();
            assert!(((host as f32) - want_sum[0]).abs() <= 1e-5 * want_sum[0].abs(), "{name} sum {host} vs {}", want_sum[0]);
            let (value, grad) = taped(kind, &pred, &target, rows, &[cols]);
            assert!((value - want_sum[0]).abs() <= 1e-5 * want_sum[0].abs(), "{name} taped sum");
            let (_, want_grad) = npz.f32(&format!("grad/{name}")).unwrap();
            assert!(grad.iter().all(|g| g.is_finite()), "{name}: non-finite gradient");
            // Rows 1 and 3 are the eps-clamp rows (gradients ~1e16, see fixtures/README.md).
            for row in (0..rows).filter(|r| kind == LossKind::Mse || (*r != 1 && *r != 3)) {
                let s = row * cols..(row + 1) * cols;
                assert_close(&grad[s.clone()], &want_grad[s], GRAD_REL, 1e-5, &format!("{name} grad row {row}"));
            }
        }
    }

    #[test]
    fn two_heads_correlate_within_their_own_columns() {
        let npz = read_npz(fixture("losses.npz")).unwrap();
        let (shape, pred) = npz.f32("pred").unwrap();
        let (_, target) = npz.f32("target").unwrap();
        let (rows, cols) = (shape[0], shape[1]);
        let split = npz.f32("twohead/split").unwrap().1[0] as usize;
        let widths = [split, cols - split];
        let (_, want_sum) = npz.f32("twohead/Correlationmse/sum").unwrap();
        let (_, want_grad) = npz.f32("twohead/grad").unwrap();
        let (value, grad) = taped(LossKind::Correlationmse, &pred, &target, rows, &widths);
        assert!((value - want_sum[0]).abs() <= 1e-5 * want_sum[0].abs(), "{value} vs {}", want_sum[0]);
        let kinds = [LossKind::Correlationmse; 2];
        let host = summed_loss(&kinds, &pred, &target, &widths).unwrap();
        assert!(((host as f32) - want_sum[0]).abs() <= 1e-5 * want_sum[0].abs());
        assert!(grad.iter().all(|g| g.is_finite()));
        for row in (0..rows).filter(|r| *r != 1 && *r != 3) {
            let s = row * cols..(row + 1) * cols;
            assert_close(&grad[s.clone()], &want_grad[s], GRAD_REL, 1e-5, &format!("twohead grad row {row}"));
        }
    }

    #[test]
    fn per_head_tensors_with_const_widths_sum_like_the_grouped_op() {
        // The trainer's pattern: one typed tensor per head, one loss_sum each, added.
        let npz = read_npz(fixture("losses.npz")).unwrap();
        let (shape, pred) = npz.f32("pred").unwrap();
        let (_, target) = npz.f32("target").unwrap();
        let (rows, cols) = (shape[0], shape[1]);
        let split = npz.f32("twohead/split").unwrap().1[0] as usize;
        assert_eq!((cols, split), (7, 3), "the fixture layout this test is typed for");
        let columns = |v: &[f32], r: std::ops::Range<usize>| -> Vec<f32> {
            (0..rows).flat_map(|i| v[i * cols + r.start..i * cols + r.end].to_vec()).collect()
        };
        let dev: Cpu = Default::default();
        let x0: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor_from_vec(columns(&pred, 0..3), (rows, Const));
        let x1: Tensor<(usize, Const<4>), f32, Cpu> = dev.tensor_from_vec(columns(&pred, 3..7), (rows, Const));
        let l0 = loss_sum(LossKind::Correlationmse, x0.leaky_trace(), &columns(&target, 0..3)).unwrap();
        let l1 = loss_sum(LossKind::Correlationmse, x1.leaky_trace(), &columns(&target, 3..7)).unwrap();
        let total = l0 + l1;
        let want_sum = npz.f32("twohead/Correlationmse/sum").unwrap().1[0];
        assert!((total.array() - want_sum).abs() <= 1e-5 * want_sum.abs());
        let grads = total.backward();
        let (_, want_grad) = npz.f32("twohead/grad").unwrap();
        let (g0, g1) = (grads.get(&x0).as_vec(), grads.get(&x1).as_vec());
        for row in (0..rows).filter(|r| *r != 1 && *r != 3) {
            let got: Vec<f32> = g0[row * 3..row * 3 + 3].iter().chain(&g1[row * 4..row * 4 + 4]).copied().collect();
            assert_close(&got, &want_grad[row * cols..(row + 1) * cols], GRAD_REL, 1e-5, &format!("per-head grad row {row}"));
        }
        // Without a tape the op is a plain forward.
        let plain = loss_sum(LossKind::Mse, x0.clone(), &columns(&target, 0..3)).unwrap();
        let host = summed_loss(&[LossKind::Mse], &columns(&pred, 0..3), &columns(&target, 0..3), &[3]).unwrap();
        assert!((plain.array() as f64 - host).abs() <= 1e-5 * host.abs());
    }

    /// Independent f64 reference for the finite differences: the definition in `ops/loss.rs`, written
    /// directly (centre, clamp each norm, cosine, broadcast, sum).
    fn naive_sum(kind: LossKind, p: &[f64], y: &[f64], widths: &[usize]) -> f64 {
        let cols: usize = widths.iter().sum();
        let mut total = 0.0;
        for row in 0..p.len() / cols {
            let mut off = row * cols;
            for &w in widths {
                let (pp, yy) = (&p[off..off + w], &y[off..off + w]);
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                let a: Vec<f64> = pp.iter().map(|v| v - mean(pp)).collect();
                let c: Vec<f64> = yy.iter().map(|v| v - mean(yy)).collect();
                let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-16);
                let r: f64 = a.iter().zip(&c).map(|(x, z)| (x / norm(&a)) * (z / norm(&c))).sum();
                for t in 0..w {
                    let sq = (pp[t] - yy[t]).powi(2);
                    total += match kind {
                        LossKind::Correlationdata => 1.0 - r,
                        LossKind::Correlationmse => 0.95 * (1.0 - r) + 0.05 * sq,
                        LossKind::Mse => sq,
                        LossKind::None => 0.0,
                        other => unreachable!("{other:?} is checked in tests/losses_breadth.rs"),
                    };
                }
                off += w;
            }
        }
        total
    }

    #[test]
    fn gradients_match_central_finite_differences() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (rows, widths) = (5, [4usize, 3]);
        let cols: usize = widths.iter().sum();
        // Values on a 1/64 grid are exact in f32, so the f32 kernel and the f64 reference see the
        // same inputs.
        let pred: Vec<f32> = (0..rows * cols).map(|_| (rng.gen_range(-128..128) as f32) / 64.0).collect();
        let target: Vec<f32> = (0..rows * cols).map(|_| (rng.gen_range(-128..128) as f32) / 64.0).collect();
        let p64: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
        let y64: Vec<f64> = target.iter().map(|&v| v as f64).collect();
        for kind in [LossKind::Correlationdata, LossKind::Correlationmse, LossKind::Mse] {
            let (value, grad) = taped(kind, &pred, &target, rows, &widths);
            let want = naive_sum(kind, &p64, &y64, &widths);
            assert!((value as f64 - want).abs() <= 1e-5 * want.abs(), "{kind:?}: {value} vs {want}");
            let h = 1e-6;
            for i in 0..pred.len() {
                let mut up = p64.clone();
                up[i] += h;
                let mut dn = p64.clone();
                dn[i] -= h;
                let fd = (naive_sum(kind, &up, &y64, &widths) - naive_sum(kind, &dn, &y64, &widths)) / (2.0 * h);
                assert!((grad[i] as f64 - fd).abs() <= 2e-6 * (1.0 + fd.abs()), "{kind:?} d/dpred[{i}]: {} vs {fd}", grad[i]);
            }
        }
    }

    #[test]
    fn degenerate_rows_stay_finite() {
        // Constant prediction, constant target, both constant, all zero, tiny magnitudes.
        let pred = [0.5f32, 0.5, 0.5, 1.0, 2.0, 3.0, 7.0, 7.0, 7.0, 0.0, 0.0, 0.0, 1e-30, -1e-30, 0.0];
        let target = [1.0f32, 2.0, 4.0, 1.5, 1.5, 1.5, 7.0, 7.0, 7.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0];
        for kind in [LossKind::Correlationdata, LossKind::Correlationmse, LossKind::Mse] {
            let el = elementwise_loss(kind, &pred, &target, 3).unwrap();
            assert!(el.iter().all(|v| v.is_finite()), "{kind:?}: {el:?}");
            let (value, grad) = taped(kind, &pred, &target, 5, &[3]);
            assert!(value.is_finite() && grad.iter().all(|g| g.is_finite()), "{kind:?}: {value} {grad:?}");
        }
        // A constant row has r = 0: Correlationdata is exactly 1 on each of its elements.
        let el = elementwise_loss(LossKind::Correlationdata, &pred, &target, 3).unwrap();
        assert!(el[..12].iter().all(|&v| v == 1.0), "{el:?}");
        // Constant target: u = 0, so the correlation gradient is 0 (finite, no 0/0).
        let (_, grad) = taped(LossKind::Correlationdata, &pred, &target, 5, &[3]);
        assert!(grad[3..6].iter().all(|&g| g == 0.0), "{grad:?}");
    }

    #[test]
    fn bad_shapes_and_names_are_errors() {
        assert!(elementwise_loss(LossKind::Mse, &[1.0, 2.0], &[1.0], 2).unwrap_err().to_string().contains("2 values but target has 1"));
        assert!(elementwise_loss(LossKind::Mse, &[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 2).is_err());
        let e = summed_loss(&[LossKind::Mse], &[1.0; 8], &[1.0; 8], &[2, 2]).unwrap_err();
        assert_eq!(e.to_string(), "loss: 1 loss functions for 2 heads");
        let e = summed_loss(&[LossKind::Mse; 2], &[1.0; 6], &[1.0; 6], &[2, 2]).unwrap_err();
        assert_eq!(e.to_string(), "loss: 6 values are not a whole number of rows of 4 tracks");
        let dev: Cpu = Default::default();
        let x: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(2, 3));
        assert!(<Cpu as DrgDevice>::loss_sum_grouped(LossKind::Mse, x, &[0.0; 6], &[2, 2]).is_err());
        assert_eq!(
            "Poisson".parse::<LossKind>().unwrap_err().to_string(),
            "unknown loss 'Poisson': expected one of MSE, L1Loss, PoissonNNL, Cosinedata, Cosineclass, Correlationdata, Correlationclass, \
             Correlationsumdata, Correlationmse, MSECorrelation, Correlationboth, Cosineboth, None"
        );
    }

    /// Reads the heads of `group/output/<h>` and `train/target/<h>` of a model fixture, concatenated.
    fn heads(npz: &crate::import::npz::Npz, group: &str) -> (usize, Vec<usize>, Vec<f32>, Vec<f32>) {
        let mut widths = Vec::new();
        let (mut pred, mut target) = (Vec::new(), Vec::new());
        let mut parts = Vec::new();
        while let Ok((shape, p)) = npz.f32(&format!("{group}/output/{}", widths.len())) {
            let (_, y) = npz.f32(&format!("train/target/{}", widths.len())).unwrap();
            widths.push(shape[1]);
            parts.push((shape[0], p, y));
        }
        let rows = parts[0].0;
        let cols: usize = widths.iter().sum();
        pred.resize(rows * cols, 0.0);
        target.resize(rows * cols, 0.0);
        let mut off = 0;
        for ((_, p, y), &w) in parts.iter().zip(&widths) {
            for r in 0..rows {
                pred[r * cols + off..r * cols + off + w].copy_from_slice(&p[r * w..(r + 1) * w]);
                target[r * cols + off..r * cols + off + w].copy_from_slice(&y[r * w..(r + 1) * w]);
            }
            off += w;
        }
        (rows, widths, pred, target)
    }

    #[test]
    fn epoch_bookkeeping_matches_the_model_fixtures() {
        use LossKind::*;
        let cases: [(&str, &[LossKind]); 3] =
            [("base.npz", &[Correlationdata]), ("B.npz", &[Correlationdata, None, None]), ("F1.npz", &[Correlationdata, None, None])];
        for (file, validation) in cases {
            let npz = read_npz(fixture(file)).unwrap();
            for (group, key) in [("eval", "eval/epoch_losses"), ("train", "train/epoch_losses")] {
                let (n, widths, pred, target) = heads(&npz, group);
                let tracks = EpochTracks::new(&widths, validation);
                let want = npz.get(key).unwrap().to_f64().unwrap();
                let train_kinds = vec![Correlationmse; widths.len()];
                let l_train = epoch_loss(summed_loss(&train_kinds, &pred, &target, &widths).unwrap(), n, tracks.all);
                let l_val = epoch_loss(summed_loss(validation, &pred, &target, &widths).unwrap(), n, tracks.valid);
                assert!((l_train - want[0]).abs() <= 1e-5 * want[0].abs(), "{file} {key} L_train {l_train} vs {}", want[0]);
                assert!((l_val - want[1]).abs() <= 1e-5 * want[1].abs(), "{file} {key} L_val {l_val} vs {}", want[1]);
                if group == "train" {
                    let loss = npz.f32("train/loss").unwrap().1[0] as f64;
                    assert!((epoch_loss(loss, n, tracks.all) - want[0]).abs() <= 1e-5 * want[0].abs());
                }
            }
        }
        assert!(epoch_loss(0.0, 8, EpochTracks::new(&[3], &[LossKind::None]).valid).is_nan());
    }
}
