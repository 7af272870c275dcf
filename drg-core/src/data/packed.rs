//! [`PackedBases`]: one-hot sequences held as what they are, bases.
//!
//! A one-hot position is one of A, C, G, T or nothing (an `N`, any other letter, or padding: an
//! all-zero column). Held as `f32` channels that is 128 bits per position; 20,000 genes × 40 kb
//! × two inputs would need 12.8 GB. Here a position takes 3 bits: 2 for the base and 1 that
//! marks an empty position, so the same data takes 600 MB, and a batch is expanded straight
//! into the `(batch, 4, L)` tensor the model reads ([`PackedBases::expand_row`]).
//!
//! Each row is stored at a fixed stride: `⌈L/4⌉` bytes of bases (position `p` in bits
//! `2·(p mod 4)..` of byte `p/4`) and `⌈L/8⌉` bytes of empty marks (bit `p mod 8` of byte `p/8`).

/// A base, or an empty (all-zero) position, of a one-hot column.
pub type Base = Option<u8>;

/// The rows of one input, 3 bits per position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackedBases {
    length: usize,
    rows: usize,
    bases: Vec<u8>,
    empty: Vec<u8>,
}

impl PackedBases {
    /// No rows yet, of `length` positions each, with room for `rows` rows.
    pub fn with_capacity(length: usize, rows: usize) -> Self {
        PackedBases {
            length,
            rows: 0,
            bases: Vec::with_capacity(rows * length.div_ceil(4)),
            empty: Vec::with_capacity(rows * length.div_ceil(8)),
        }
    }

    /// Bytes of bases per row.
    fn base_stride(&self) -> usize {
        self.length.div_ceil(4)
    }

    /// Bytes of empty marks per row.
    fn empty_stride(&self) -> usize {
        self.length.div_ceil(8)
    }

    /// Positions per row.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Bytes held (what the rows cost in memory).
    pub fn heap_bytes(&self) -> usize {
        self.bases.capacity() + self.empty.capacity()
    }

    /// Appends a row from its `length` positions (`Some(channel)` for A, C, G, T = 0..3).
    pub fn push_row(&mut self, positions: impl IntoIterator<Item = Base>) {
        let (bs, es) = (self.base_stride(), self.empty_stride());
        let (b0, e0) = (self.bases.len(), self.empty.len());
        self.bases.resize(b0 + bs, 0);
        self.empty.resize(e0 + es, 0);
        let (bases, empty) = (&mut self.bases[b0..], &mut self.empty[e0..]);
        let mut count = 0;
        for (p, base) in positions.into_iter().enumerate() {
            assert!(p < self.length, "push_row: more than {} positions", self.length);
            match base {
                Some(c) => {
                    debug_assert!(c < 4);
                    bases[p / 4] |= (c & 3) << (2 * (p % 4));
                }
                None => empty[p / 8] |= 1 << (p % 8),
            }
            count += 1;
        }
        assert_eq!(count, self.length, "push_row: {count} positions for rows of {}", self.length);
        self.rows += 1;
    }

    /// Appends the rows of `other` (same length).
    pub fn append(&mut self, other: &PackedBases) {
        assert_eq!(self.length, other.length, "append: rows of other lengths");
        self.bases.extend_from_slice(&other.bases);
        self.empty.extend_from_slice(&other.empty);
        self.rows += other.rows;
    }

    /// Position `p` of row `i`.
    pub fn base(&self, i: usize, p: usize) -> Base {
        let (bs, es) = (self.base_stride(), self.empty_stride());
        if self.empty[i * es + p / 8] >> (p % 8) & 1 == 1 {
            None
        } else {
            Some(self.bases[i * bs + p / 4] >> (2 * (p % 4)) & 3)
        }
    }

    /// Row `i` expanded into `out`, `(4, L)` channel-first one-hot values (every value written).
    pub fn expand_row(&self, i: usize, out: &mut [f32]) {
        let l = self.length;
        assert_eq!(out.len(), 4 * l, "expand_row: buffer of the wrong length");
        assert!(i < self.rows, "expand_row: row {i} of {}", self.rows);
        out.fill(0.0);
        let (bs, es) = (self.base_stride(), self.empty_stride());
        let (bases, empty) = (&self.bases[i * bs..(i + 1) * bs], &self.empty[i * es..(i + 1) * es]);
        for p in 0..l {
            if empty[p / 8] >> (p % 8) & 1 == 0 {
                let c = (bases[p / 4] >> (2 * (p % 4)) & 3) as usize;
                out[c * l + p] = 1.0;
            }
        }
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> PackedBases {
        let (bs, es) = (self.base_stride(), self.empty_stride());
        let mut out = PackedBases::with_capacity(self.length, idx.len());
        for &i in idx {
            out.bases.extend_from_slice(&self.bases[i * bs..(i + 1) * bs]);
            out.empty.extend_from_slice(&self.empty[i * es..(i + 1) * es]);
        }
        out.rows = idx.len();
        out
    }

    /// Every row cut or padded (with empty positions) to `length`, left-aligned as the
    /// reference aligns sequences.
    pub fn resized(&self, length: usize) -> PackedBases {
        let mut out = PackedBases::with_capacity(length, self.rows);
        for i in 0..self.rows {
            out.push_row((0..length).map(|p| if p < self.length { self.base(i, p) } else { None }));
        }
        out
    }
}

/// A column that is neither all 0 nor a single 1 (a 0.5, two ones, NaN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOneHot;

/// The base of a one-hot column `[a, c, g, t]`: `Ok(None)` when all are 0, `Ok(Some(channel))`
/// for a single 1.
pub fn column_base(col: [f64; 4]) -> Result<Base, NotOneHot> {
    let mut base = None;
    for (c, &v) in col.iter().enumerate() {
        if v == 1.0 {
            if base.is_some() {
                return Err(NotOneHot);
            }
            base = Some(c as u8);
        } else if v != 0.0 {
            return Err(NotOneHot);
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_three_bits_per_position() {
        // 11 positions: the strides round up (3 bytes of bases, 2 of marks), and every kind of
        // position occurs at every bit offset.
        let rows: Vec<Vec<Base>> =
            (0..5).map(|r| (0..11).map(|p| if (p + r) % 5 == 4 { None } else { Some(((p * 3 + r) % 4) as u8) }).collect()).collect();
        let mut packed = PackedBases::with_capacity(11, 5);
        for r in &rows {
            packed.push_row(r.iter().copied());
        }
        assert_eq!(packed.len(), 5);
        assert_eq!(packed.heap_bytes(), 5 * (3 + 2));
        for (i, r) in rows.iter().enumerate() {
            let mut out = vec![7.0; 44];
            packed.expand_row(i, &mut out);
            for (p, &b) in r.iter().enumerate() {
                let col: Vec<f32> = (0..4).map(|c| out[c * 11 + p]).collect();
                let want: Vec<f32> = (0..4).map(|c| if b == Some(c as u8) { 1.0 } else { 0.0 }).collect();
                assert_eq!(col, want, "row {i} position {p}");
                assert_eq!(packed.base(i, p), b);
            }
        }
        let picked = packed.select(&[3, 0]);
        assert_eq!((picked.base(0, 2), picked.base(1, 2)), (rows[3][2], rows[0][2]));
        let mut both = picked.clone();
        both.append(&picked);
        assert_eq!(both.len(), 4);
        assert_eq!(both.base(2, 9), rows[3][9]);
        let cut = packed.resized(6);
        assert_eq!((cut.length(), cut.base(4, 5)), (6, rows[4][5]));
        let padded = packed.resized(13);
        assert_eq!((padded.base(1, 10), padded.base(1, 12)), (rows[1][10], None));
    }

    #[test]
    fn columns_are_one_hot_or_refused() {
        assert_eq!(column_base([0.0, 0.0, 1.0, 0.0]), Ok(Some(2)));
        assert_eq!(column_base([0.0; 4]), Ok(None));
        assert_eq!(column_base([1.0, 1.0, 0.0, 0.0]), Err(NotOneHot));
        assert_eq!(column_base([0.5, 0.0, 0.0, 0.0]), Err(NotOneHot));
    }
}
