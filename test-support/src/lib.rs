//! Test helpers shared by drg-rs's test crates (a dev-dependency only, never linked into a
//! binary users run).
//!
//! [`check_against_fixture`] checks a `drg_model!` model against one of the reference's parity
//! fixtures: the seed models (`models/tests/parity.rs`) and the breadth configurations
//! (`drg-core/tests/parity_breadth.rs`) go through the same checks.
//!
//! [`random_data`] draws a data set of the shapes a model declares.
//!
//! The memory tests of `drg-core` and `drg-models` (`onehot_memory`, `backward_memory`,
//! `memory`) assert how much heap a read, a backward pass or a training run holds at its peak.
//! Each is its own test binary that installs [`CountingAllocator`] as its global allocator:
//!
//! ```
//! use drg_test_support::CountingAllocator;
//!
//! #[global_allocator]
//! static HEAP: CountingAllocator = CountingAllocator::new();
//!
//! fn main() {
//!     let (buffer, peak_bytes) = HEAP.peak_during(|| vec![1u8; 1 << 20]);
//!     assert!(peak_bytes >= 1 << 20 && HEAP.live() >= buffer.len());
//! }
//! ```

mod counting_allocator;
mod fixture_parity;
mod random_data;

pub use counting_allocator::CountingAllocator;
pub use fixture_parity::{assert_close, check_against_fixture, fixture_path, FixtureCheck};
pub use random_data::{random_data, RandomData};
