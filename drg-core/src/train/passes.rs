//! One pass of a model over batches of a set: with updates (a training epoch), without gradient
//! (the epoch-0 pass, validation, prediction), and the reference's epoch losses
//! ([`super::loss::epoch_loss`]) from what a pass saw.
//!
//! Inputs are handed to the model as `(batch, channels, length)` tensors: in a training step the
//! first carries the model's gradients (`traced(grads)`) and the others empty `OwnedTape`s that
//! merge inside the model; without gradient all carry `NoneTape`. The loss is the **sum** over the
//! batch, per head through [`loss::loss_sum`], heads summed (the reference's multi-output loss).

use dfdx::prelude::*;

use super::data_fit::append_side_by_side;
use super::loss::{self, epoch_loss, summed_loss, EpochTracks, LossKind};
use super::optim::Optimizer;
use super::prefetch::for_each_prefetched;
use super::progress::Progress;
use crate::data::{Dataset, SeqSet};
use crate::device::DrgDevice;
use crate::layers::Ctx;
use crate::model::{DrgModel, InputBatch};
use crate::ops::catch_alloc_failure;

/// What a pass collected: predictions and targets of every row it saw (dropped rows excluded),
/// each `rows × ΣT` with heads concatenated, and the summed training loss of the updates.
#[derive(Debug, Clone, Default)]
pub struct PassRecord {
    pub preds: Vec<f32>,
    pub targets: Vec<f32>,
    pub summed_train_loss: f64,
}

/// The loss functions of a model's heads and the epoch-loss normalisers ([`super::loss::EpochTracks`]).
#[derive(Debug, Clone)]
pub struct HeadLosses {
    /// Each head's training loss.
    pub train: Vec<LossKind>,
    /// Each head's weight in the training loss (the reference's `loss_weights`, 1 by default).
    pub weights: Vec<f32>,
    pub validation: Vec<LossKind>,
    pub widths: Vec<usize>,
    pub tracks: EpochTracks,
}

impl HeadLosses {
    /// The losses of model `M` with `widths` tracks per output (the data's): the declaration's
    /// (each output's own training loss, [`crate::model::OutputSpec::loss`]), or `loss[i]`,
    /// `weights[i]` and `validation[i]` for output `i` when given (the reference's
    /// `loss_function`, `loss_weights` and `validation_loss` at run time).
    pub fn of<M: DrgModel<D>, D: DrgDevice>(
        widths: &[usize],
        loss: Option<&[LossKind]>,
        weights: Option<&[f32]>,
        validation: Option<&[LossKind]>,
    ) -> anyhow::Result<Self> {
        let spec = M::SPEC;
        let per_output = |what: &str, n: usize| {
            anyhow::ensure!(n == spec.outputs.len(), "{what}: {n} values for the {} outputs of model {}", spec.outputs.len(), spec.name);
            Ok(())
        };
        let validation: Vec<LossKind> = match validation {
            Some(v) => {
                per_output("validation_loss", v.len())?;
                v.to_vec()
            }
            None => spec.outputs.iter().map(|o| o.validation).collect(),
        };
        anyhow::ensure!(validation.iter().any(|l| l.counts()), "validation_loss: every output is None, so nothing drives early stopping");
        let train: Vec<LossKind> = match loss {
            Some(l) => {
                per_output("loss_function", l.len())?;
                l.to_vec()
            }
            None => spec.outputs.iter().map(|o| o.loss).collect(),
        };
        anyhow::ensure!(train.iter().all(|l| l.counts()), "loss_function=None: the training loss must be a loss");
        let weights = match weights {
            Some(w) => {
                per_output("loss_weights", w.len())?;
                w.to_vec()
            }
            None => vec![1.0; spec.outputs.len()],
        };
        anyhow::ensure!(widths.len() == train.len(), "model {} has {} outputs, the data {}", spec.name, train.len(), widths.len());
        Ok(Self { train, weights, tracks: EpochTracks::new(widths, &validation), validation, widths: widths.to_vec() })
    }

    /// `(training loss function, validation loss function)` of the collected predictions, each
    /// divided by `n` (the full set size) times the tracks it counts.
    pub fn epoch_losses(&self, record: &PassRecord, n: usize) -> anyhow::Result<(f64, f64)> {
        let orig = weighted_summed_loss(&self.train, &self.weights, &record.preds, &record.targets, &self.widths)?;
        let val = summed_loss(&self.validation, &record.preds, &record.targets, &self.widths)?;
        Ok((epoch_loss(orig, n, self.tracks.all), epoch_loss(val, n, self.tracks.valid)))
    }

    /// The training loss of the updates divided by `n · ΣT`.
    pub fn train_loss(&self, record: &PassRecord, n: usize) -> f64 {
        epoch_loss(record.summed_train_loss, n, self.tracks.all)
    }

    /// The training loss of one batch as a differentiable scalar: each head's own loss
    /// ([`loss::loss_sum`]) times its weight, heads summed (the reference's multi-output loss).
    pub fn batch_loss<D: DrgDevice, T: Tape<f32, D> + Merge<T>>(
        &self,
        heads: Vec<Tensor<(usize, usize), f32, D, T>>,
        targets: &[Vec<f32>],
    ) -> anyhow::Result<Tensor<Rank0, f32, D, T>> {
        anyhow::ensure!(
            heads.len() == self.train.len() && targets.len() == heads.len(),
            "{} heads for {} losses",
            heads.len(),
            self.train.len()
        );
        let mut total: Option<Tensor<Rank0, f32, D, T>> = None;
        for (h, head) in heads.into_iter().enumerate() {
            let mut l = loss::loss_sum(self.train[h], head, &targets[h])?;
            if self.weights[h] != 1.0 {
                l = l * self.weights[h];
            }
            total = Some(match total {
                None => l,
                Some(t) => t + l,
            });
        }
        total.ok_or_else(|| anyhow::anyhow!("a model without outputs has no loss"))
    }
}

/// The summed training loss of heads side by side, each head's [`summed_loss`] times its weight;
/// with every weight 1 it is [`summed_loss`] itself.
fn weighted_summed_loss(kinds: &[LossKind], weights: &[f32], pred: &[f32], target: &[f32], widths: &[usize]) -> anyhow::Result<f64> {
    if weights.iter().all(|&w| w == 1.0) {
        return Ok(summed_loss(kinds, pred, target, widths)?);
    }
    let cols: usize = widths.iter().sum();
    let rows = pred.len().checked_div(cols).unwrap_or(0);
    let mut total = 0.0;
    let mut off = 0;
    for ((&kind, &w), &width) in kinds.iter().zip(weights).zip(widths) {
        let columns =
            |v: &[f32]| -> Vec<f32> { (0..rows).flat_map(|r| v[r * cols + off..r * cols + off + width].iter().copied()).collect() };
        total += w as f64 * summed_loss(&[kind], &columns(pred), &columns(target), &[width])?;
        off += width;
    }
    Ok(total)
}

/// A model returning another number of heads than its spec declares is a bug in the model.
fn check_heads<M: DrgModel<D>, D: DrgDevice>(got: usize) -> anyhow::Result<()> {
    let want = M::SPEC.outputs.len();
    anyhow::ensure!(got == want && want > 0, "model {} returned {got} outputs, its spec declares {want}", M::SPEC.name);
    Ok(())
}

/// Runs a pass whose largest batch has `rows` sequences. Memory that one of its allocations could
/// not get (see [`crate::ops::AllocFailure`]) becomes one error line naming the batch size and the
/// memory. The prefetch thread's scope is inside, so it is joined before the error is returned.
fn run_batch<R>(rows: usize, batch: impl FnOnce() -> anyhow::Result<R>) -> anyhow::Result<R> {
    catch_alloc_failure(batch).map_err(|failure| {
        anyhow::anyhow!(
            "a batch of {rows} sequences needs more memory than this machine gives: {failure}; choose a smaller batch size (--batchsize, or batchsize= in --cnn)"
        )
    })?
}

/// The gathered inputs of `rows` as tensors on `dev` with tape `T` (`NoneTape`, or empty
/// `OwnedTape`s).
fn input_tensors<D: DrgDevice, T: Tape<f32, D> + Default>(
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    host: Vec<Vec<f32>>,
) -> Vec<InputBatch<D, T>> {
    data.inputs.iter().zip(host).map(|(x, buf)| dev.tensor_from_vec(buf, (rows.len(), 4, x.length)).retaped::<T>()).collect()
}

/// A pass without gradient over `batches` in the mode of `ctx_for(batch index)` (eval for
/// validation and prediction; train for the reference's epoch-0 pass). `dev` is the model's
/// device.
#[allow(clippy::too_many_arguments)]
pub fn pass_without_gradient<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    batches: &[Vec<usize>],
    mut ctx_for: impl FnMut(usize) -> Ctx,
    progress: &Progress,
    label: &str,
) -> anyhow::Result<PassRecord> {
    let widths = data.n_tracks();
    let mut rec = PassRecord::default();
    progress.start_pass(label, batches.iter().map(Vec::len).sum());
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    run_batch(largest, || {
        for_each_prefetched(
            data,
            batches,
            |n| dev.host_buffer(n),
            |b, rows, batch| {
                let mut ctx = ctx_for(b);
                let heads = model.forward(input_tensors::<D, NoneTape>(dev, data, rows, batch.inputs), &mut ctx);
                check_heads::<M, D>(heads.len())?;
                let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
                append_side_by_side(&host, &widths, rows.len(), &mut rec.preds);
                append_side_by_side(&batch.targets, &widths, rows.len(), &mut rec.targets);
                progress.batch_done(rows.len(), None);
                Ok(())
            },
        )
    })?;
    dev.end_pass();
    Ok(rec)
}

/// A training pass: for every batch a forward pass in train mode (`ctx_for(batch index)`), the
/// summed loss, backward, and one optimizer step. `grads` is reused between batches.
#[allow(clippy::too_many_arguments)]
pub fn training_pass<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    opt: &mut Optimizer<D>,
    grads: &mut Option<Gradients<f32, D>>,
    data: &Dataset,
    batches: &[Vec<usize>],
    mut ctx_for: impl FnMut(usize) -> Ctx,
    losses: &HeadLosses,
    progress: &Progress,
) -> anyhow::Result<PassRecord> {
    let mut rec = PassRecord::default();
    let per_value = (losses.tracks.all.max(1)) as f64;
    let mut seen = 0usize;
    progress.start_pass("train", batches.iter().map(Vec::len).sum());
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    run_batch(largest, || {
        for_each_prefetched(
            data,
            batches,
            |n| dev.host_buffer(n),
            |b, rows, batch| {
                let mut ctx = ctx_for(b);
                let g = grads.take().unwrap_or_else(|| model.alloc_grads());
                let mut inputs = input_tensors::<D, OwnedTape<f32, D>>(dev, data, rows, batch.inputs);
                inputs[0] = inputs[0].retaped::<NoneTape>().traced(g);
                let heads = model.forward(inputs, &mut ctx);
                check_heads::<M, D>(heads.len())?;
                let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
                let targets = batch.targets;
                let total = losses.batch_loss(heads, &targets)?;
                let value = total.as_vec()[0] as f64;
                let mut g = total.backward();
                opt.update(model, &mut g)?;
                model.zero_grads(&mut g);
                *grads = Some(g);
                rec.summed_train_loss += value;
                append_side_by_side(&host, &losses.widths, rows.len(), &mut rec.preds);
                append_side_by_side(&targets, &losses.widths, rows.len(), &mut rec.targets);
                seen += rows.len();
                progress.batch_done(rows.len(), Some(rec.summed_train_loss / (seen as f64 * per_value)));
                Ok(())
            },
        )
    })?;
    dev.end_pass();
    Ok(rec)
}

/// Predictions for `rows` in eval mode, in sequential batches of `batch_size` (the reference's
/// `batched_predict`), `rows × ΣT` with heads concatenated.
pub fn predict<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    rows: &[usize],
    batch_size: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<f32>> {
    let batches: Vec<Vec<usize>> = rows.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect();
    Ok(pass_without_gradient(model, dev, data, &batches, |_| Ctx::eval(), progress, "predict")?.preds)
}

/// Predictions of `model` for `rows` of `inputs` (sequences alone, no measured values), in eval
/// mode and sequential batches of `batch_size` as [`predict`]: `rows × ΣT`, heads side by side,
/// with the model's own track counts.
pub fn predict_inputs<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    inputs: &[SeqSet],
    rows: &[usize],
    batch_size: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<f32>> {
    let widths = model.output_widths();
    let mut preds = Vec::with_capacity(rows.len() * widths.iter().sum::<usize>());
    progress.start_pass("predict", rows.len());
    run_batch(batch_size, || {
        for batch in rows.chunks(batch_size.max(1)) {
            let tensors: Vec<InputBatch<D, NoneTape>> = inputs
                .iter()
                .map(|s| {
                    let w = 4 * s.length;
                    let mut buf = dev.host_buffer(batch.len() * w);
                    for (&i, dst) in batch.iter().zip(buf.chunks_exact_mut(w.max(1))) {
                        s.bases.expand_row(i, dst);
                    }
                    dev.tensor_from_vec(buf, (batch.len(), 4, s.length))
                })
                .collect();
            let heads = model.forward(tensors, &mut Ctx::eval());
            check_heads::<M, D>(heads.len())?;
            let host: Vec<Vec<f32>> = heads.iter().map(|h| h.as_vec()).collect();
            append_side_by_side(&host, &widths, batch.len(), &mut preds);
            progress.batch_done(batch.len(), None);
        }
        Ok(())
    })?;
    dev.end_pass();
    Ok(preds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::loss::elementwise_loss;
    use crate::train::test_model::Tiny;

    /// Two heads with different losses and weights: the batch loss is the weighted sum of each
    /// head's loss computed on its own (values from the host's elementwise losses, gradients from
    /// each head's loss alone and, for MSE, 2(p − y)), and the epoch losses agree with it.
    #[test]
    fn each_head_is_trained_on_its_own_weighted_loss() {
        use LossKind::{Correlationdata, Correlationmse, Mse};
        let (rows, widths) = (5, [4usize, 3]);
        let kinds = [Correlationdata, Mse];
        let losses = HeadLosses::of::<Tiny, Cpu>(&widths, Some(&kinds), Some(&[1.0, 0.5]), None).unwrap();
        assert_eq!((losses.train.clone(), losses.weights.clone()), (kinds.to_vec(), vec![1.0, 0.5]));
        // Without run-time settings the declaration's per-output losses and weight 1 apply.
        let declared = HeadLosses::of::<Tiny, Cpu>(&widths, None, None, None).unwrap();
        assert_eq!((declared.train, declared.weights), (vec![Correlationmse; 2], vec![1.0; 2]));
        // Values on a 1/64 grid (exact in f32).
        let grid = |n: usize, k: usize| -> Vec<f32> { (0..n).map(|i| (((i * 37 + k * 11) % 97) as f32 - 48.0) / 64.0).collect() };
        let (p0, y0, p1, y1) = (grid(rows * 4, 1), grid(rows * 4, 2), grid(rows * 3, 3), grid(rows * 3, 4));
        let sum = |v: Vec<f32>| v.iter().map(|&x| x as f64).sum::<f64>();
        let want = sum(elementwise_loss(Correlationdata, &p0, &y0, 4).unwrap()) + 0.5 * sum(elementwise_loss(Mse, &p1, &y1, 3).unwrap());

        let dev: Cpu = Default::default();
        let h0: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(p0.clone(), (rows, 4));
        let h1: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(p1.clone(), (rows, 3));
        let total = losses.batch_loss(vec![h0.leaky_trace(), h1.leaky_trace()], &[y0.clone(), y1.clone()]).unwrap();
        let value = total.array() as f64;
        assert!((value - want).abs() <= 1e-5 * want.abs(), "{value} vs {want}");
        let grads = total.backward();
        let (g0, g1) = (grads.get(&h0).as_vec(), grads.get(&h1).as_vec());
        let alone = loss::loss_sum(Correlationdata, h0.leaky_trace(), &y0).unwrap().backward();
        assert_eq!(g0, alone.get(&h0).as_vec(), "head 0 sees only its own loss");
        for (i, ((g, p), y)) in g1.iter().zip(&p1).zip(&y1).enumerate() {
            let mse = 0.5 * 2.0 * (p - y);
            assert!((g - mse).abs() <= 1e-6, "d/dhead1[{i}]: {g} vs {mse}");
        }

        // The epoch bookkeeping: the training loss weighted the same way, over N · ΣT.
        let mut rec = PassRecord { summed_train_loss: value, ..Default::default() };
        append_side_by_side(&[p0.clone(), p1.clone()], &widths, rows, &mut rec.preds);
        append_side_by_side(&[y0.clone(), y1.clone()], &widths, rows, &mut rec.targets);
        let (train, val) = losses.epoch_losses(&rec, rows).unwrap();
        assert!((train - want / (rows * 7) as f64).abs() <= 1e-6 * train.abs(), "{train}");
        assert!((losses.train_loss(&rec, rows) - train).abs() <= 1e-6 * train.abs());
        // Tiny validates only `ex` (Correlationdata), unweighted.
        let val_want = sum(elementwise_loss(Correlationdata, &p0, &y0, 4).unwrap()) / (rows * 4) as f64;
        assert!((val - val_want).abs() <= 1e-6 * val_want.abs(), "{val} vs {val_want}");

        let e = HeadLosses::of::<Tiny, Cpu>(&widths, Some(&[Mse]), None, None).unwrap_err().to_string();
        assert_eq!(e, "loss_function: 1 values for the 2 outputs of model Tiny");
        let e = HeadLosses::of::<Tiny, Cpu>(&widths, Some(&[Mse, LossKind::None]), None, None).unwrap_err().to_string();
        assert_eq!(e, "loss_function=None: the training loss must be a loss");
    }

    #[test]
    fn a_batch_whose_memory_cannot_be_had_is_one_error_line() {
        let dev: dfdx::tensor::Cpu = Default::default();
        // More values than the address space holds: refused on any machine, without touching memory.
        let n = usize::MAX / 8;
        let err = run_batch(4096, || Ok(dev.host_buffer(n).len())).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "a batch of 4096 sequences needs more memory than this machine gives: cannot allocate 8.0 EiB for one buffer of {n} values; choose a smaller batch size (--batchsize, or batchsize= in --cnn)"
            )
        );
        assert!(!err.contains('\n'));
        // The same through a host kernel's own scratch buffers.
        let err = run_batch(2, || Ok(crate::ops::host::Scratch::<f32>::for_overwrite(n).len())).unwrap_err().to_string();
        assert!(err.starts_with("a batch of 2 sequences needs more memory"), "{err}");
        // A batch that fits runs as it is.
        assert_eq!(run_batch(2, || Ok(dev.host_buffer(3))).unwrap(), vec![0.0; 3]);
        // Other panics are not swallowed.
        let other = std::panic::catch_unwind(|| run_batch(1, || -> anyhow::Result<()> { panic!("a bug") }));
        assert!(other.is_err());
    }
}
