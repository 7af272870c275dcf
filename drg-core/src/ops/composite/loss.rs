//! Device-generic version of the training loss [`crate::ops::loss::loss_sum_grouped_host`]: the same sum over
//! a `(rows, tracks)` prediction, built from dfdx ops so that the backward pass runs on the
//! prediction's device.
//!
//! Per row (and head): `a = ŷ − mean(ŷ)`, `c = y − mean(y)`, `r = a·c / (max(‖a‖, ε)·max(‖c‖, ε))`
//! with ε = [`COSINE_EPS`]; the clamp is applied to the squared norm (`max(‖a‖², ε²)`, then
//! `sqrt`), which is the same function but keeps the gradient finite (0 through the clamp) when a
//! row is exactly constant. The loss is `Σ_rows wc·T·(1 − r) + ws·Σ(ŷ − y)²`.
//!
//! Deviation from the host loss (which works in f64): a row whose centred prediction is zero in
//! exact arithmetic may come out as f32 rounding noise here (the mean of a constant row is not
//! always exact in f32), so on such degenerate rows the correlation's gradient — huge and
//! ill-conditioned in the reference too (≈ u/ε) — differs. Ordinary rows agree to rounding.

use dfdx::prelude::*;

use crate::ops::loss::{check_shapes as host_check_shapes, LossKind, LossShapeError, COSINE_EPS};

/// The host loss's per-element weights, in f32.
fn weights(kind: LossKind) -> (f32, f32) {
    let (wc, ws) = kind.weights();
    (wc as f32, ws as f32)
}

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

/// The summed loss of one head's `(rows, T)` block.
fn head_loss<D: Device<f32>, T: Tape<f32, D>>(kind: LossKind, pred: Mat<D, T>, target: Mat<D, NoneTape>) -> Tensor<Rank0, f32, D, T> {
    let (wc, ws) = weights(kind);
    let (rows, tracks) = *pred.shape();
    let squared = |p: Mat<D, T>, y: Mat<D, NoneTape>| (p - y).square().sum::<Rank0, _>() * ws;
    if wc == 0.0 {
        return squared(pred, target);
    }
    let sq = (ws != 0.0).then(|| squared(pred.with_empty_tape(), target.clone()));
    let c = centred(target);
    let nc = clamped_norm(c.clone());
    let a = centred(pred);
    let na = clamped_norm(a.with_empty_tape());
    let r = (a * c).sum::<(usize,), Axis<1>>() / (na * nc);
    let t = tracks as f32;
    let corr = r.sum::<Rank0, _>() * (-wc * t) + (wc * t * rows as f32);
    match sq {
        Some(sq) => corr + sq,
        None => corr,
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
