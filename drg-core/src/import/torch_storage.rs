//! Torch's raw storages: element types, byte order and strided views.
//!
//! A torch tensor is a view (`offset`, `size`, `stride`, counted in elements) of a flat storage
//! of one element type. [`decode`] turns a storage's raw bytes into `f32` (float16, bfloat16 and
//! float64 exactly as `tensor.float()` would, integers as their value) and [`strided_copy`]
//! gathers a view of it in C order, as `tensor.contiguous()` would.

use super::state_dict::{Entry, StoredDtype};

/// One decoded storage: all its elements as f32, and how they were stored.
pub(super) struct Storage {
    pub(super) values: Vec<f32>,
    pub(super) dtype: StoredDtype,
    pub(super) key: String,
}

/// Gathers the elements of a view (`offset`, `size`, `stride` in elements) in C order.
pub(super) fn strided_copy(storage: &Storage, offset: usize, size: &[usize], stride: &[usize]) -> Result<Entry, String> {
    if size.len() != stride.len() {
        return Err(format!("size {size:?} and stride {stride:?} differ in rank"));
    }
    let too_large = || format!("the view (offset {offset}, size {size:?}, stride {stride:?}) is too large");
    let n = size.iter().try_fold(1usize, |n, &s| n.checked_mul(s)).ok_or_else(too_large)?;
    let shape = size.to_vec();
    if n == 0 {
        return Ok(Entry { shape, values: Vec::new(), dtype: storage.dtype });
    }
    // The storage element of the view's last element: the view is in bounds iff this is.
    let last = size
        .iter()
        .zip(stride)
        .try_fold(offset, |at, (&s, &st)| (s - 1).checked_mul(st).and_then(|d| at.checked_add(d)))
        .ok_or_else(too_large)?;
    if last >= storage.values.len() {
        return Err(format!(
            "the view (offset {offset}, size {size:?}, stride {stride:?}) reaches element {last} of storage '{}', which has {}",
            storage.key,
            storage.values.len()
        ));
    }
    let contiguous = {
        let mut expect = 1;
        size.iter().zip(stride).rev().all(|(&s, &st)| {
            let ok = s == 1 || st == expect;
            expect *= s;
            ok
        })
    };
    let values = if contiguous {
        storage.values[offset..offset + n].to_vec()
    } else {
        let mut values = Vec::with_capacity(n);
        let mut index = vec![0usize; size.len()];
        let mut at = offset;
        for _ in 0..n {
            values.push(storage.values[at]);
            // Odometer increment over the dimensions, last fastest. Wrapping arithmetic: a
            // dimension of size 1 may carry any stride, and the round trip is exact mod 2^64.
            for d in (0..size.len()).rev() {
                index[d] += 1;
                at = at.wrapping_add(stride[d]);
                if index[d] < size[d] {
                    break;
                }
                at = at.wrapping_sub(stride[d].wrapping_mul(size[d]));
                index[d] = 0;
            }
        }
        values
    };
    Ok(Entry { shape, values, dtype: storage.dtype })
}

pub(super) fn storage_dtype(class: &str) -> Option<StoredDtype> {
    Some(match class {
        "torch.FloatStorage" => StoredDtype::F32,
        "torch.DoubleStorage" => StoredDtype::F64,
        "torch.HalfStorage" => StoredDtype::F16,
        "torch.BFloat16Storage" => StoredDtype::BF16,
        "torch.LongStorage" => StoredDtype::I64,
        "torch.IntStorage" => StoredDtype::I32,
        "torch.ShortStorage" => StoredDtype::I16,
        "torch.CharStorage" => StoredDtype::I8,
        "torch.ByteStorage" => StoredDtype::U8,
        "torch.BoolStorage" => StoredDtype::Bool,
        _ => return None,
    })
}

/// Decodes `numel` values of `dtype` to f32; `Err(len)` if the bytes are too few.
pub(super) fn decode(bytes: &[u8], dtype: StoredDtype, numel: usize, little_endian: bool) -> Result<Vec<f32>, usize> {
    fn each<const N: usize>(bytes: &[u8], numel: usize, le: bool, f: impl Fn([u8; N]) -> f32) -> Result<Vec<f32>, usize> {
        let len = numel.checked_mul(N).filter(|&len| len <= bytes.len()).ok_or(bytes.len())?;
        Ok(bytes[..len]
            .chunks_exact(N)
            .map(|c| {
                let mut a: [u8; N] = c.try_into().unwrap();
                if !le {
                    a.reverse();
                }
                f(a)
            })
            .collect())
    }
    let le = little_endian;
    match dtype {
        StoredDtype::F32 => each(bytes, numel, le, f32::from_le_bytes),
        StoredDtype::F64 => each(bytes, numel, le, |b| f64::from_le_bytes(b) as f32),
        StoredDtype::F16 => each(bytes, numel, le, |b| f16_to_f32(u16::from_le_bytes(b))),
        StoredDtype::BF16 => each(bytes, numel, le, |b| f32::from_bits((u16::from_le_bytes(b) as u32) << 16)),
        StoredDtype::I64 => each(bytes, numel, le, |b| i64::from_le_bytes(b) as f32),
        StoredDtype::I32 => each(bytes, numel, le, |b| i32::from_le_bytes(b) as f32),
        StoredDtype::I16 => each(bytes, numel, le, |b| i16::from_le_bytes(b) as f32),
        StoredDtype::I8 => each(bytes, numel, le, |b: [u8; 1]| b[0] as i8 as f32),
        StoredDtype::U8 | StoredDtype::Bool => each(bytes, numel, le, |b: [u8; 1]| b[0] as f32),
    }
}

/// IEEE half to single precision, exact (every f16 is an f32), subnormals included.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24, exact in f32.
            let v = m as f32 * f32::from_bits(0x3380_0000); // 2^-24
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        assert!(f16_to_f32(0x8000).is_sign_negative());
    }

    #[test]
    fn strided_views_gather_in_c_order() {
        let storage = Storage { values: (0..12).map(|i| i as f32).collect(), dtype: StoredDtype::F32, key: "0".into() };
        // The transpose of a 3x4 matrix.
        let t = strided_copy(&storage, 0, &[4, 3], &[1, 4]).unwrap();
        assert_eq!(t.values, vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
        // Rows 1..3, columns 2..4 of it as a 3x4 matrix: offset 6.
        let s = strided_copy(&storage, 6, &[2, 2], &[4, 1]).unwrap();
        assert_eq!(s.values, vec![6., 7., 10., 11.]);
        let e = strided_copy(&storage, 6, &[2, 4], &[4, 1]).unwrap_err();
        assert!(e.contains("reaches element 13") && e.contains("has 12"), "{e}");
        // A unit dimension with an absurd stride is harmless; absurd sizes are errors, not panics.
        let odd = strided_copy(&storage, 0, &[3, 1, 2], &[4, usize::MAX, 1]).unwrap();
        assert_eq!(odd.values, vec![0., 1., 4., 5., 8., 9.]);
        let e = strided_copy(&storage, 0, &[usize::MAX, 4], &[1, 1]).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let e = strided_copy(&storage, 0, &[2, 2], &[usize::MAX, 1]).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert_eq!(strided_copy(&storage, 5, &[], &[]).unwrap().values, vec![5.0]);
    }
}
