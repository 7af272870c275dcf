//! Single-precision GEMM for the convolutions: `dst[m×n] (+)= lhs[m×k]·rhs[k×n]`, every matrix
//! given by (column, row) strides.
//!
//! The `gemm` crate (the one dfdx uses) only has AVX2 kernels on stable Rust (its AVX-512 path
//! needs the `nightly` feature). AVX-512 intrinsics are stable since Rust 1.89, so on CPUs that
//! have it the single-threaded case runs our own Goto-style blocked GEMM with a 12×32 AVX-512
//! microkernel (24 zmm accumulators): packed panels of lhs (12 rows) and rhs (32 columns), k blocks
//! of at most 320. Everything else (no AVX-512, or a parallel GEMM requested) goes to the `gemm` crate.

use gemm::Parallelism;

/// Rows of lhs that the AVX-512 microkernel computes together: callers that split a GEMM over
/// blocks of rows make the blocks multiples of this.
pub(crate) const LHS_PANEL_ROWS: usize = 12;

/// `dst = (accumulate ? dst : 0) + lhs·rhs`, with `dst` row-major (`dst_rs`, column stride 1).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    (lhs_cs, lhs_rs): (usize, usize),
    rhs: &[f32],
    (rhs_cs, rhs_rs): (usize, usize),
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() > (m - 1) * dst_rs + (n - 1), "sgemm: dst too small");
    assert!(k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs, "sgemm: lhs too small");
    assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs, "sgemm: rhs too small");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if matches!(par, Parallelism::None) && avx512::available() {
        let a = avx512::Mat { data: lhs, rs: lhs_rs, cs: lhs_cs };
        let b = avx512::Mat { data: rhs, rs: rhs_rs, cs: rhs_cs };
        // SAFETY: AVX-512F is available (checked at runtime); sizes checked above.
        unsafe { avx512::gemm(m, n, k, dst, dst_rs, accumulate, a, b) };
        return;
    }
    // SAFETY: the slices cover every element addressed by the sizes and strides (checked above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const MR: usize = super::LHS_PANEL_ROWS;
    const NR: usize = 32;
    /// Largest k block; k is split into equal blocks no larger than this.
    const KC: usize = 320;
    const MC: usize = 120;
    const NC: usize = 2048;

    pub fn available() -> bool {
        super::super::fast_math::has_avx512()
    }

    /// A strided read-only matrix.
    #[derive(Clone, Copy)]
    pub struct Mat<'a> {
        pub data: &'a [f32],
        pub rs: usize,
        pub cs: usize,
    }

    /// Packs rows [r0, r0+mc) × cols [p0, p0+kc) of `a` into MR-row panels, p-major, zero padded.
    fn pack_a(a: Mat, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
        for (ip, panel) in out.chunks_mut(kc * MR).take(mc.div_ceil(MR)).enumerate() {
            let rows = (mc - ip * MR).min(MR);
            if rows < MR {
                panel[..kc * MR].fill(0.0);
            }
            if a.rs == 1 {
                // the columns of a are the fast axis: each k step is one contiguous copy
                for p in 0..kc {
                    let s = (p0 + p) * a.cs + r0 + ip * MR;
                    panel[p * MR..p * MR + rows].copy_from_slice(&a.data[s..s + rows]);
                }
                continue;
            }
            for i in 0..rows {
                let row = (r0 + ip * MR + i) * a.rs + p0 * a.cs;
                if a.cs == 1 {
                    for (p, &v) in a.data[row..row + kc].iter().enumerate() {
                        panel[p * MR + i] = v;
                    }
                } else {
                    let src = &a.data[row..=row + (kc - 1) * a.cs];
                    for (p, &v) in src.iter().step_by(a.cs).enumerate() {
                        panel[p * MR + i] = v;
                    }
                }
            }
        }
    }

    /// Packs rows [p0, p0+kc) × cols [c0, c0+nc) of `b` into NR-column panels, p-major.
    fn pack_b(b: Mat, p0: usize, kc: usize, c0: usize, nc: usize, out: &mut [f32]) {
        for (jp, panel) in out.chunks_mut(kc * NR).take(nc.div_ceil(NR)).enumerate() {
            let cols = (nc - jp * NR).min(NR);
            if cols < NR {
                panel[..kc * NR].fill(0.0);
            }
            if b.cs == 1 {
                for p in 0..kc {
                    let s = (p0 + p) * b.rs + c0 + jp * NR;
                    panel[p * NR..p * NR + cols].copy_from_slice(&b.data[s..s + cols]);
                }
            } else {
                // column by column: contiguous reads when the rows of b are the fast axis
                for j in 0..cols {
                    let col = (c0 + jp * NR + j) * b.cs + p0 * b.rs;
                    let src = &b.data[col..=col + (kc - 1) * b.rs];
                    for (p, &v) in src.iter().step_by(b.rs).enumerate() {
                        panel[p * NR + j] = v;
                    }
                }
            }
        }
    }

    /// C[rows×cols] (+)= Apanel·Bpanel over kc, through a full 12×32 register tile.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs: usize, rows: usize, cols: usize, load: bool) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
            let ap = a.add(p * MR);
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(i));
                acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
            }
        }
        if rows == MR && cols == NR {
            for (i, acc) in acc.iter().enumerate() {
                let cr = c.add(i * rs);
                let (mut v0, mut v1) = (acc[0], acc[1]);
                if load {
                    v0 = _mm512_add_ps(v0, _mm512_loadu_ps(cr));
                    v1 = _mm512_add_ps(v1, _mm512_loadu_ps(cr.add(16)));
                }
                _mm512_storeu_ps(cr, v0);
                _mm512_storeu_ps(cr.add(16), v1);
            }
        } else {
            let mut tile = [0.0f32; MR * NR];
            for (i, acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR), acc[0]);
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR + 16), acc[1]);
            }
            for i in 0..rows {
                let cr = c.add(i * rs);
                for j in 0..cols {
                    let v = tile[i * NR + j];
                    *cr.add(j) = if load { *cr.add(j) + v } else { v };
                }
            }
        }
    }

    /// Blocked GEMM: dst (row-major, `dst_rs`) (+)= a·b.
    ///
    /// # Safety
    /// AVX-512F must be available; `dst` must hold (m−1)·dst_rs + n elements and `a`, `b` every
    /// element their strides address.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, accumulate: bool, a: Mat, b: Mat) {
        let mut bpack = vec![0.0f32; KC * NC.min(n.div_ceil(NR) * NR)];
        let mut apack = vec![0.0f32; KC * MC.min(m.div_ceil(MR) * MR)];
        let c = dst.as_mut_ptr();
        // equal k blocks (k = 300 → one block of 300, not 256 + 44): fewer passes over C
        let kc_even = k.div_ceil(k.div_ceil(KC));
        for jc in (0..n).step_by(NC) {
            let nc = (n - jc).min(NC);
            for pc in (0..k).step_by(kc_even) {
                let kc = (k - pc).min(kc_even);
                pack_b(b, pc, kc, jc, nc, &mut bpack);
                let load = accumulate || pc > 0;
                for ic in (0..m).step_by(MC) {
                    let mc = (m - ic).min(MC);
                    pack_a(a, ic, mc, pc, kc, &mut apack);
                    for jp in 0..nc.div_ceil(NR) {
                        let cols = (nc - jp * NR).min(NR);
                        let bp = bpack.as_ptr().add(jp * kc * NR);
                        for ip in 0..mc.div_ceil(MR) {
                            let rows = (mc - ip * MR).min(MR);
                            let ap = apack.as_ptr().add(ip * kc * MR);
                            let cp = c.add((ic + ip * MR) * dst_rs + jc + jp * NR);
                            kernel(kc, ap, bp, cp, dst_rs, rows, cols, load);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], (acs, ars): (usize, usize), b: &[f32], (bcs, brs): (usize, usize)) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * ars + p * acs] as f64 * b[p * brs + j * bcs] as f64;
                }
            }
        }
        c
    }

    #[test]
    fn blocked_gemm_matches_naive_product_for_all_layouts_and_edges() {
        // sizes straddle the 12×32 tile, the kc = 256 block and the mc = 120 block
        for &(m, n, k) in &[(1, 1, 1), (13, 33, 7), (121, 70, 300), (12, 32, 256), (30, 5, 513)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { (m, 1) } else { (1, k) };
                let sb = if tb { (k, 1) } else { (1, n) };
                let want = naive(m, n, k, &a, sa, &b, sb);
                for accumulate in [false, true] {
                    let mut c = vec![1.0f32; m * n];
                    sgemm((m, n, k), &mut c, n, accumulate, &a, sa, &b, sb, Parallelism::None);
                    let scale = want.iter().fold(1.0f64, |s, v| s.max(v.abs()));
                    for (i, (&got, &w)) in c.iter().zip(&want).enumerate() {
                        let w = if accumulate { w + 1.0 } else { w };
                        assert!(
                            (got as f64 - w).abs() <= 1e-5 * scale,
                            "m={m} n={n} k={k} ta={ta} tb={tb} acc={accumulate} at {i}: {got} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
