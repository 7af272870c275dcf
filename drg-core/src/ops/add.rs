//! Parallel element-wise sum of two equally shaped tensors that may both carry tapes (residual
//! skips). dfdx's own `+` is single-threaded; this op is one parallel pass over both inputs (read
//! in place where an op made them, see `host_view`), and its backward accumulates dL/dout into
//! each input's gradient separately.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Merge, PutTape, SplitTape, Tape, Tensor};
use rayon::prelude::*;

use super::host::{add_assign, ConsumedGrad, HostDevice, PAR_CHUNK};
use super::host_view::{host_data, output_tensor};

/// The host (CPU) kernel of [`DrgDevice::add`](crate::device::DrgDevice::add).
pub(crate) fn add_host<S: Shape, D: HostDevice, T: Tape<f32, D> + Merge<R>, R: Tape<f32, D>>(
    a: Tensor<S, f32, D, T>,
    b: Tensor<S, f32, D, R>,
) -> Tensor<S, f32, D, T> {
    let (sa, sb) = (a.shape().concrete(), b.shape().concrete());
    assert_eq!(sa.as_ref(), sb.as_ref(), "add: operands have different shapes");
    let (a, ta) = a.split_tape();
    let (b, tb) = b.split_tape();
    let mut tape = ta.merge(tb);
    let (ah, bh) = (host_data(&a), host_data(&b));
    let mut y = a.device().host_buffer(a.shape().num_elements());
    y.par_chunks_mut(PAR_CHUNK).zip(ah.par_chunks(PAR_CHUNK).zip(bh.par_chunks(PAR_CHUNK))).for_each(|(y, (a, b))| {
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = a + b;
        }
    });
    drop((ah, bh));
    let out = output_tensor(a.device(), y, *a.shape());
    if T::OWNS_TAPE {
        let (ag, bg, og) = (a.ghost(), b.ghost(), out.ghost());
        let (dev, out_len) = (a.device().clone(), out.shape().num_elements());
        tape.add_backward_op(move |grads| {
            let gout = ConsumedGrad::take(&dev, grads.get_or_alloc_mut(&og)?, out_len, "add");
            add_assign(D::host_mut(grads.get_or_alloc_mut(&ag)?), &gout);
            add_assign(D::host_mut(grads.get_or_alloc_mut(&bg)?), &gout);
            Ok(())
        });
    }
    out.put_tape(tape)
}
