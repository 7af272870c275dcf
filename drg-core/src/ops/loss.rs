//! The reference's training and validation losses as host kernels (their definition is written
//! out below and tested against the reference's values in `fixtures/losses.npz` and
//! `fixtures/breadth/losses.npz`).
//!
//! Every loss is defined per element of a `(rows, tracks)` prediction matrix and **summed**; the
//! gradient of the sum is what trains the model (the reference never takes a mean before
//! `backward`). Each loss is a weighted sum of [`Term`]s: element-wise errors, or `1 − s` of a
//! similarity `s` (Pearson correlation = torch's `CosineSimilarity` of the centred vectors, or
//! the plain cosine) along the rows (the tracks of one data point), the columns (one track across
//! the data points) or the rows' sums, broadcast to every element of its line.
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

/// Weight of the correlation term in `Correlationmse` / `MSECorrelation`; the squared error gets
/// `1 − CORR_WEIGHT` (the reference's `correlation_mse(ratio = 0.95)`).
const CORR_WEIGHT: f64 = 0.95;

/// Weight of the row term in `Correlationboth` / `Cosineboth` (the reference's `ratio = 0.5`).
const BOTH_RATIO: f64 = 0.5;

/// A loss of the reference, by the name its `--cnn loss_function=` / `validation_loss=` options
/// use. "Row" is a data point, "column" a track: a `(rows, tracks)`
/// matrix of one head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// `(ŷ − y)²` per element.
    Mse,
    /// `|ŷ − y|` per element (torch's `L1Loss`; its gradient at `ŷ = y` is 0).
    L1Loss,
    /// `exp(ŷ) − y·ŷ` per element: torch's `PoissonNLLLoss` at its defaults (`log_input=True`,
    /// `full=False`), the prediction being the log rate.
    PoissonNnl,
    /// `1 − cos(ŷ_row, y_row)` on every element of the row (uncentred, no eps: the fixture's row
    /// of magnitude 1e-18 is unclamped in the reference; an all-zero row gives NaN here).
    Cosinedata,
    /// `1 − cos(ŷ_col, y_col)` on every element of the column (across the data points).
    Cosineclass,
    /// `1 − r_row` on every element of the row.
    Correlationdata,
    /// `1 − r_col` on every element of the column: the correlation across the data points.
    Correlationclass,
    /// `1 − r` of the rows' sums over tracks, correlated across the data points, on every element.
    Correlationsumdata,
    /// `0.95·(1 − r_row) + 0.05·(ŷ − y)²` per element.
    Correlationmse,
    /// `0.95·(1 − r_col) + 0.05·(ŷ − y)²` per element.
    MseCorrelation,
    /// One scalar: `0.5·mean_rows(1 − r_row) + 0.5·mean_cols(1 − r_col)` (the reference's
    /// `correlation_both` ignores `reduction='none'`).
    Correlationboth,
    /// One scalar: `rows·tracks·(0.5·mean_rows(1 − cos_row) + 0.5·mean_cols(1 − cos_col))`.
    Cosineboth,
    /// Validation only: the head does not count (weight 0, tracks excluded from the normaliser).
    None,
}

/// Every loss by its reference name, in the order of the reference's list.
pub const LOSS_NAMES: [&str; 13] = [
    "MSE",
    "L1Loss",
    "PoissonNNL",
    "Cosinedata",
    "Cosineclass",
    "Correlationdata",
    "Correlationclass",
    "Correlationsumdata",
    "Correlationmse",
    "MSECorrelation",
    "Correlationboth",
    "Cosineboth",
    "None",
];

/// A loss name the reference does not know (or drg-rs does not implement).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown loss '{0}': expected one of MSE, L1Loss, PoissonNNL, Cosinedata, Cosineclass, Correlationdata, Correlationclass, Correlationsumdata, Correlationmse, MSECorrelation, Correlationboth, Cosineboth, None")]
pub struct UnknownLoss(pub String);

impl FromStr for LossKind {
    type Err = UnknownLoss;
    fn from_str(s: &str) -> Result<Self, UnknownLoss> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownLoss(s.to_string()))
    }
}

/// Which lines of a head's `(rows, tracks)` block a similarity runs along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// Each row (data point) across its tracks.
    Rows,
    /// Each column (track) across the data points.
    Columns,
    /// One line: the rows' sums over tracks, across the data points.
    RowSums,
}

/// Centred (Pearson correlation, with torch's `CosineSimilarity` eps clamp) or plain cosine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Similarity {
    Correlation,
    Cosine,
}

/// One summand of a loss over a head's block; a loss's sum is a weighted sum of these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Term {
    /// `Σ (ŷ − y)²`.
    Squared,
    /// `Σ |ŷ − y|`.
    Absolute,
    /// `Σ exp(ŷ) − y·ŷ`.
    Poisson,
    /// `Σ_lines n·(1 − s_line)`, with `n` the elements each line's value is broadcast to (the
    /// line's length, or every element for `RowSums`).
    Dissimilarity(Similarity, Lines),
}

impl LossKind {
    /// Every loss, in the order of [`LOSS_NAMES`].
    pub const ALL: [LossKind; 13] = [
        Self::Mse,
        Self::L1Loss,
        Self::PoissonNnl,
        Self::Cosinedata,
        Self::Cosineclass,
        Self::Correlationdata,
        Self::Correlationclass,
        Self::Correlationsumdata,
        Self::Correlationmse,
        Self::MseCorrelation,
        Self::Correlationboth,
        Self::Cosineboth,
        Self::None,
    ];

    /// The reference's option name (`MSE`, not `Mse`): used in output names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mse => "MSE",
            Self::L1Loss => "L1Loss",
            Self::PoissonNnl => "PoissonNNL",
            Self::Cosinedata => "Cosinedata",
            Self::Cosineclass => "Cosineclass",
            Self::Correlationdata => "Correlationdata",
            Self::Correlationclass => "Correlationclass",
            Self::Correlationsumdata => "Correlationsumdata",
            Self::Correlationmse => "Correlationmse",
            Self::MseCorrelation => "MSECorrelation",
            Self::Correlationboth => "Correlationboth",
            Self::Cosineboth => "Cosineboth",
            Self::None => "None",
        }
    }

    /// Whether a head with this validation loss counts for validation and early stopping.
    pub fn counts(self) -> bool {
        self != Self::None
    }

    /// Whether the reference returns one scalar for the whole block instead of one value per
    /// element even with `reduction='none'` (`Correlationboth`, `Cosineboth`).
    pub fn is_scalar(self) -> bool {
        matches!(self, Self::Correlationboth | Self::Cosineboth)
    }

    /// The loss summed over a `(rows, tracks)` block as weighted [`Term`]s.
    pub(crate) fn terms(self, rows: usize, tracks: usize) -> Vec<(Term, f64)> {
        use Lines::*;
        use Similarity::*;
        use Term::*;
        let elements = (rows * tracks) as f64;
        match self {
            Self::Mse => vec![(Squared, 1.0)],
            Self::L1Loss => vec![(Absolute, 1.0)],
            Self::PoissonNnl => vec![(Poisson, 1.0)],
            Self::Cosinedata => vec![(Dissimilarity(Cosine, Rows), 1.0)],
            Self::Cosineclass => vec![(Dissimilarity(Cosine, Columns), 1.0)],
            Self::Correlationdata => vec![(Dissimilarity(Correlation, Rows), 1.0)],
            Self::Correlationclass => vec![(Dissimilarity(Correlation, Columns), 1.0)],
            Self::Correlationsumdata => vec![(Dissimilarity(Correlation, RowSums), 1.0)],
            Self::Correlationmse => vec![(Dissimilarity(Correlation, Rows), CORR_WEIGHT), (Squared, 1.0 - CORR_WEIGHT)],
            Self::MseCorrelation => vec![(Dissimilarity(Correlation, Columns), CORR_WEIGHT), (Squared, 1.0 - CORR_WEIGHT)],
            // mean over lines of (1 − s) = Σ_lines n·(1 − s) / (rows·tracks) for either direction
            Self::Correlationboth => vec![
                (Dissimilarity(Correlation, Rows), BOTH_RATIO / elements),
                (Dissimilarity(Correlation, Columns), (1.0 - BOTH_RATIO) / elements),
            ],
            Self::Cosineboth => vec![(Dissimilarity(Cosine, Rows), BOTH_RATIO), (Dissimilarity(Cosine, Columns), 1.0 - BOTH_RATIO)],
            Self::None => vec![],
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

/// Pearson correlation `r` of one line (torch's cosine similarity of the centred vectors, each
/// clamped by [`COSINE_EPS`] separately) and, on request, `dr/dŷ` written into `dr`.
///
/// A constant line has a zero centred vector and gives `r = 0`. torch (2.x) clamps the norms'
/// *values* in place under `no_grad`, so the backward still runs through the unclamped norm:
/// `dr/da = (u − r·a/‖a‖) / max(‖a‖, ε)` (`u` the normalised centred target), with the second
/// term 0 when `‖a‖ = 0`. On a clamped line this is about `u/ε` ≈ 1e16, the reference's own
/// (finite) behaviour; `breadth/losses.npz` row 3 (norm 2.5e-18) checks the second term.
fn correlation(pred: &[f64], target: &[f64], dr: Option<&mut [f64]>) -> f64 {
    let t = pred.len() as f64;
    let mp = pred.iter().sum::<f64>() / t;
    let mt = target.iter().sum::<f64>() / t;
    let (mut aa, mut cc, mut ac) = (0.0, 0.0, 0.0);
    for (&p, &y) in pred.iter().zip(target) {
        let a = p - mp;
        let c = y - mt;
        aa += a * a;
        cc += c * c;
        ac += a * c;
    }
    let na = aa.sqrt().max(COSINE_EPS);
    let nc = cc.sqrt().max(COSINE_EPS);
    let r = ac / (na * nc);
    if let Some(dr) = dr {
        // r = (a·u)/na with u = c/nc; the norm's gradient is a/‖a‖ (0 at ‖a‖ = 0, as torch's).
        let norm_a = aa.sqrt();
        let mut mean = 0.0;
        for ((d, &p), &y) in dr.iter_mut().zip(pred).zip(target) {
            let a = p - mp;
            let u = (y - mt) / nc;
            let through_norm = if norm_a > 0.0 { r * a / norm_a } else { 0.0 };
            *d = (u - through_norm) / na;
            mean += *d;
        }
        // Back through the centring a = ŷ − mean(ŷ).
        mean /= t;
        dr.iter_mut().for_each(|d| *d -= mean);
    }
    r
}

/// The reference's cosine similarity of one line, `Σŷy / sqrt(Σŷ²·Σy²)` (no centring, no eps:
/// `breadth/losses.npz` row 3, magnitude 1e-18, is unclamped; a zero line gives NaN), and on
/// request `ds/dŷ` written into `ds`.
fn cosine(pred: &[f64], target: &[f64], ds: Option<&mut [f64]>) -> f64 {
    let (mut pp, mut yy, mut py) = (0.0, 0.0, 0.0);
    for (&p, &y) in pred.iter().zip(target) {
        pp += p * p;
        yy += y * y;
        py += p * y;
    }
    let norm = (pp * yy).sqrt();
    let s = py / norm;
    if let Some(ds) = ds {
        for ((d, &p), &y) in ds.iter_mut().zip(pred).zip(target) {
            *d = y / norm - s * p / pp;
        }
    }
    s
}

/// The element indices (row-major in a `(rows, tracks)` block) of every line of `lines`, with
/// the number of elements each line's value is broadcast to.
fn line_indices(lines: Lines, rows: usize, tracks: usize) -> Vec<(Vec<usize>, usize)> {
    match lines {
        Lines::Rows => (0..rows).map(|r| ((r * tracks..(r + 1) * tracks).collect(), tracks)).collect(),
        Lines::Columns => (0..tracks).map(|c| ((0..rows).map(|r| r * tracks + c).collect(), rows)).collect(),
        Lines::RowSums => vec![((0..rows * tracks).collect(), rows * tracks)],
    }
}

/// The summed loss of one head's `(rows, tracks)` block (row-major, f64) and, on request,
/// `d sum / d pred` added into `grad`. With `per_element`, also the loss of every element as
/// the reference's `reduction='none'` gives it (the terms' shares, each at its weight).
fn block_loss(
    kind: LossKind,
    pred: &[f64],
    target: &[f64],
    tracks: usize,
    mut grad: Option<&mut [f64]>,
    mut per_element: Option<&mut [f64]>,
) -> f64 {
    let rows = pred.len().checked_div(tracks).unwrap_or(0);
    let mut total = 0.0;
    for (term, w) in kind.terms(rows, tracks) {
        match term {
            Term::Squared | Term::Absolute | Term::Poisson => {
                for (i, (&p, &y)) in pred.iter().zip(target).enumerate() {
                    let (value, slope) = match term {
                        Term::Squared => ((p - y) * (p - y), 2.0 * (p - y)),
                        Term::Absolute => ((p - y).abs(), if p == y { 0.0 } else { (p - y).signum() }),
                        _ => (p.exp() - y * p, p.exp() - y),
                    };
                    total += w * value;
                    if let Some(g) = grad.as_deref_mut() {
                        g[i] += w * slope;
                    }
                    if let Some(e) = per_element.as_deref_mut() {
                        e[i] += w * value;
                    }
                }
            }
            Term::Dissimilarity(sim, lines) => {
                for (idx, n) in line_indices(lines, rows, tracks) {
                    // RowSums: the line is the rows' sums; its values fan back out to their rows.
                    let (lp, ly, members): (Vec<f64>, Vec<f64>, Vec<Vec<usize>>) = if lines == Lines::RowSums {
                        let sums = |v: &[f64]| (0..rows).map(|r| v[r * tracks..(r + 1) * tracks].iter().sum()).collect();
                        (sums(pred), sums(target), (0..rows).map(|r| (r * tracks..(r + 1) * tracks).collect()).collect())
                    } else {
                        (
                            idx.iter().map(|&i| pred[i]).collect(),
                            idx.iter().map(|&i| target[i]).collect(),
                            idx.iter().map(|&i| vec![i]).collect(),
                        )
                    };
                    let mut ds = vec![0.0; lp.len()];
                    let want_grad = grad.is_some().then_some(&mut ds[..]);
                    let s = match sim {
                        Similarity::Correlation => correlation(&lp, &ly, want_grad),
                        Similarity::Cosine => cosine(&lp, &ly, want_grad),
                    };
                    total += w * n as f64 * (1.0 - s);
                    if let Some(g) = grad.as_deref_mut() {
                        for (d, m) in ds.iter().zip(&members) {
                            m.iter().for_each(|&i| g[i] -= w * n as f64 * d);
                        }
                    }
                    if let Some(e) = per_element.as_deref_mut() {
                        idx.iter().for_each(|&i| e[i] += w * (1.0 - s));
                    }
                }
            }
        }
    }
    total
}

/// One head's columns `offset..offset + width` of a row-major `(rows, cols)` matrix, in f64.
fn head_block(values: &[f32], cols: usize, offset: usize, width: usize) -> Vec<f64> {
    values.chunks(cols).flat_map(|row| row[offset..offset + width].iter().map(|&v| v as f64)).collect()
}

/// The summed loss over a concatenated `(rows, Σwidths)` matrix whose heads are `widths` columns
/// wide (each head's loss over its own columns, heads summed), with `kinds[h]` the loss of head
/// `h`, and optionally its gradient `d sum / d pred` written into `grad`.
fn grouped_sum_and_grad(kinds: &[LossKind], pred: &[f32], target: &[f32], widths: &[usize], mut grad: Option<&mut [f64]>) -> f64 {
    let cols: usize = widths.iter().sum();
    if cols == 0 {
        return 0.0;
    }
    let mut total = 0.0;
    let mut offset = 0;
    for (&kind, &w) in kinds.iter().zip(widths) {
        if kind.counts() {
            let (hp, hy) = (head_block(pred, cols, offset, w), head_block(target, cols, offset, w));
            let mut hg = grad.is_some().then(|| vec![0.0; hp.len()]);
            total += block_loss(kind, &hp, &hy, w, hg.as_deref_mut(), None);
            if let (Some(g), Some(hg)) = (grad.as_deref_mut(), hg) {
                for (row, chunk) in g.chunks_mut(cols).zip(hg.chunks(w)) {
                    row[offset..offset + w].copy_from_slice(chunk);
                }
            }
        }
        offset += w;
    }
    total
}

/// The loss of every element of a `(rows, tracks)` matrix of one head, as the reference computes
/// it with `reduction='none'`. `LossKind::None` gives zeros. For `Correlationboth` and
/// `Cosineboth` the reference returns one scalar whatever the reduction, and so does this: a
/// vector of one value, the whole block's loss.
pub fn elementwise_loss(kind: LossKind, pred: &[f32], target: &[f32], tracks: usize) -> Result<Vec<f32>, LossShapeError> {
    check_shapes(pred.len(), target.len(), &[tracks])?;
    let p: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = target.iter().map(|&v| v as f64).collect();
    let mut out = vec![0f64; pred.len()];
    let total = block_loss(kind, &p, &y, tracks, None, Some(&mut out));
    if kind.is_scalar() {
        return Ok(vec![total as f32]);
    }
    Ok(out.into_iter().map(|v| v as f32).collect())
}

/// The summed loss of a concatenated `(rows, Σwidths)` matrix on the host (no tape), with one loss
/// kind per head: what the reference's epoch routine sums for validation. Heads whose kind is
/// `None` contribute 0.
pub fn summed_loss(kinds: &[LossKind], pred: &[f32], target: &[f32], widths: &[usize]) -> Result<f64, LossShapeError> {
    check_shapes(pred.len(), target.len(), widths)?;
    if kinds.len() != widths.len() {
        return Err(LossShapeError::Kinds { kinds: kinds.len(), heads: widths.len() });
    }
    Ok(grouped_sum_and_grad(kinds, pred, target, widths, None))
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
    let kinds = vec![kind; widths.len()];
    let value = grouped_sum_and_grad(&kinds, &host, target, widths, None);
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
            grouped_sum_and_grad(&kinds, &host, &target, &widths, Some(&mut g));
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
