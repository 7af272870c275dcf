//! Host-side plumbing shared by the ops: shape checks, fast copies of tensor data, parallel
//! accumulation. (dfdx's `GhostTensor` and `Tensorlike` are crate-private, so the gradient
//! look-ups themselves stay inline in each op's backward closure.)

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;
use rayon::prelude::*;

use crate::device::HostDevice;

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
    let v = vec![0.0f32; n];
    advise_huge_pages_for(&v);
    v
}

/// Transparent huge pages for a large buffer (see [`alloc_zeroed`]); advice only, and harmless
/// for a buffer whose pages are already in place.
pub(crate) fn advise_huge_pages_for(v: &[f32]) {
    if v.len() * 4 >= HUGE_PAGE_MIN_BYTES {
        advise_huge_pages(v.as_ptr() as usize, v.len() * 4);
    }
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

/// Buffers at least this large go back to the scratch pool when dropped.
const POOL_MIN_BYTES: usize = 1 << 20;
/// The most the scratch pool keeps (beyond it, returned buffers are freed).
const POOL_MAX_BYTES: usize = 2 << 30;

/// Free scratch buffers, reused by later ops (every training step asks for the same sizes).
static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());

/// A host buffer for an op's temporaries (input copies kept for backward, im2col buffers,
/// gradient copies), taken from a process-wide pool and given back to it on drop.
///
/// Even with huge pages, the kernel's zeroing of fresh memory was the largest cost after the
/// GEMMs (17% of a trunk step at L = 10,000); recycled buffers skip it. The pool keeps at most
/// [`POOL_MAX_BYTES`]; [`Scratch::into_vec`] hands a buffer over for good (e.g. to a tensor).
pub(crate) struct Scratch(Vec<f32>);

impl Scratch {
    /// `n` elements with unspecified contents (initialised, possibly stale): for callers that
    /// overwrite every element.
    pub fn for_overwrite(n: usize) -> Self {
        if n * 4 >= POOL_MIN_BYTES {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = pool.iter().position(|v| v.len() == n) {
                return Self(pool.swap_remove(i));
            }
        }
        Self(alloc_zeroed(n))
    }

    /// `n` zeros.
    pub fn zeroed(n: usize) -> Self {
        let mut s = Self::for_overwrite(n);
        s.0.par_chunks_mut(PAR_CHUNK).for_each(|c| c.fill(0.0));
        s
    }

    /// The buffer itself, no longer returned to the pool.
    pub fn into_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.len() * 4 >= POOL_MIN_BYTES {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let held: usize = pool.iter().map(|b| b.len() * 4).sum();
            if held + v.len() * 4 <= POOL_MAX_BYTES {
                pool.push(v);
            }
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

/// A host copy of `src` in a scratch buffer.
pub(crate) fn copied(src: &[f32]) -> Scratch {
    let mut v = Scratch::for_overwrite(src.len());
    v.par_chunks_mut(PAR_CHUNK).zip(src.par_chunks(PAR_CHUNK)).for_each(|(d, s)| d.copy_from_slice(s));
    v
}

/// A host copy of a contiguous tensor's data in a scratch buffer (a plain `memcpy`, unlike
/// `as_vec`, which walks strided indices element by element).
pub(crate) fn host_vec<S: Shape, T, D: HostDevice>(t: &Tensor<S, f32, D, T>) -> Scratch {
    let mut v = Scratch::for_overwrite(t.shape().num_elements());
    t.copy_into(&mut v);
    v
}

/// `dst += src`, in parallel for large buffers.
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(PAR_CHUNK).zip(src.par_chunks(PAR_CHUNK)).for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += *s));
}
