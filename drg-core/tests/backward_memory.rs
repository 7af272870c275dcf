//! A backward pass frees each intermediate gradient once it has been used.
//!
//! dfdx 0.13 keeps the gradient of every intermediate tensor until the whole backward pass has
//! run; our ops' backward closures move the gradient of their output out of the store and
//! recycle it as soon as they have used it (`ops::host::ConsumedGrad`). At 40 kb and batch 8
//! one such gradient is 384 MB, so this decides whether model D's full-size training step fits
//! in 8 GB (BENCHMARKS.md, issue 12). A counting global allocator records the peak of live heap
//! bytes during one backward pass.

use drg_core::device::DrgDevice;
use drg_core::dfdx::prelude::*;
use drg_core::ops::ConvGeom;
use drg_test_support::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

type Dims3 = (usize, usize, usize);

/// Peak live bytes of one backward pass, above the level just before it, through a chain of
/// `n` blocks (conv 16→16, k 3, then GELU; a residual add every second block) on a
/// `[8, 16, 4096]` input: 2 MiB per activation and per gradient. The gradients are collected
/// leakily (`Gradients::leaky`: nothing is dropped until the store is), so whatever the pass
/// frees early is the ops' own doing.
fn backward_peak_of_chain(n: usize) -> usize {
    let dev = <Cpu as DrgDevice>::open(0, 1).unwrap();
    let shape: Dims3 = (8, 16, 4096);
    let x = dev.tensor_from_vec((0..8 * 16 * 4096usize).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0).collect(), shape);
    let w: Tensor<Dims3, f32, Cpu> = dev.tensor_from_vec((0..16 * 16 * 3).map(|i| ((i % 7) as f32 - 3.0) / 20.0).collect(), (16, 16, 3));
    let b: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(vec![0.01; 16], (16,));
    let mut y = x.trace(Gradients::leaky());
    for i in 0..n {
        let z = Cpu::gelu(Cpu::conv1d(y.with_empty_tape(), &w, Some(&b), ConvGeom::same(3, 1), shape));
        y = if i % 2 == 1 { Cpu::add(z, y) } else { Cpu::add(y, z) };
    }
    let loss = y.sum();
    let (grads, peak) = HEAP.peak_during(|| loss.backward());
    drop(grads);
    peak
}

/// The backward pass through 8 blocks (24 intermediate gradients of 2 MiB) peaks no higher than
/// through 2 blocks (6): less than two gradients more, where keeping them all would add 18.
#[test]
fn backward_memory_does_not_grow_with_the_number_of_intermediate_gradients() {
    // One pass first: the ops' scratch pool (process-wide) fills on first use.
    backward_peak_of_chain(1);
    let (short, long) = (backward_peak_of_chain(2), backward_peak_of_chain(8));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!("peak live heap of a backward pass: {:.1} MiB through 2 blocks, {:.1} MiB through 8", mib(short), mib(long));
    assert!(
        long < short + (4 << 20),
        "peak live heap of a backward pass: {:.1} MiB through 2 blocks, {:.1} MiB through 8",
        mib(short),
        mib(long)
    );
}
