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
        unsafe { avx512::gemm(m, n, k, dst, dst_rs, accumulate, a, avx512::Rhs::Mat(b)) };
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

/// The im2col matrix of one sample of a 1-d convolution, `[CI·K × LO]`, as a GEMM operand that
/// need not be written out: the AVX-512 GEMM packs its panels straight from the sample's input,
/// which saves writing and re-reading a buffer K times the input's size (11× in the seed models'
/// stacks). Row `i·K + j`, column `t` holds `x[i, t·s + j·d − pad_left]`, 0 where that position
/// lies outside the input (zero padding).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Im2col<'a> {
    /// One sample, `[CI × len]`.
    pub x: &'a [f32],
    pub len: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub stride: usize,
    pub pad_left: usize,
    pub len_out: usize,
}

impl Im2col<'_> {
    /// CI·K.
    pub fn rows(&self) -> usize {
        self.x.len().checked_div(self.len).unwrap_or(0) * self.kernel
    }

    /// Columns `[t0, t0 + out.len())` of row `r` into `out`.
    pub fn row_segment(&self, r: usize, t0: usize, out: &mut [f32]) {
        let (i, j) = (r / self.kernel, r % self.kernel);
        let xi = &self.x[i * self.len..(i + 1) * self.len];
        let s = self.stride;
        let off = (j * self.dilation) as isize - self.pad_left as isize;
        // the columns whose position t·s + off lies inside [0, len)
        let first = if off >= 0 { 0 } else { (-off) as usize }.div_ceil(s);
        let last = self.len as isize - 1 - off;
        let end = if last < 0 { 0 } else { last as usize / s + 1 };
        let t1 = t0 + out.len();
        let (a, b) = (first.clamp(t0, t1), end.clamp(t0, t1));
        let b = b.max(a);
        out[..a - t0].fill(0.0);
        out[b - t0..].fill(0.0);
        if b > a {
            let p0 = (a as isize * s as isize + off) as usize;
            let dst = &mut out[a - t0..b - t0];
            if s == 1 {
                dst.copy_from_slice(&xi[p0..p0 + (b - a)]);
            } else {
                for (d, p) in dst.iter_mut().zip((p0..).step_by(s)) {
                    *d = xi[p];
                }
            }
        }
    }

    /// The whole matrix, row-major (`rows() × len_out`).
    pub fn write_into(&self, col: &mut [f32]) {
        let lo = self.len_out;
        for r in 0..self.rows() {
            self.row_segment(r, 0, &mut col[r * lo..(r + 1) * lo]);
        }
    }
}

/// The right-hand operand of [`sgemm_im2col`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Im2colRhs<'a> {
    /// `rhs = im2col` (`k = CI·K`, `n = LO`): a convolution's forward pass.
    Plain(Im2col<'a>),
    /// `rhs = im2colᵀ` (`k = LO`, `n = CI·K`): the weight gradient `dY·colᵀ`.
    Transposed(Im2col<'a>),
}

/// [`sgemm`] with an im2col matrix as the right-hand operand. The AVX-512 GEMM packs it from
/// the input (same values, same sums, same bits as with the written-out matrix); elsewhere the
/// matrix is written into a scratch buffer first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_im2col(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: Im2colRhs,
    par: Parallelism,
) {
    let (src, rhs_strides) = match rhs {
        Im2colRhs::Plain(src) => {
            assert_eq!((k, n), (src.rows(), src.len_out), "sgemm_im2col: sizes of the im2col operand");
            (src, (1, src.len_out))
        }
        Im2colRhs::Transposed(src) => {
            assert_eq!((k, n), (src.len_out, src.rows()), "sgemm_im2col: sizes of the transposed im2col operand");
            (src, (src.len_out, 1))
        }
    };
    #[cfg(target_arch = "x86_64")]
    if matches!(par, Parallelism::None) && avx512::available() && m > 0 && n > 0 && k > 0 {
        assert!(dst.len() > (m - 1) * dst_rs + (n - 1), "sgemm_im2col: dst too small");
        assert!(lhs.len() > (m - 1) * lhs_strides.1 + (k - 1) * lhs_strides.0, "sgemm_im2col: lhs too small");
        let a = avx512::Mat { data: lhs, rs: lhs_strides.1, cs: lhs_strides.0 };
        let b = match rhs {
            Im2colRhs::Plain(src) => avx512::Rhs::Im2col(src),
            Im2colRhs::Transposed(src) => avx512::Rhs::Im2colT(src),
        };
        // SAFETY: AVX-512F is available (checked at runtime); sizes checked above.
        unsafe { avx512::gemm(m, n, k, dst, dst_rs, accumulate, a, b) };
        return;
    }
    let mut col = super::host::Scratch::for_overwrite(src.rows() * src.len_out);
    src.write_into(&mut col);
    sgemm((m, n, k), dst, dst_rs, accumulate, lhs, lhs_strides, &col, rhs_strides, par);
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

    /// The right-hand operand: a strided matrix, or an im2col matrix (or its transpose) read
    /// from the convolution's input as it is packed.
    #[derive(Clone, Copy)]
    pub enum Rhs<'a> {
        Mat(Mat<'a>),
        Im2col(super::Im2col<'a>),
        Im2colT(super::Im2col<'a>),
    }

    /// Packs rows [p0, p0+kc) × cols [c0, c0+nc) of `b` into NR-column panels, p-major.
    fn pack_b(b: Rhs, p0: usize, kc: usize, c0: usize, nc: usize, out: &mut [f32]) {
        for (jp, panel) in out.chunks_mut(kc * NR).take(nc.div_ceil(NR)).enumerate() {
            let cols = (nc - jp * NR).min(NR);
            if cols < NR {
                panel[..kc * NR].fill(0.0);
            }
            let b = match b {
                Rhs::Mat(b) => b,
                Rhs::Im2col(src) => {
                    // row p of the panel: NR consecutive columns of im2col row p0 + p
                    for p in 0..kc {
                        src.row_segment(p0 + p, c0 + jp * NR, &mut panel[p * NR..p * NR + cols]);
                    }
                    continue;
                }
                Rhs::Im2colT(src) => {
                    // column j of the panel: kc consecutive columns of im2col row c0 + jp·NR + j
                    let mut seg = [0.0f32; KC];
                    for j in 0..cols {
                        src.row_segment(c0 + jp * NR + j, p0, &mut seg[..kc]);
                        for (p, &v) in seg[..kc].iter().enumerate() {
                            panel[p * NR + j] = v;
                        }
                    }
                    continue;
                }
            };
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
    pub unsafe fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, accumulate: bool, a: Mat, b: Rhs) {
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
    fn im2col_operands_give_the_bits_of_the_written_out_matrix() {
        // geometries with padding on both sides, dilation, stride, an even kernel; sizes that
        // straddle the 32-column panel and (for the transpose) the 320 k block
        let cases: [(usize, usize, usize, usize, usize, usize); 4] =
            [(3, 40, 5, 2, 1, 4), (2, 700, 4, 1, 1, 1), (4, 33, 3, 3, 2, 3), (1, 9, 11, 1, 1, 5)];
        for &(cin, len, kernel, dilation, stride, pad_left) in &cases {
            let span = dilation * (kernel - 1) + 1;
            let len_out = (len + 2 * pad_left).saturating_sub(span) / stride + 1;
            let x: Vec<f32> = (0..cin * len).map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0).collect();
            let src = Im2col { x: &x, len, kernel, dilation, stride, pad_left, len_out };
            let rows = src.rows();
            let mut col = vec![f32::NAN; rows * len_out];
            src.write_into(&mut col);
            // the written-out matrix against the definition
            for r in 0..rows {
                for t in 0..len_out {
                    let pos = (t * stride + (r % kernel) * dilation) as isize - pad_left as isize;
                    let want = if pos >= 0 && (pos as usize) < len { x[(r / kernel) * len + pos as usize] } else { 0.0 };
                    assert_eq!(col[r * len_out + t], want, "case {cin},{len},{kernel}: row {r} column {t}");
                }
            }
            for accumulate in [false, true] {
                // forward: [6 × rows] · im2col
                let m = 6;
                let w: Vec<f32> = (0..m * rows).map(|i| ((i * 37 % 23) as f32 - 11.0) / 17.0).collect();
                let (mut want, mut got) = (vec![0.5f32; m * len_out], vec![0.5f32; m * len_out]);
                sgemm((m, len_out, rows), &mut want, len_out, accumulate, &w, (1, rows), &col, (1, len_out), Parallelism::None);
                sgemm_im2col((m, len_out, rows), &mut got, len_out, accumulate, &w, (1, rows), Im2colRhs::Plain(src), Parallelism::None);
                assert_eq!(got, want, "plain, case {cin},{len},{kernel}");
                // weight gradient: [6 × LO] · im2colᵀ
                let g: Vec<f32> = (0..m * len_out).map(|i| ((i * 41 % 19) as f32 - 9.0) / 13.0).collect();
                let (mut want, mut got) = (vec![0.5f32; m * rows], vec![0.5f32; m * rows]);
                sgemm((m, rows, len_out), &mut want, rows, accumulate, &g, (1, len_out), &col, (len_out, 1), Parallelism::None);
                sgemm_im2col(
                    (m, rows, len_out),
                    &mut got,
                    rows,
                    accumulate,
                    &g,
                    (1, len_out),
                    Im2colRhs::Transposed(src),
                    Parallelism::None,
                );
                assert_eq!(got, want, "transposed, case {cin},{len},{kernel}");
            }
        }
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
