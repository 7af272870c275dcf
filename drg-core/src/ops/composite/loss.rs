//! Device-generic version of the training loss [`crate::ops::loss::loss_sum_grouped_host`]: the same sum over
//! a `(rows, tracks)` prediction, built from dfdx ops so that the backward pass runs on the
//! prediction's device.
//!
//! A loss is the weighted sum of its [`Term`]s ([`LossKind::terms`], shared with the host kernel):
//! element-wise `Σ(ŷ − y)²`, `Σ|ŷ − y|`, `Σ exp(ŷ) − y·ŷ`, and `Σ_lines n·(1 − s_line)` for a
//! similarity `s` along the rows, the columns (a transposed view) or the rows' sums (one line).
//!
//! Correlation of a line: `a = ŷ − mean(ŷ)`, `c = y − mean(y)`, `r = a·c / (max(‖a‖, ε)·max(‖c‖, ε))`
//! with ε = [`COSINE_EPS`]; the clamp is applied to the squared norm (`max(‖a‖², ε²)`, then
//! `sqrt`), which is the same function but keeps the gradient finite (0 through the clamp) when a
//! line is exactly constant. Cosine: `Σŷy / sqrt(Σŷ²·Σy²)`, no clamp, as the host and the reference.
//!
//! Deviation from the host loss (which works in f64): a line whose centred prediction is zero in
//! exact arithmetic may come out as f32 rounding noise here (the mean of a constant line is not
//! always exact in f32), so on such degenerate lines the correlation's gradient — huge and
//! ill-conditioned in the reference too (≈ u/ε) — differs. Ordinary lines agree to rounding.

use dfdx::prelude::*;

use crate::ops::loss::{check_shapes as host_check_shapes, Lines, LossKind, LossShapeError, Similarity, Term, COSINE_EPS};

type Mat<D, T> = Tensor<(usize, usize), f32, D, T>;

/// `v − mean over each row`, broadcast back.
fn centred<D: Device<f32>, T: Tape<f32, D>>(v: Mat<D, T>) -> Mat<D, T> {
    let shape = *v.shape();
    let mean = v.with_empty_tape().mean::<(usize,), Axis<1>>().broadcast_like::<(usize, usize), Axis<1>>(&shape);
    v - mean
}

/// `max(‖v_row‖, ε)` for every row, as `sqrt(max(Σv², ε²))`.
fn clamped_norm<D: Device<f32>, T: Tape<f32, D>>(v: Mat<D, T>) -> Tensor<(usize,), f32, D, T> {
    let eps = COSINE_EPS as f32;
    v.square().sum::<(usize,), Axis<1>>().clamp(eps * eps, f32::INFINITY).sqrt()
}

/// The similarity of every row of `pred` with the same row of `target`.
fn row_similarity<D: Device<f32>, T: Tape<f32, D>>(
    sim: Similarity,
    pred: Mat<D, T>,
    target: Mat<D, NoneTape>,
) -> Tensor<(usize,), f32, D, T> {
    match sim {
        Similarity::Correlation => {
            let c = centred(target);
            let nc = clamped_norm(c.clone());
            let a = centred(pred);
            let na = clamped_norm(a.with_empty_tape());
            (a * c).sum::<(usize,), Axis<1>>() / (na * nc)
        }
        Similarity::Cosine => {
            let yy = target.clone().square().sum::<(usize,), Axis<1>>();
            let py = (pred.with_empty_tape() * target).sum::<(usize,), Axis<1>>();
            let pp = pred.square().sum::<(usize,), Axis<1>>();
            py / (pp * yy).sqrt()
        }
    }
}

/// `Σ_lines n·(1 − s_line)` over a head's `(rows, tracks)` block, `n` being the elements each
/// line's value is broadcast to.
fn dissimilarity<D: Device<f32>, T: Tape<f32, D>>(
    sim: Similarity,
    lines: Lines,
    pred: Mat<D, T>,
    target: Mat<D, NoneTape>,
) -> Tensor<Rank0, f32, D, T> {
    let (rows, tracks) = *pred.shape();
    let (s, n) = match lines {
        Lines::Rows => (row_similarity(sim, pred, target), tracks),
        Lines::Columns => {
            let (p, y) = (pred.permute::<(usize, usize), Axes2<1, 0>>(), target.permute::<(usize, usize), Axes2<1, 0>>());
            (row_similarity(sim, p, y), rows)
        }
        Lines::RowSums => {
            let p = pred.sum::<(usize,), Axis<1>>().reshape_like(&(1, rows));
            let y = target.sum::<(usize,), Axis<1>>().reshape_like(&(1, rows));
            (row_similarity(sim, p, y), rows * tracks)
        }
    };
    let count = s.shape().0;
    s.sum::<Rank0, _>() * -(n as f32) + (n * count) as f32
}

/// The summed loss of one head's `(rows, T)` block: its terms, weighted, added.
fn head_loss<D: Device<f32>, T: Tape<f32, D>>(kind: LossKind, pred: Mat<D, T>, target: Mat<D, NoneTape>) -> Tensor<Rank0, f32, D, T> {
    let (rows, tracks) = *pred.shape();
    let terms = kind.terms(rows, tracks);
    let Some(((last, last_w), rest)) = terms.split_last() else {
        // `None`: no term; a zero that still carries the prediction's tape.
        return pred.sum::<Rank0, _>() * 0.0;
    };
    let term = |term: Term, w: f64, pred: Mat<D, T>| {
        let w = w as f32;
        match term {
            Term::Squared => (pred - target.clone()).square().sum::<Rank0, _>() * w,
            Term::Absolute => (pred - target.clone()).abs().sum::<Rank0, _>() * w,
            Term::Poisson => (pred.with_empty_tape().exp() - pred * target.clone()).sum::<Rank0, _>() * w,
            Term::Dissimilarity(sim, lines) => dissimilarity(sim, lines, pred, target.clone()) * w,
        }
    };
    // every term but the last reads the prediction on an empty tape; the last consumes `pred`
    // itself, so the model's history joins the sum
    let mut total: Option<Tensor<Rank0, f32, D, T>> = None;
    for &(t, w) in rest {
        let value = term(t, w, pred.with_empty_tape());
        total = Some(match total {
            None => value,
            Some(sum) => sum + value,
        });
    }
    let last = term(*last, *last_w, pred);
    match total {
        Some(sum) => last + sum,
        None => last,
    }
}

/// [`crate::ops::loss::loss_sum_grouped_host`] on any device: heads side by side, `widths[h]`
/// columns each, each head's correlation over its own columns, heads summed.
pub fn loss_sum_grouped<S, D, T>(
    kind: LossKind,
    pred: Tensor<S, f32, D, T>,
    target: &[f32],
    widths: &[usize],
) -> Result<Tensor<Rank0, f32, D, T>, LossShapeError>
where
    S: Shape<Concrete = [usize; 2]>,
    D: Device<f32>,
    T: Tape<f32, D>,
{
    let [rows, cols] = pred.shape().concrete();
    check_shapes(rows * cols, target.len(), widths, cols)?;
    let dev = pred.device().clone();
    let pred = pred.reshape_like(&(rows, cols));
    let target = dev.tensor_from_vec(target.to_vec(), (rows, cols));
    if widths.len() == 1 {
        return Ok(head_loss(kind, pred, target));
    }
    // each head's columns through one batched gather (row-wise index)
    let columns = |start: usize, w: usize| {
        dev.tensor_from_vec((start..start + w).collect::<Vec<_>>(), (w,)).broadcast_like::<(usize, usize), Axis<0>>(&(rows, w))
    };
    let mut total: Option<Tensor<Rank0, f32, D, T>> = None;
    let mut pred = Some(pred);
    let mut start = 0;
    for (h, &w) in widths.iter().enumerate() {
        let idx = columns(start, w);
        // the last head consumes `pred` itself, so its tape (the model's history) joins the sum
        let p = if h + 1 == widths.len() { pred.take() } else { pred.as_ref().map(|p| p.with_empty_tape()) };
        let head = head_loss(kind, p.expect("one prediction per head").gather(idx.clone()), target.clone().gather(idx));
        total = Some(match total {
            None => head,
            Some(t) => t + head,
        });
        start += w;
    }
    Ok(total.expect("at least two heads"))
}

/// The host loss's shape checks, then the widths against the matrix, with the host's errors.
fn check_shapes(pred: usize, target: usize, widths: &[usize], cols: usize) -> Result<(), LossShapeError> {
    let sum = host_check_shapes(pred, target, widths)?;
    if sum != cols {
        return Err(LossShapeError::Widths { widths: widths.to_vec(), sum, cols });
    }
    Ok(())
}
