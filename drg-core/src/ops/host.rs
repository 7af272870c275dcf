//! Host-side plumbing shared by the ops: the [`HostDevice`] bound of the host kernels, their
//! allocations (which report failure instead of aborting, see [`AllocFailure`]), shape checks,
//! fast copies of tensor data, parallel accumulation. (dfdx's `GhostTensor` and `Tensorlike` are
//! crate-private, so the gradient look-ups themselves stay inline in each op's backward closure.)

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::{Cpu, Storage, Tensor, TensorFromVec};
use dfdx::tensor_ops::Device;
use rayon::prelude::*;

/// A dfdx device whose gradient buffers are host memory, on which the host kernels of
/// [`crate::ops`] run (today: `Cpu`).
pub trait HostDevice: Device<f32> + TensorFromVec<f32> + Clone + Send + Sync + 'static {
    /// Mutable host view of a gradient buffer, for backward passes computed on the host.
    fn host_mut(buf: &mut <Self as Storage<f32>>::Vec) -> &mut [f32];

    /// A zeroed host buffer of `n` values that is about to become a tensor on this device
    /// (`tensor_from_vec`). When the memory cannot be had it unwinds with an [`AllocFailure`]
    /// (see there); it never aborts the process.
    fn host_buffer(&self, n: usize) -> Vec<f32>;

    /// The values of a gradient buffer, moved out (the buffer is left empty): for a backward
    /// closure that reads the gradient of its op's output once (see [`ConsumedGrad`]).
    fn take_host(buf: &mut <Self as Storage<f32>>::Vec) -> Vec<f32>;

    /// Hands a host buffer back to the device's buffer cache (where the next gradient or
    /// [`HostDevice::host_buffer`] of the same length finds it), or frees it when the cache is off.
    fn recycle(&self, v: Vec<f32>);
}

impl HostDevice for Cpu {
    fn host_mut(buf: &mut <Self as Storage<f32>>::Vec) -> &mut [f32] {
        buf
    }

    fn host_buffer(&self, n: usize) -> Vec<f32> {
        // dfdx (feature `fast-alloc`) allocates a cache miss with `vec!`, which aborts the process
        // when the allocator refuses; so first ask the allocator ourselves, fallibly (a `malloc`
        // that touches no page, freed at once).
        if let Err(failure) = try_reserve_probe(n) {
            failure.unwind();
        }
        // `try_alloc_len` pops a buffer from the cache (or allocates one); taking the `Vec` out
        // leaves an empty placeholder in dfdx's wrapper, which goes into the cache when dropped
        // (emptied by `DrgDevice::end_pass`). dfdx zero-fills a recycled buffer on one thread,
        // work the ops then overwrite; dfdx offers no unfilled pop, and the recycling still saves
        // more than it costs (BENCHMARKS.md, trunk step).
        let mut cached = self.try_alloc_len(n).unwrap_or_else(|_| AllocFailure { floats: n }.unwind());
        let v = std::mem::take(&mut *cached);
        drop(cached);
        advise_huge_pages_for(&v);
        v
    }

    fn take_host(buf: &mut <Self as Storage<f32>>::Vec) -> Vec<f32> {
        std::mem::take(&mut **buf)
    }

    fn recycle(&self, v: Vec<f32>) {
        // dfdx's wrapper puts whatever it holds into the cache when dropped (if the cache is on;
        // otherwise the buffer is simply freed). A length-0 wrapper costs no allocation.
        let Ok(mut slot) = self.try_alloc_len(0) else { return };
        *slot = v;
        drop(slot);
    }
}

/// The gradient of an op's output, moved out of dfdx's gradient store by the op's backward
/// closure, and handed to the device's buffer cache when dropped.
///
/// dfdx 0.13 keeps the gradient of every intermediate tensor until the whole backward pass has
/// run (`Gradients::drop_non_leafs`), and offers no public way to remove one entry. But an
/// op's backward closure is the last reader of its output's gradient: every consumer of the
/// output was recorded later and has already added its part (backward runs in reverse order),
/// and the output is not a parameter. So the closure moves the values out (leaving an empty
/// buffer in the store) instead of copying them, and the memory is free for the gradients
/// of earlier layers as soon as the closure ends: at 40 kb and batch 8 each such gradient is
/// 384 MB (BENCHMARKS.md, issue 12).
pub(crate) struct ConsumedGrad<D: HostDevice> {
    values: Vec<f32>,
    device: D,
}

impl<D: HostDevice> ConsumedGrad<D> {
    /// Moves the values out of `buf` (the gradient of the op's output, which must hold `len`
    /// values: an empty one means that something took it before, which would be a bug).
    pub fn take(device: &D, buf: &mut <D as Storage<f32>>::Vec, len: usize, op: &str) -> Self {
        let values = D::take_host(buf);
        assert_eq!(values.len(), len, "{op}: the gradient of the output holds {} values, expected {len}", values.len());
        Self { values, device: device.clone() }
    }
}

impl<D: HostDevice> Drop for ConsumedGrad<D> {
    fn drop(&mut self) {
        self.device.recycle(std::mem::take(&mut self.values));
    }
}

impl<D: HostDevice> std::ops::Deref for ConsumedGrad<D> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.values
    }
}

impl<D: HostDevice> std::ops::DerefMut for ConsumedGrad<D> {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }
}

/// Host memory for one buffer of `floats` values that the allocator refused (or that exceeds
/// the address space).
///
/// The ops return tensors, not `Result`s (dfdx's custom-op pattern, and every layer and
/// generated model is written against it), so an allocation failure deep inside a forward or
/// backward pass leaves by unwinding, with this value as the payload and without the panic hook
/// (no panic message): [`catch_alloc_failure`] around a batch turns it back into an error, which
/// the trainer words with the batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot allocate {} for one buffer of {floats} values", bytes_text(*floats))]
pub struct AllocFailure {
    pub floats: usize,
}

impl AllocFailure {
    /// Leaves the current computation with `self` as the unwinding payload (no panic hook runs).
    pub fn unwind(self) -> ! {
        std::panic::resume_unwind(Box::new(self))
    }
}

/// `n` f32 values as bytes in the largest binary unit that keeps the number at least 1 (`1.5 GiB`).
fn bytes_text(floats: usize) -> String {
    let bytes = floats as f64 * 4.0;
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Runs `f` (a batch of a pass), returning `Err` with the [`AllocFailure`] that one of its
/// allocations unwound with; any other panic continues unwinding unchanged.
pub fn catch_alloc_failure<R>(f: impl FnOnce() -> R) -> Result<R, AllocFailure> {
    // AssertUnwindSafe: on failure the caller abandons the pass (the run ends with an error), so
    // no state that the unwinding left half-updated is used afterwards.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Ok(r),
        Err(payload) => match payload.downcast::<AllocFailure>() {
            Ok(failure) => Err(*failure),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// Whether the allocator gives `n` f32 values now: a plain `malloc` of that size, freed at once
/// (no page is touched, unlike `calloc` of a recycled heap block, which would zero it).
fn try_reserve_probe(n: usize) -> Result<(), AllocFailure> {
    let failure = AllocFailure { floats: n };
    if n == 0 {
        return Ok(());
    }
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| failure)?;
    // SAFETY: `layout` has a non-zero size; a non-null pointer is freed with the same layout.
    unsafe {
        // black_box: the compiler may otherwise drop an allocation that is freed unused.
        let ptr = std::hint::black_box(std::alloc::alloc(layout));
        if ptr.is_null() {
            return Err(failure);
        }
        std::alloc::dealloc(ptr, layout);
    }
    Ok(())
}

/// `n` zeros from the allocator, or the failure.
fn try_zeroed(n: usize) -> Result<Vec<f32>, AllocFailure> {
    let failure = AllocFailure { floats: n };
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| failure)?;
    // SAFETY: `layout` has a non-zero size. A non-null result is memory from the global
    // allocator with exactly this layout (capacity n, align of f32), all bytes zero, and all-zero
    // bytes are the f32 value 0.0, so `from_raw_parts(ptr, n, n)` has what it requires.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<f32>();
        if ptr.is_null() {
            return Err(failure);
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

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
///
/// A refused allocation unwinds with an [`AllocFailure`].
pub(crate) fn alloc_zeroed(n: usize) -> Vec<f32> {
    let v = try_zeroed(n).unwrap_or_else(|failure| failure.unwind());
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
/// The most the scratch pool keeps (beyond it, returned buffers are freed). With the former cap of
/// 2 GB, below what a training step at full size keeps alive (at 40 kb, batch 8 and 300 kernels
/// one copy of an activation is 384 MB, and the ops keep several per layer for backward), each
/// step handed the excess back to the OS and faulted it in again: 17.6 % of model A's full-size
/// run was the kernel zeroing fresh pages (BENCHMARKS.md, issue 12). Stale buffers do not pile up
/// to this cap: see [`FreeList`].
const POOL_MAX_BYTES: usize = 8 << 30;

/// Free buffers of one element type, oldest first, at most `max_bytes` in all.
///
/// Every training step asks for the same lengths in the same order, so a buffer handed back is
/// found again by exact length. A request that finds none means that the working set changed
/// (another batch size, eval after train): [`FreeList::take`] then gives up its oldest buffers of
/// other lengths, as many values as the request needs, for the caller to free, so that buffers of
/// shapes no longer in use are released as the new ones appear, and pool plus live memory stays
/// within the largest working set seen rather than growing to the sum over shapes.
pub(crate) struct FreeList<T> {
    bufs: Vec<Vec<T>>,
    max_bytes: usize,
}

impl<T> FreeList<T> {
    pub const fn new(max_bytes: usize) -> Self {
        Self { bufs: Vec::new(), max_bytes }
    }

    /// A free buffer of exactly `n` values, or none and the stale buffers to free (see above).
    pub fn take(&mut self, n: usize) -> Result<Vec<T>, Vec<Vec<T>>> {
        if let Some(i) = self.bufs.iter().position(|v| v.len() == n) {
            return Ok(self.bufs.remove(i));
        }
        let mut freed = 0;
        let mut stale = Vec::new();
        while freed < n && !self.bufs.is_empty() {
            let v = self.bufs.remove(0);
            freed += v.len();
            stale.push(v);
        }
        Err(stale)
    }

    /// Keeps `v` if it fits under the cap; otherwise hands it back to be freed.
    pub fn give(&mut self, v: Vec<T>) -> Option<Vec<T>> {
        let size = std::mem::size_of::<T>();
        let held: usize = self.bufs.iter().map(|b| b.len() * size).sum();
        if held + v.len() * size <= self.max_bytes {
            self.bufs.push(v);
            None
        } else {
            Some(v)
        }
    }
}

/// An element type with its own process-wide [`FreeList`] of scratch buffers (`f32` for values,
/// `u8` for per-element codes such as the reverse-complement stem's winning strand).
pub(crate) trait PoolItem: Copy + Send + Sync + 'static {
    /// The process-wide pool of free buffers of this type.
    fn pool() -> &'static std::sync::Mutex<FreeList<Self>>;
    /// `n` fresh zeroed values (unwinding with an [`AllocFailure`] when refused).
    fn fresh(n: usize) -> Vec<Self>;
}

impl PoolItem for f32 {
    fn pool() -> &'static std::sync::Mutex<FreeList<f32>> {
        static POOL: std::sync::Mutex<FreeList<f32>> = std::sync::Mutex::new(FreeList::new(POOL_MAX_BYTES));
        &POOL
    }
    fn fresh(n: usize) -> Vec<f32> {
        alloc_zeroed(n)
    }
}

impl PoolItem for u8 {
    fn pool() -> &'static std::sync::Mutex<FreeList<u8>> {
        static POOL: std::sync::Mutex<FreeList<u8>> = std::sync::Mutex::new(FreeList::new(POOL_MAX_BYTES));
        &POOL
    }
    fn fresh(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        if v.try_reserve_exact(n).is_err() {
            AllocFailure { floats: n.div_ceil(4) }.unwind();
        }
        v.resize(n, 0);
        v
    }
}

/// A host buffer for an op's temporaries (input copies kept for backward, im2col buffers,
/// gradient copies), taken from a process-wide pool ([`PoolItem`]) and given back to it on drop.
///
/// Even with huge pages, the kernel's zeroing of fresh memory was the largest cost after the
/// GEMMs (17% of a trunk step at L = 10,000); recycled buffers skip it. The pool keeps at most
/// [`POOL_MAX_BYTES`]; [`Scratch::into_vec`] hands a buffer over for good (e.g. to a tensor).
pub(crate) struct Scratch<T: PoolItem = f32>(Vec<T>);

impl<T: PoolItem> Scratch<T> {
    /// `n` elements with unspecified contents (initialised, possibly stale): for callers that
    /// overwrite every element.
    pub fn for_overwrite(n: usize) -> Self {
        let bytes = n * std::mem::size_of::<T>();
        if bytes >= POOL_MIN_BYTES {
            let taken = T::pool().lock().unwrap_or_else(|e| e.into_inner()).take(n);
            match taken {
                Ok(v) => return Self(v),
                Err(stale) => drop(stale), // freed outside the lock
            }
        }
        Self(T::fresh(n))
    }

    /// The buffer itself, no longer returned to the pool.
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

impl Scratch<f32> {
    /// `n` zeros.
    pub fn zeroed(n: usize) -> Self {
        let mut s = Self::for_overwrite(n);
        s.0.par_chunks_mut(PAR_CHUNK).for_each(|c| c.fill(0.0));
        s
    }
}

impl<T: PoolItem> Drop for Scratch<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.len() * std::mem::size_of::<T>() >= POOL_MIN_BYTES {
            let rejected = T::pool().lock().unwrap_or_else(|e| e.into_inner()).give(v);
            drop(rejected); // freed outside the lock
        }
    }
}

impl<T: PoolItem> std::ops::Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: PoolItem> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
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

#[cfg(test)]
mod tests {
    use super::FreeList;

    fn lens(bufs: &[Vec<f32>]) -> Vec<usize> {
        bufs.iter().map(Vec::len).collect()
    }

    #[test]
    fn a_free_buffer_is_found_again_by_its_exact_length() {
        let mut pool = FreeList::<f32>::new(1 << 20);
        assert!(pool.give(vec![1.0; 4]).is_none());
        assert!(pool.give(vec![2.0; 8]).is_none());
        assert_eq!(pool.take(8).unwrap(), vec![2.0; 8]);
        assert_eq!(pool.take(4).unwrap(), vec![1.0; 4]);
        // empty now: a miss with nothing stale to give up
        assert_eq!(lens(&pool.take(4).unwrap_err()), Vec::<usize>::new());
    }

    #[test]
    fn a_miss_gives_up_the_oldest_buffers_of_other_lengths_as_many_values_as_it_needs() {
        let mut pool = FreeList::<f32>::new(1 << 20);
        for n in [3, 5, 7] {
            assert!(pool.give(vec![0.0; n]).is_none());
        }
        // 6 values wanted: the oldest (3) is not enough, 3 + 5 is
        assert_eq!(lens(&pool.take(6).unwrap_err()), vec![3, 5]);
        assert_eq!(pool.take(7).unwrap().len(), 7);
        assert_eq!(lens(&pool.take(7).unwrap_err()), Vec::<usize>::new());
    }

    #[test]
    fn buffers_beyond_the_cap_are_handed_back_to_be_freed() {
        let mut pool = FreeList::<f32>::new(10 * 4);
        assert!(pool.give(vec![0.0; 8]).is_none());
        assert_eq!(pool.give(vec![0.0; 4]).map(|v| v.len()), Some(4));
        assert!(pool.give(vec![0.0; 2]).is_none());
        let mut bytes = FreeList::<u8>::new(3);
        assert!(bytes.give(vec![0u8; 3]).is_none());
        assert_eq!(bytes.give(vec![0u8; 1]).map(|v| v.len()), Some(1));
    }
}
