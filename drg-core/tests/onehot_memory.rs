//! Reading a one-hot `.npz` holds the sequences as bases, 3 bits per position, and streams the
//! file: the peak heap of a read is the packed result plus one block of rows, not the file's
//! int8 array (4 bytes per position) nor float channels (16 bytes per position).
//!
//! A counting global allocator records the peak of live heap bytes during the read (this test
//! binary has no other test, so nothing else allocates meanwhile).

use drg_core::data::onehot::{read_onehot_npz, write_onehot_npz};
use drg_test_support::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

#[test]
fn reading_holds_three_bits_per_position_plus_one_block() {
    // 1,000 genes × 10 kb: 40 MB as the file's int8, 160 MB as f32 channels, 3.75 MB packed.
    let (n, l) = (1_000usize, 10_000usize);
    let names: Vec<String> = (0..n).map(|i| format!("gene{i:05}")).collect();
    let mut onehot = vec![0i8; n * l * 4];
    for i in 0..n {
        for p in 0..l {
            // every tenth position an N (all zero), else a base that varies with gene and position
            if (i + p) % 10 != 0 {
                onehot[(i * l + p) * 4 + (i * 7 + p * 3) % 4] = 1;
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npz");
    write_onehot_npz(&path, &names, l, &onehot, true).unwrap();
    drop(onehot);

    let before = HEAP.live();
    let (set, peak) = HEAP.peak_during(|| read_onehot_npz(&path).unwrap());
    let held = HEAP.live() - before;

    let packed = n * (l.div_ceil(4) + l.div_ceil(8));
    assert_eq!(set.bases.heap_bytes(), packed);
    // What stays: the packed bases and the names (a few bytes each).
    assert!(held < packed + 100 * n, "held {held} bytes for {packed} packed");
    // The peak: that, one block of 64 rows as int8 (2.56 MB) and its rows' bases while they are
    // packed, well below the file's 40 MB.
    assert!(peak < packed + 8 * 1024 * 1024, "peak {peak} bytes ({} MB) for {packed} packed", peak >> 20);

    // And the bases are right.
    for (i, p) in [(0, 0), (0, 1), (17, 3), (999, 9_999), (123, 4_567)] {
        let row = set.row(i);
        let col: Vec<f32> = (0..4).map(|c| row[c * l + p]).collect();
        let want: Vec<f32> = (0..4).map(|c| if (i + p) % 10 != 0 && c == (i * 7 + p * 3) % 4 { 1.0 } else { 0.0 }).collect();
        assert_eq!(col, want, "gene {i} position {p}");
    }
}
