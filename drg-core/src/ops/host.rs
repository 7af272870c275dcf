//! Host-side plumbing shared by the ops: shape checks, fast copies of tensor data, parallel
//! accumulation. (dfdx's `GhostTensor` and `Tensorlike` are crate-private, so the gradient
//! look-ups themselves stay inline in each op's backward closure.)

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;
use rayon::prelude::*;

use crate::device::DrgDevice;

/// Elements per rayon task for element-wise loops (large enough to amortise scheduling).
pub(crate) const PAR_CHUNK: usize = 1 << 15;

/// The dims of `shape` as an array of rank `N`, or a panic naming the op and the operand.
pub(crate) fn dims<S: Shape, const N: usize>(shape: &S, op: &str, what: &str) -> [usize; N] {
    let c = shape.concrete();
    let v: &[usize] = c.as_ref();
    assert_eq!(v.len(), N, "{op}: {what} must have rank {N}, got shape {v:?}");
    let mut out = [0; N];
    out.copy_from_slice(v);
    out
}

/// Panics with a clear message if `got != want`.
pub(crate) fn expect_dims(op: &str, what: &str, got: &[usize], want: &[usize]) {
    assert_eq!(got, want, "{op}: {what} has dims {got:?}, expected {want:?}");
}

/// Buffers at least this large are backed by transparent huge pages where the OS allows it.
const HUGE_PAGE_MIN_BYTES: usize = 8 << 20;

/// A zeroed `Vec<f32>` of `n` elements for activations and gradients.
///
/// Large allocations come fresh from `mmap`, and first-touch page faults on 4 KiB pages cost
/// more than the arithmetic of a pass over the data (measured on the target VM: 46 ms to fault
/// in 96 MB, 5 ms to refill it). Advising the kernel to use transparent huge pages for the
/// buffer (before it is touched) cuts that to about 10 ms. Advice only: no effect on contents.
pub(crate) fn alloc_zeroed(n: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; n];
    if n * 4 >= HUGE_PAGE_MIN_BYTES {
        advise_huge_pages(v.as_mut_ptr() as usize, n * 4);
    }
    v
}

/// `madvise(MADV_HUGEPAGE)` on the 2 MiB-aligned interior of [addr, addr + len).
#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, len: usize) {
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    const MADV_HUGEPAGE: i32 = 14;
    const HUGE: usize = 2 << 20;
    let start = (addr + HUGE - 1) & !(HUGE - 1);
    let end = (addr + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE is advisory and never
        // changes its contents. A failure (e.g. THP disabled) is harmless and ignored.
        unsafe {
            madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _len: usize) {}

/// A host copy of `src` in a fresh buffer (see [`alloc_zeroed`]).
pub(crate) fn copied(src: &[f32]) -> Vec<f32> {
    let mut v = alloc_zeroed(src.len());
    v.par_chunks_mut(PAR_CHUNK).zip(src.par_chunks(PAR_CHUNK)).for_each(|(d, s)| d.copy_from_slice(s));
    v
}

/// A host copy of a contiguous tensor's data (a plain `memcpy`, unlike `as_vec`, which walks
/// strided indices element by element).
pub(crate) fn host_vec<S: Shape, T, D: DrgDevice>(t: &Tensor<S, f32, D, T>) -> Vec<f32> {
    let mut v = alloc_zeroed(t.shape().num_elements());
    t.copy_into(&mut v);
    v
}

/// `dst += src`, in parallel for large buffers.
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(PAR_CHUNK)
        .zip(src.par_chunks(PAR_CHUNK))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += *s));
}
