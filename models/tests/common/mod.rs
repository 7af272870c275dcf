//! What several integration tests of the models share.

use drg_core::data::{Dataset, Split};
use drg_core::device::DrgDevice;
use drg_core::model::DrgModel;
use drg_test_support::RandomData;

/// Random one-hot inputs and random targets of the shapes `M` declares, with the declared width
/// of every output that fixes one and 5 tracks for the others; genes 0–15 train, 16–23 validate,
/// the rest test.
pub fn random_data<M: DrgModel<D>, D: DrgDevice>(n: usize) -> Dataset {
    let mut data = drg_test_support::random_data::<M, D>(n, &RandomData::default());
    data.split = Split { train: (0..16).collect(), val: (16..24).collect(), test: (24..n).collect() };
    data
}
