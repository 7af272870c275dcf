//! The reverse-complement stem (behaviour P1): one convolution applied to both DNA strands.
//!
//! The reverse strand is x flipped along channels (A,C,G,T → T,G,C,A: the complement) and
//! positions; its output is flipped back along positions, and the result is the elementwise max of
//! the two strands. Both strands go through [`conv1d`](super::conv1d)'s kernels as one batch of
//! 2B samples, so the stem is as fast as a plain convolution on twice the data.
//!
//! Gradient of the max: to the larger strand; where both are exactly equal (all-zero windows,
//! where both give just the bias) each strand gets half, as PyTorch's `max` does. Parameter
//! gradients accumulate from both strands.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::conv1d::{backward_host, forward_host, ConvGeom, ConvProblem};
use super::host::{add_assign, host_vec, ConsumedGrad, HostDevice, Scratch};

/// Which strand won the max at one output element (a byte per element, kept for backward in a
/// pooled buffer: 96 MB per forward at 40 kb, batch 8, 300 kernels).
mod winner {
    pub const FORWARD: u8 = 0;
    pub const REVERSE: u8 = 1;
    pub const TIE: u8 = 2;
}

/// The reverse complement of one sample `[C, L]`: `out[i, t] = x[C−1−i, L−1−t]`.
fn reverse_complement_into(x: &[f32], out: &mut [f32], len: usize) {
    for (o, src) in out.chunks_mut(len).zip(x.chunks(len).rev()) {
        for (o, s) in o.iter_mut().zip(src.iter().rev()) {
            *o = *s;
        }
    }
}

/// The host (CPU) kernel of [`DrgDevice::rc_conv1d`](crate::device::DrgDevice::rc_conv1d).
pub(crate) fn rc_conv1d_host<Si: Shape, Sw: Shape, Sb: Shape, So: Shape, D: HostDevice, T: Tape<f32, D>>(
    x: Tensor<Si, f32, D, T>,
    weight: &Tensor<Sw, f32, D>,
    bias: Option<&Tensor<Sb, f32, D>>,
    geom: ConvGeom,
    out_shape: So,
) -> Tensor<So, f32, D, T> {
    let bias_dims = bias.map(|b| b.shape().concrete().as_ref().to_vec());
    let p = ConvProblem::new("rc_conv1d", x.shape(), weight.shape(), bias_dims.as_deref(), geom, &out_shape);
    let (b, ci, l, co, lo) = (p.batch, p.cin, p.len, p.cout, p.len_out);
    let both = ConvProblem { batch: 2 * b, ..p };
    let (x, mut tape) = x.split_tape();
    // samples 0..B: forward strand; B..2B: reverse complements
    let mut x2 = Scratch::for_overwrite(2 * b * ci * l);
    {
        let (fwd, rev) = x2.split_at_mut(b * ci * l);
        x.copy_into(fwd);
        let n = (ci * l).max(1);
        rev.par_chunks_mut(n).zip(fwd.par_chunks(n)).for_each(|(r, f)| reverse_complement_into(f, r, l));
    }
    let wh = host_vec(weight);
    let bh = bias.map(host_vec);
    let y2 = forward_host(&both, &x2, &wh, bh.as_deref());
    let (yf, yr) = y2.split_at(b * co * lo);
    let mut y = x.device().host_buffer(b * co * lo);
    let row = lo.max(1);
    // which strand won: needed by backward only, so not computed without a tape
    let winner = if T::OWNS_TAPE {
        let mut winner = Scratch::<u8>::for_overwrite(b * co * lo);
        y.par_chunks_mut(row).zip(winner.par_chunks_mut(row)).zip(yf.par_chunks(row).zip(yr.par_chunks(row))).for_each(
            |((y, w), (f, r))| {
                for t in 0..y.len() {
                    let (a, c) = (f[t], r[lo - 1 - t]);
                    y[t] = a.max(c);
                    w[t] = if a > c {
                        winner::FORWARD
                    } else if c > a {
                        winner::REVERSE
                    } else {
                        winner::TIE
                    };
                }
            },
        );
        Some(winner)
    } else {
        y.par_chunks_mut(row).zip(yf.par_chunks(row).zip(yr.par_chunks(row))).for_each(|(y, (f, r))| {
            for t in 0..y.len() {
                y[t] = f[t].max(r[lo - 1 - t]);
            }
        });
        None
    };
    drop(y2);
    let out = x.device().tensor_from_vec(y, out_shape);
    if T::OWNS_TAPE {
        let (xg, wg, og) = (x.ghost(), weight.ghost(), out.ghost());
        let bg = bias.map(|b| b.ghost());
        let (dev, out_len) = (x.device().clone(), out.shape().num_elements());
        let winner = winner.expect("computed with a tape");
        tape.add_backward_op(move |grads| {
            let gout = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "rc_conv1d");
            // route dL/dy to the strands (reverse strand flipped back along positions)
            let mut g2 = Scratch::for_overwrite(2 * b * co * lo);
            {
                let (gf, gr) = g2.split_at_mut(b * co * lo);
                gf.par_chunks_mut(row).zip(gr.par_chunks_mut(row)).zip(gout.par_chunks(row).zip(winner.par_chunks(row))).for_each(
                    |((gf, gr), (g, w))| {
                        for t in 0..g.len() {
                            let (to_f, to_r) = match w[t] {
                                winner::FORWARD => (g[t], 0.0),
                                winner::REVERSE => (0.0, g[t]),
                                _ => (0.5 * g[t], 0.5 * g[t]),
                            };
                            gf[t] = to_f;
                            gr[lo - 1 - t] = to_r;
                        }
                    },
                );
            }
            let mut dx2 = Scratch::zeroed(2 * b * ci * l);
            let (dw, db) = backward_host(&both, &x2, &wh, &g2, &mut dx2);
            // dx = dx_forward + rc(dx_reverse): the reverse complement is its own inverse
            let (dxf, dxr) = dx2.split_at_mut(b * ci * l);
            let n = (ci * l).max(1);
            let mut tmp = vec![0.0f32; n];
            for (f, r) in dxf.chunks_mut(n).zip(dxr.chunks(n)) {
                reverse_complement_into(r, &mut tmp, l);
                add_assign(f, &tmp);
            }
            add_assign(D::host_mut(grads.get_or_alloc_mut(&xg)?), dxf);
            add_assign(D::host_mut(grads.get_or_alloc_mut(&wg)?), &dw);
            if let Some(bg) = &bg {
                add_assign(D::host_mut(grads.get_or_alloc_mut(bg)?), &db);
            }
            Ok(())
        });
    }
    out.put_tape(tape)
}
