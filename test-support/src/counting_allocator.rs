//! A global allocator that counts live heap bytes and their peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes it holds and their high-water mark.
///
/// Counts are process-wide, so a measurement is only meaningful while nothing else allocates:
/// a test binary that measures runs its measurements one at a time (one test, or a lock).
pub struct CountingAllocator {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl CountingAllocator {
    /// A counter at zero, for a `static` installed with `#[global_allocator]`.
    pub const fn new() -> Self {
        Self { live: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Heap bytes allocated through this allocator and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Runs `work` and returns its result with the peak of live bytes during it, above the live
    /// bytes just before it (what `work` needed at most, whatever it freed before returning).
    pub fn peak_during<R>(&self, work: impl FnOnce() -> R) -> (R, usize) {
        let before = self.live();
        self.peak.store(before, Ordering::Relaxed);
        let result = work();
        (result, self.peak.load(Ordering::Relaxed).saturating_sub(before))
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            self.note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            self.note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            // Counted as the new block allocated while the old one is still held, then the old
            // one freed: the peak an out-of-place realloc really reaches.
            self.note_alloc(new_size);
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

impl CountingAllocator {
    fn note_alloc(&self, size: usize) {
        let now = self.live.fetch_add(size, Ordering::Relaxed) + size;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private counter (not the global allocator): allocations through it are counted, the
    /// peak is the high-water mark above the level before, and freeing brings `live` back.
    #[test]
    fn counts_live_bytes_and_the_peak_above_the_start() {
        let heap = CountingAllocator::new();
        let big = Layout::from_size_align(4096, 8).unwrap();
        let small = Layout::from_size_align(100, 8).unwrap();
        unsafe {
            let held = heap.alloc(small);
            let ((), peak) = heap.peak_during(|| {
                let a = heap.alloc(big);
                let b = heap.alloc_zeroed(big);
                heap.dealloc(a, big);
                heap.dealloc(b, big);
                let c = heap.alloc(small);
                heap.dealloc(c, small);
            });
            assert_eq!(peak, 2 * 4096);
            assert_eq!(heap.live(), 100);
            let grown = heap.realloc(held, small, 1000);
            assert_eq!(heap.live(), 1000);
            let ((), none) = heap.peak_during(|| ());
            assert_eq!(none, 0);
            heap.dealloc(grown, Layout::from_size_align(1000, 8).unwrap());
        }
        assert_eq!(heap.live(), 0);
    }
}
