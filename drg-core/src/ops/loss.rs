//! The reference's training and validation losses as host kernels (their definition is written
//! out below and tested against the reference's values in `fixtures/losses.npz`).
//!
//! Every loss is defined per element of a `(rows, tracks)` prediction matrix and **summed**; the
//! gradient of the sum is what trains the model (the reference never takes a mean before
//! `backward`). The correlation term is the Pearson correlation *across the tracks of one row*
//! (torch's `CosineSimilarity` of the centred rows), broadcast to every element of the row.
//!
//! * [`loss_sum_grouped_host`]: the summed loss as a differentiable op on a host device (the
//!   `Cpu` kernel of `DrgDevice::loss_sum_grouped`; the device-generic composite is
//!   [`super::composite::loss`]);
//! * [`elementwise_loss`], [`summed_loss`]: the same numbers on the host, without a tape
//!   (validation bookkeeping, reports).
//!
//! The maths runs in f64 on the host (the matrices are `batch × tracks`, tiny next to the trunk),
//! which keeps the degenerate-row paths exact and finite.

use std::str::FromStr;

use dfdx::shapes::{HasShape, Rank0, Shape};
use dfdx::tensor::{HasErr, PutTape, SplitTape, Tape, Tensor};

use super::host::HostDevice;

/// The clamp of torch's `CosineSimilarity`: each centred row is divided by `max(‖v‖, EPS)`.
pub const COSINE_EPS: f64 = 1e-16;

/// Weight of the correlation term in `Correlationmse`; the squared error gets `1 − CORR_WEIGHT`.
const CORR_WEIGHT: f64 = 0.95;

/// A loss of the reference, by the name its `--cnn loss_function=` / `validation_loss=` options use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// `1 − r_row` on every element of the row.
    Correlationdata,
    /// `0.95·(1 − r_row) + 0.05·(ŷ − y)²` per element.
    Correlationmse,
    /// `(ŷ − y)²` per element.
    Mse,
    /// Validation only: the head does not count (weight 0, tracks excluded from the normaliser).
    None,
}

/// A loss name the reference does not know (or drg-rs does not implement).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown loss '{0}': expected one of Correlationdata, Correlationmse, MSE, None")]
pub struct UnknownLoss(pub String);

impl FromStr for LossKind {
    type Err = UnknownLoss;
    fn from_str(s: &str) -> Result<Self, UnknownLoss> {
        match s {
            "Correlationdata" => Ok(Self::Correlationdata),
            "Correlationmse" => Ok(Self::Correlationmse),
            "MSE" => Ok(Self::Mse),
            "None" => Ok(Self::None),
            other => Err(UnknownLoss(other.to_string())),
        }
    }
}

impl LossKind {
    /// The reference's option name (`MSE`, not `Mse`): used in output names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Correlationdata => "Correlationdata",
            Self::Correlationmse => "Correlationmse",
            Self::Mse => "MSE",
            Self::None => "None",
        }
    }

    /// Whether a head with this validation loss counts for validation and early stopping.
    pub fn counts(self) -> bool {
        self != Self::None
    }

    /// Weight of the row's `1 − r` on each element, and weight of `(ŷ − y)²`.
    /// `(weight of the row's 1 − r, weight of (ŷ − y)²)` per element.
    pub(crate) fn weights(self) -> (f64, f64) {
        match self {
            Self::Correlationdata => (1.0, 0.0),
            Self::Correlationmse => (CORR_WEIGHT, 1.0 - CORR_WEIGHT),
            Self::Mse => (0.0, 1.0),
            Self::None => (0.0, 0.0),
        }
    }
}

/// Bad shapes handed to a loss: a caller bug, reported instead of panicking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossShapeError {
    #[error("loss: prediction has {pred} values but target has {target}")]
    Length { pred: usize, target: usize },
    #[error("loss: head widths {widths:?} sum to {sum}, but the matrix has {cols} tracks")]
    Widths { widths: Vec<usize>, sum: usize, cols: usize },
    #[error("loss: {len} values are not a whole number of rows of {cols} tracks")]
    Ragged { len: usize, cols: usize },
    #[error("loss: {kinds} loss functions for {heads} heads")]
    Kinds { kinds: usize, heads: usize },
}

pub(crate) fn check_shapes(pred: usize, target: usize, widths: &[usize]) -> Result<usize, LossShapeError> {
    if pred != target {
        return Err(LossShapeError::Length { pred, target });
    }
    let cols: usize = widths.iter().sum();
    if widths.contains(&0) || (cols == 0 && pred > 0) {
        return Err(LossShapeError::Widths { widths: widths.to_vec(), sum: cols, cols: 0 });
    }
    if cols > 0 && !pred.is_multiple_of(cols) {
        return Err(LossShapeError::Ragged { len: pred, cols });
    }
    Ok(cols)
}

/// Pearson correlation `r` of one row segment (torch's cosine similarity of the centred vectors,
/// each clamped by [`COSINE_EPS`] separately) and, on request, `dr/dŷ` written into `dr`.
///
/// A constant row has a zero centred vector and gives `r = 0`. When the centred prediction's norm
/// is at or below the clamp, torch's `max` passes no gradient to the norm, so `dr/da = u / eps`
/// (`u` the normalised centred target): about 1e16, the reference's own (finite) behaviour.
fn row_correlation(pred: &[f32], target: &[f32], dr: Option<&mut [f64]>) -> f64 {
    let t = pred.len() as f64;
    let mp = pred.iter().map(|&v| v as f64).sum::<f64>() / t;
    let mt = target.iter().map(|&v| v as f64).sum::<f64>() / t;
    let (mut aa, mut cc, mut ac) = (0.0, 0.0, 0.0);
    for (&p, &y) in pred.iter().zip(target) {
        let a = p as f64 - mp;
        let c = y as f64 - mt;
        aa += a * a;
        cc += c * c;
        ac += a * c;
    }
    let na = aa.sqrt().max(COSINE_EPS);
    let nc = cc.sqrt().max(COSINE_EPS);
    let r = ac / (na * nc);
    if let Some(dr) = dr {
        // r = (a·u)/na with u = c/nc. Unclamped: dr/da = (u − r·a/na)/na; clamped: u/eps.
        let clamped = aa.sqrt() <= COSINE_EPS;
        let mut mean = 0.0;
        for ((d, &p), &y) in dr.iter_mut().zip(pred).zip(target) {
            let a = p as f64 - mp;
            let u = (y as f64 - mt) / nc;
            *d = if clamped { u / na } else { (u - r * a / na) / na };
            mean += *d;
        }
        // Back through the centring a = ŷ − mean(ŷ).
        mean /= t;
        dr.iter_mut().for_each(|d| *d -= mean);
    }
    r
}

/// Visits every (row, head) segment of a concatenated `(rows, Σwidths)` matrix.
fn for_each_segment(len: usize, widths: &[usize], mut f: impl FnMut(std::ops::Range<usize>)) {
    let cols: usize = widths.iter().sum();
    if cols == 0 {
        return;
    }
    for row in 0..len / cols {
        let mut start = row * cols;
        for &w in widths {
            f(start..start + w);
            start += w;
        }
    }
}

/// The summed loss over a concatenated `(rows, Σwidths)` matrix whose heads are `widths` columns
/// wide (the correlation of each head runs over its own columns), and optionally its gradient
/// `d sum / d pred`. One loss kind for all heads, as the reference's training loss.
fn sum_and_grad(kind: LossKind, pred: &[f32], target: &[f32], widths: &[usize], mut grad: Option<&mut [f64]>) -> f64 {
    let (wc, ws) = kind.weights();
    let mut total = 0.0;
    for_each_segment(pred.len(), widths, |seg| {
        let (p, y) = (&pred[seg.clone()], &target[seg.clone()]);
        let t = p.len() as f64;
        let mut sq = 0.0;
        for (&a, &b) in p.iter().zip(y) {
            let d = a as f64 - b as f64;
            sq += d * d;
        }
        let mut r = 0.0;
        if wc != 0.0 {
            r = row_correlation(p, y, grad.as_deref_mut().map(|g| &mut g[seg.clone()]));
            if let Some(g) = grad.as_deref_mut() {
                // d/dŷ of Σ_t wc·(1 − r) = −wc·T·dr/dŷ.
                g[seg.clone()].iter_mut().for_each(|d| *d *= -wc * t);
            }
        } else if let Some(g) = grad.as_deref_mut() {
            g[seg.clone()].iter_mut().for_each(|d| *d = 0.0);
        }
        if ws != 0.0 {
            if let Some(g) = grad.as_deref_mut() {
                for ((d, &a), &b) in g[seg.clone()].iter_mut().zip(p).zip(y) {
                    *d += 2.0 * ws * (a as f64 - b as f64);
                }
            }
        }
        total += wc * t * (1.0 - r) + ws * sq;
    });
    total
}

/// The loss of every element of a `(rows, tracks)` matrix of one head, as the reference computes
/// it with `reduction='none'`. `LossKind::None` gives zeros.
pub fn elementwise_loss(kind: LossKind, pred: &[f32], target: &[f32], tracks: usize) -> Result<Vec<f32>, LossShapeError> {
    check_shapes(pred.len(), target.len(), &[tracks])?;
    let (wc, ws) = kind.weights();
    let mut out = vec![0f32; pred.len()];
    for_each_segment(pred.len(), &[tracks], |seg| {
        let (p, y) = (&pred[seg.clone()], &target[seg.clone()]);
        let corr = if wc != 0.0 { wc * (1.0 - row_correlation(p, y, None)) } else { 0.0 };
        for ((o, &a), &b) in out[seg].iter_mut().zip(p).zip(y) {
            let d = a as f64 - b as f64;
            *o = (corr + ws * d * d) as f32;
        }
    });
    Ok(out)
}

/// The summed loss of a concatenated `(rows, Σwidths)` matrix on the host (no tape), with one loss
/// kind per head: what the reference's epoch routine sums for validation. Heads whose kind is
/// `None` contribute 0.
pub fn summed_loss(kinds: &[LossKind], pred: &[f32], target: &[f32], widths: &[usize]) -> Result<f64, LossShapeError> {
    let cols = check_shapes(pred.len(), target.len(), widths)?;
    if kinds.len() != widths.len() {
        return Err(LossShapeError::Kinds { kinds: kinds.len(), heads: widths.len() });
    }
    let rows = pred.len().checked_div(cols).unwrap_or(0);
    let mut total = 0.0;
    let mut offset = 0;
    // Gather each head's columns once, then reuse the single-head kernel.
    let (mut hp, mut hy) = (Vec::new(), Vec::new());
    for (&kind, &w) in kinds.iter().zip(widths) {
        if kind.counts() {
            hp.clear();
            hy.clear();
            for row in 0..rows {
                let s = row * cols + offset;
                hp.extend_from_slice(&pred[s..s + w]);
                hy.extend_from_slice(&target[s..s + w]);
            }
            total += sum_and_grad(kind, &hp, &hy, &[w], None);
        }
        offset += w;
    }
    Ok(total)
}

/// The summed loss of a prediction `(rows, Σwidths)` whose tracks are heads side by side,
/// `widths[h]` columns each (the reference's multi-output loss: each head's correlation over its
/// own columns, heads summed), as a differentiable op on a host device: the `Cpu` kernel of
/// [`DrgDevice::loss_sum_grouped`](crate::device::DrgDevice::loss_sum_grouped).
///
/// `target` holds the targets in C order; `pred` must be contiguous (as every layer output
/// is). The result carries `pred`'s tape; its backward accumulates `d sum / d pred`.
pub(crate) fn loss_sum_grouped_host<S, D, T>(
    kind: LossKind,
    pred: Tensor<S, f32, D, T>,
    target: &[f32],
    widths: &[usize],
) -> Result<Tensor<Rank0, f32, D, T>, LossShapeError>
where
    S: Shape<Concrete = [usize; 2]>,
    D: HostDevice,
    T: Tape<f32, D>,
{
    let cols = pred.shape().concrete()[1];
    let n = pred.shape().num_elements();
    let sum_w = check_shapes(n, target.len(), widths)?;
    if sum_w != cols {
        return Err(LossShapeError::Widths { widths: widths.to_vec(), sum: sum_w, cols });
    }
    let (pred, mut tape) = pred.split_tape();
    let host = pred.as_vec();
    let value = sum_and_grad(kind, &host, target, widths, None);
    let mut buf = pred.device().host_buffer(1);
    buf[0] = value as f32;
    let out = pred.device().tensor_from_vec(buf, ());
    if T::OWNS_TAPE {
        let pred_ghost = pred.ghost();
        let out_ghost = out.ghost();
        let target = target.to_vec();
        let widths = widths.to_vec();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&out_ghost)?;
            let upstream = grads.get(&out_ghost).as_vec()[0] as f64;
            let mut g = vec![0f64; host.len()];
            sum_and_grad(kind, &host, &target, &widths, Some(&mut g));
            let dst = D::host_mut(grads.get_or_alloc_mut(&pred_ghost)?);
            debug_assert_eq!(dst.len(), g.len(), "loss_sum: the prediction must be contiguous");
            for (d, s) in dst.iter_mut().zip(&g) {
                *d += (upstream * s) as f32;
            }
            Ok::<(), <D as HasErr>::Err>(())
        });
    }
    Ok(out.put_tape(tape))
}
