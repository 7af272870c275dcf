//! Parallel element-wise sum of two equally shaped tensors that may both carry tapes (residual
//! skips). dfdx's own `+` is single-threaded; this op is a parallel pass, and its backward
//! accumulates dL/dout into each input's gradient separately.

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Merge, PutTape, SplitTape, Tape, Tensor};

use super::host::{add_assign, host_vec, ConsumedGrad, HostDevice};

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
    let mut y = a.device().host_buffer(a.shape().num_elements());
    a.copy_into(&mut y);
    let bh = host_vec(&b);
    add_assign(&mut y, &bh);
    drop(bh);
    let out = a.device().tensor_from_vec(y, *a.shape());
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
