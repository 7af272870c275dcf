//! 1-d convolution (PyTorch `Conv1d` semantics, zero padding, any stride and dilation).
//!
//! dfdx 0.13 has no convolution on stable Rust, so this is our own op: per sample, the im2col
//! matrix `[CI·K × LO]` turns the convolution into one GEMM with the `[CO × CI·K]` weight
//! ([`sgemm_im2col`]: our AVX-512 kernel packs the matrix's panels straight from the input;
//! elsewhere it is written into a buffer for the `gemm` crate dfdx uses). Samples run in
//! parallel (one GEMM per sample and thread); in the forward pass, the samples left over when the
//! batch is not a multiple of the thread count are each split over the threads instead (see
//! [`forward_host_into`]). The backward pass, per sample (in parallel; with fewer samples than
//! threads the GEMM itself is parallel): `dW += dY·colᵀ` (col again packed from the input),
//! then `col ← Wᵀ·dY` into one buffer per thread, scattered back into `dx` (col2im).

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::host::{add_assign, dims, expect_dims, host_vec, ConsumedGrad, HostDevice, Scratch};
use super::sgemm::{sgemm, sgemm_im2col, Im2col, Im2colRhs, LHS_PANEL_ROWS};

/// Geometry of a 1-d convolution along the length axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub kernel: usize,
    pub dilation: usize,
    pub stride: usize,
    pub pad_left: usize,
    pub pad_right: usize,
}

impl ConvGeom {
    /// The reference's asymmetric 'same' padding: e = d(k−1)+1, left = ⌊e/2⌋ − [e even],
    /// right = ⌊e/2⌋, stride 1 (so the length is preserved).
    pub const fn same(kernel: usize, dilation: usize) -> Self {
        let e = dilation * (kernel - 1) + 1;
        let even = if e.is_multiple_of(2) { 1 } else { 0 };
        Self { kernel, dilation, stride: 1, pad_left: e / 2 - even, pad_right: e / 2 }
    }

    /// Output length for an input of length `len` (PyTorch's formula).
    pub const fn out_len(&self, len: usize) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = len + self.pad_left + self.pad_right;
        if padded < span {
            0
        } else {
            (padded - span) / self.stride + 1
        }
    }
}

/// The sizes of one convolution call, checked against each other.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvProblem {
    pub batch: usize,
    pub cin: usize,
    pub len: usize,
    pub cout: usize,
    pub len_out: usize,
    pub geom: ConvGeom,
}

impl ConvProblem {
    /// Reads and checks the dims of input, weight, bias and output; panics naming `op`.
    pub fn new<Si: Shape, Sw: Shape, So: Shape>(op: &str, x: &Si, w: &Sw, bias: Option<&[usize]>, geom: ConvGeom, out: &So) -> Self {
        let [batch, cin, len] = dims(x, op, "input");
        let [cout, wcin, k] = dims(w, op, "weight");
        assert!(geom.stride >= 1 && geom.dilation >= 1 && geom.kernel >= 1, "{op}: bad geometry {geom:?}");
        expect_dims(op, "weight [CO, CI, K]", &[cout, wcin, k], &[cout, cin, geom.kernel]);
        if let Some(b) = bias {
            expect_dims(op, "bias", b, &[cout]);
        }
        let len_out = geom.out_len(len);
        let o: [usize; 3] = dims(out, op, "output shape");
        expect_dims(op, "output shape", &o, &[batch, cout, len_out]);
        Self { batch, cin, len, cout, len_out, geom }
    }

    /// Rows of the im2col matrix (CI·K).
    fn cols(&self) -> usize {
        self.cin * self.geom.kernel
    }

    /// For output position t and tap j: input position t·s + j·d − pad_left. Returns the range
    /// of t for which that position lies inside [0, len), and the offset at t = 0.
    fn valid_range(&self, j: usize) -> (usize, usize, isize) {
        let g = &self.geom;
        let off = (j * g.dilation) as isize - g.pad_left as isize;
        let s = g.stride as isize;
        // first t with t·s + off >= 0
        let t0 = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
        // last t with t·s + off <= len − 1
        let hi = self.len as isize - 1 - off;
        let t1 = if hi < 0 { 0 } else { (hi / s + 1).min(self.len_out as isize) };
        let t0 = (t0 as usize).min(self.len_out);
        (t0, (t1 as usize).max(t0), off)
    }

    /// The im2col matrix of one sample `x` (`[CI × L]`), as a GEMM operand:
    /// `col[(i·K + j)·LO + t] = xpad[i, t·s + j·d]`.
    fn im2col_of<'a>(&self, x: &'a [f32]) -> Im2col<'a> {
        let g = &self.geom;
        Im2col { x, len: self.len, kernel: g.kernel, dilation: g.dilation, stride: g.stride, pad_left: g.pad_left, len_out: self.len_out }
    }

    /// im2col of one sample, written out.
    #[cfg(test)]
    fn im2col(&self, x: &[f32], col: &mut [f32]) {
        self.im2col_of(x).write_into(col);
    }

    /// The adjoint of [`Self::im2col`]: `dx[i, t·s + j·d − pad_left] += col[(i·K + j)·LO + t]`.
    fn col2im_add(&self, col: &[f32], dx: &mut [f32]) {
        let (k, lo, s) = (self.geom.kernel, self.len_out, self.geom.stride);
        for i in 0..self.cin {
            let dxi = &mut dx[i * self.len..(i + 1) * self.len];
            for j in 0..k {
                let row = &col[(i * k + j) * lo..(i * k + j + 1) * lo];
                let (t0, t1, off) = self.valid_range(j);
                if t1 > t0 {
                    let p0 = (t0 as isize * s as isize + off) as usize;
                    if s == 1 {
                        for (d, r) in dxi[p0..p0 + (t1 - t0)].iter_mut().zip(&row[t0..t1]) {
                            *d += *r;
                        }
                    } else {
                        for (r, p) in row[t0..t1].iter().zip((p0..).step_by(s)) {
                            dxi[p] += *r;
                        }
                    }
                }
            }
        }
    }

    /// Whether to parallelise over samples (one single-threaded GEMM each) or inside the GEMM.
    fn per_sample_parallel(&self) -> bool {
        self.batch >= rayon::current_num_threads()
    }

    /// The fewest samples a rayon task takes: one task per thread (so each thread allocates one
    /// im2col buffer and one set of weight gradients). Rounded down: rayon splits a range only
    /// into halves of at least this many, so rounding up would leave an odd batch (5 on 2
    /// threads) unsplit, run by the calling thread alone.
    fn samples_per_task(&self) -> usize {
        (self.batch / rayon::current_num_threads()).max(1)
    }

    fn gemm_parallelism(&self) -> Parallelism {
        if self.per_sample_parallel() {
            Parallelism::None
        } else {
            Parallelism::Rayon(0)
        }
    }
}

/// Forward pass on host data: `y[b] = W·im2col(x[b]) + bias`.
pub(crate) fn forward_host(p: &ConvProblem, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Scratch {
    let mut y = Scratch::for_overwrite(p.batch * p.cout * p.len_out);
    forward_host_into(p, x, w, bias, &mut y);
    y
}

/// [`forward_host`] into `y` (`batch · cout · len_out` values; every element is written).
///
/// Work is split so that both cores stay busy whatever the batch size: the largest multiple of
/// the thread count of samples runs one sample per task (single-threaded GEMMs, one im2col
/// buffer per thread), and each remaining sample (fewer than threads: the last samples of a
/// validation batch of 5, a batch of 1) is split inside: its im2col over the input channels and
/// its GEMM over blocks of output channels. Before, rayon ran a batch it could not split evenly
/// on the calling thread alone (a batch of 5 on 2 threads: one core idle for the whole pass).
/// Every output value is the same GEMM sum in the same order either way.
pub(crate) fn forward_host_into(p: &ConvProblem, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (cols, lo, co) = (p.cols(), p.len_out, p.cout);
    // every element is written: bias fill + accumulate, or a non-accumulating GEMM
    assert_eq!(y.len(), p.batch * co * lo, "conv1d: output buffer of the wrong length");
    let gemm_rows = |ys: &mut [f32], ws: &[f32], bs: Option<&[f32]>, xs: &[f32]| {
        if let Some(b) = bs {
            for (row, &bo) in ys.chunks_mut(lo).zip(b) {
                row.fill(bo);
            }
        }
        let rows = ys.len() / lo.max(1);
        let col = Im2colRhs::Plain(p.im2col_of(xs));
        sgemm_im2col((rows, lo, cols), ys, lo, bs.is_some(), ws, (1, cols), col, Parallelism::None);
    };
    let sample_in = (p.cin * p.len).max(1);
    let sample_out = (co * lo).max(1);
    let threads = rayon::current_num_threads().max(1);
    let whole = p.batch - p.batch % threads;
    let (y_whole, y_rest) = y.split_at_mut(whole * co * lo);
    let (x_whole, x_rest) = x.split_at(whole * p.cin * p.len);
    if whole > 0 {
        y_whole
            .par_chunks_mut(sample_out)
            .zip(x_whole.par_chunks(sample_in))
            .with_min_len(whole / threads)
            .for_each(|(ys, xs)| gemm_rows(ys, w, bias, xs));
    }
    // blocks of output channels, one per thread, whole row panels of the GEMM kernel
    let block = co.div_ceil(threads).next_multiple_of(LHS_PANEL_ROWS);
    for (ys, xs) in y_rest.chunks_mut(sample_out).zip(x_rest.chunks(sample_in)) {
        ys.par_chunks_mut(block * lo).zip(w.par_chunks(block * cols)).enumerate().for_each(|(n, (yb, wb))| {
            gemm_rows(yb, wb, bias.map(|b| &b[n * block..(n * block + block).min(co)]), xs);
        });
    }
}

/// Backward pass on host data: `dx += ∂L/∂x`; returns (`∂L/∂W`, `∂L/∂bias`).
pub(crate) fn backward_host(p: &ConvProblem, x: &[f32], w: &[f32], gout: &[f32], dx: &mut [f32]) -> (Scratch, Vec<f32>) {
    let (cols, lo, co) = (p.cols(), p.len_out, p.cout);
    let par = p.gemm_parallelism();
    let zeros = || (Scratch::zeroed(co * cols), vec![0.0f32; co]);
    // per sample: dW += dY·colᵀ, db += Σ_t dY, then col ← Wᵀ·dY and dx += col2im(col)
    let one = |(dw, db, col): &mut (Scratch, Vec<f32>, Scratch), ((xs, gs), dxs): ((&[f32], &[f32]), &mut [f32])| {
        sgemm_im2col((co, cols, lo), dw, cols, true, gs, (1, lo), Im2colRhs::Transposed(p.im2col_of(xs)), par);
        for (d, row) in db.iter_mut().zip(gs.chunks(lo)) {
            *d += row.iter().sum::<f32>();
        }
        sgemm((cols, lo, co), col, lo, false, w, (cols, 1), gs, (1, lo), par);
        p.col2im_add(col, dxs);
    };
    let sample_in = (p.cin * p.len).max(1);
    let sample_out = (co * lo).max(1);
    if p.per_sample_parallel() {
        x.par_chunks(sample_in)
            .zip(gout.par_chunks(sample_out))
            .zip(dx.par_chunks_mut(sample_in))
            .with_min_len(p.samples_per_task())
            .fold(
                || {
                    let (dw, db) = zeros();
                    (dw, db, Scratch::for_overwrite(cols * lo))
                },
                |mut acc, item| {
                    one(&mut acc, item);
                    acc
                },
            )
            .map(|(dw, db, _)| (dw, db))
            .reduce(zeros, |(mut dw, mut db), (dw2, db2)| {
                add_assign(&mut dw, &dw2);
                add_assign(&mut db, &db2);
                (dw, db)
            })
    } else {
        let (dw, db) = zeros();
        let mut acc = (dw, db, Scratch::for_overwrite(cols * lo));
        for item in x.chunks(sample_in).zip(gout.chunks(sample_out)).zip(dx.chunks_mut(sample_in)) {
            one(&mut acc, item);
        }
        (acc.0, acc.1)
    }
}

/// The host (CPU) kernel of [`DrgDevice::conv1d`](crate::device::DrgDevice::conv1d).
pub(crate) fn conv1d_host<Si: Shape, Sw: Shape, Sb: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    weight: &Tensor<Sw, f32, D>,
    bias: Option<&Tensor<Sb, f32, D>>,
    geom: ConvGeom,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let bias_dims = bias.map(|b| b.shape().concrete().as_ref().to_vec());
    let p = ConvProblem::new("conv1d", x.shape(), weight.shape(), bias_dims.as_deref(), geom, &out_shape);
    let (x, mut tape) = x.split_tape();
    let xh = host_vec(&x);
    let wh = host_vec(weight);
    let bh = bias.map(host_vec);
    let mut y = x.device().host_buffer(p.batch * p.cout * p.len_out);
    forward_host_into(&p, &xh, &wh, bh.as_deref(), &mut y);
    let out = x.device().tensor_from_vec(y, out_shape);
    if T::OWNS_TAPE {
        let (xg, wg, og) = (x.ghost(), weight.ghost(), out.ghost());
        let bg = bias.map(|b| b.ghost());
        let (dev, out_len) = (x.device().clone(), out.shape().num_elements());
        tape.add_backward_op(move |grads| {
            let gout = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "conv1d");
            let (dw, db) = backward_host(&p, &xh, &wh, &gout, D::host_mut(grads.get_or_alloc_mut(&xg)?));
            add_assign(D::host_mut(grads.get_or_alloc_mut(&wg)?), &dw);
            if let Some(bg) = &bg {
                add_assign(D::host_mut(grads.get_or_alloc_mut(bg)?), &db);
            }
            Ok(())
        });
    }
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_the_reference_formula() {
        assert_eq!(ConvGeom::same(15, 1), ConvGeom { kernel: 15, dilation: 1, stride: 1, pad_left: 7, pad_right: 7 });
        assert_eq!(ConvGeom::same(8, 1).pad_left, 3);
        assert_eq!(ConvGeom::same(8, 1).pad_right, 4);
        assert_eq!((ConvGeom::same(11, 4).pad_left, ConvGeom::same(11, 4).pad_right), (20, 20));
        assert_eq!((ConvGeom::same(4, 3).pad_left, ConvGeom::same(4, 3).pad_right), (4, 5));
        for (k, d) in [(15, 1), (8, 1), (11, 2), (4, 3), (2, 1)] {
            assert_eq!(ConvGeom::same(k, d).out_len(37), 37);
        }
    }

    /// A direct convolution in f64 from the definition: `y[b, o, t] = bias[o] + Σ_i Σ_j
    /// w[o, i, j] · x[b, i, t·s + j·d − pad_left]` (zero outside the input).
    fn direct(p: &ConvProblem, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f64> {
        let g = p.geom;
        let mut y = vec![0.0f64; p.batch * p.cout * p.len_out];
        for b in 0..p.batch {
            for o in 0..p.cout {
                for t in 0..p.len_out {
                    let mut acc = bias[o] as f64;
                    for i in 0..p.cin {
                        for j in 0..g.kernel {
                            let pos = (t * g.stride + j * g.dilation) as isize - g.pad_left as isize;
                            if pos >= 0 && (pos as usize) < p.len {
                                acc += w[(o * p.cin + i) * g.kernel + j] as f64 * x[(b * p.cin + i) * p.len + pos as usize] as f64;
                            }
                        }
                    }
                    y[(b * p.cout + o) * p.len_out + t] = acc;
                }
            }
        }
        y
    }

    #[test]
    fn forward_matches_the_direct_convolution_for_every_batch_split() {
        // on 2 threads: batch 1 (one sample split over the threads), 2 (one sample per thread),
        // 3 and 5 (whole rounds plus a split sample); 30 output channels: blocks of 24 and 6
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let geom = ConvGeom { kernel: 5, dilation: 2, stride: 1, pad_left: 4, pad_right: 4 };
        let (cin, cout, len) = (3, 30, 41);
        let w: Vec<f32> = (0..cout * cin * 5).map(|i| ((i * 37 % 23) as f32 - 11.0) / 17.0).collect();
        let bias: Vec<f32> = (0..cout).map(|o| o as f32 / 7.0 - 2.0).collect();
        for batch in [1, 2, 3, 5] {
            let p = ConvProblem { batch, cin, len, cout, len_out: geom.out_len(len), geom };
            let x: Vec<f32> = (0..batch * cin * len).map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0).collect();
            let mut y = vec![f32::NAN; batch * cout * p.len_out];
            pool.install(|| forward_host_into(&p, &x, &w, Some(&bias), &mut y));
            for (n, (got, want)) in y.iter().zip(direct(&p, &x, &w, &bias)).enumerate() {
                assert!((*got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "batch {batch}, value {n}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_split_sample_gets_the_same_bits_as_a_whole_one() {
        // batch 3 on 2 threads: samples 0 and 1 run one per thread, sample 2 is split over both;
        // with the same input all three must agree to the last bit (same sums, same order)
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let geom = ConvGeom::same(7, 1);
        let (cin, cout, len) = (6, 40, 300);
        let w: Vec<f32> = (0..cout * cin * 7).map(|i| ((i * 37 % 23) as f32 - 11.0) / 17.0).collect();
        let sample: Vec<f32> = (0..cin * len).map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0).collect();
        let x = sample.repeat(3);
        let p = ConvProblem { batch: 3, cin, len, cout, len_out: len, geom };
        let mut y = vec![f32::NAN; 3 * cout * len];
        pool.install(|| forward_host_into(&p, &x, &w, None, &mut y));
        let (first, rest) = y.split_at(cout * len);
        assert_eq!(first, &rest[..cout * len]);
        assert_eq!(first, &rest[cout * len..]);
    }

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // <im2col(x), c> == <x, col2im(c)> for random x, c, with stride and dilation
        let geom = ConvGeom { kernel: 3, dilation: 2, stride: 3, pad_left: 4, pad_right: 1 };
        let p = ConvProblem { batch: 1, cin: 2, len: 11, cout: 1, len_out: geom.out_len(11), geom };
        let x: Vec<f32> = (0..22).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        let c: Vec<f32> = (0..p.cols() * p.len_out).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
        let mut col = vec![0.0; c.len()];
        p.im2col(&x, &mut col);
        let mut dx = vec![0.0; x.len()];
        p.col2im_add(&c, &mut dx);
        let a: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
        let b: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
        assert_eq!(a, b);
    }
}
