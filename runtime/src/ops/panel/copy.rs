//! The copies the kernel reads instead of its operands: `B`'s column
//! panels (row by row, or transposed from its columns), all of `B` packed
//! for a streamed product, and an `A` read down its columns, copied to rows.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{Operands, PANEL_MAX};
use crate::tensor::buffer::Buffer;
use crate::tensor::storage;

/// Whether [`gemm`](super::gemm) copies an `A` read down its columns to rows: where it
/// is large and read again for at least four panels. Read in place, each
/// step of `k` fetches a line of another row of `X`: 1024×256×1024 ran at
/// 130 GFLOP/s, and 146 with the copy. With two panels the copy did not
/// pay (784×64×128: 172 in place, 158 copied).
pub(super) fn copies_a(m: usize, k: usize, n: usize) -> bool {
    m * k >= (16 << 10) && n >= 4 * PANEL_MAX
}

/// `A` (`m × k`, read down its columns: `(i, p)` at `a[i + p·sa.1]`) as
/// `m` rows of `k` floats.
pub(super) fn transpose_a(ops: &Operands, m: usize) -> Buffer<f32> {
    let k = ops.k;
    let mut rows = storage::take::<f32>(m * k);
    // A's columns are B's rows in `copy_panel`'s terms: its row p is A's
    // column p, its column c is A's row c.
    let columns = Operands {
        k: m,
        b: ops.a,
        rsb: 1,
        csb: ops.sa.1,
        ..*ops
    };
    // SAFETY: `gemm` checked A's length against m, k and its strides, and
    // `rows` holds m rows of k floats.
    unsafe { copy_panel(&columns, k, rows.as_mut_ptr(), k) };
    rows
}

/// All of `B` (`k × n`) in column panels of [`PANEL_MAX`] floats, one after
/// another, each `k` rows: the layout of [`PanelsOfB::Packed`](super::PanelsOfB::Packed).
pub(super) fn pack(ops: &Operands, n: usize) -> Buffer<f32> {
    let k = ops.k;
    let mut packed = storage::take::<f32>(k * n.next_multiple_of(PANEL_MAX));
    if k == 0 {
        return packed;
    }
    for (j, panel) in (0..n)
        .step_by(PANEL_MAX)
        .zip(packed.chunks_mut(k * PANEL_MAX))
    {
        // SAFETY: `gemm` checked B's length against k, n and its strides,
        // and the panel holds k rows of PANEL_MAX floats.
        unsafe {
            copy_panel(
                &ops.at_column(j),
                PANEL_MAX.min(n - j),
                panel.as_mut_ptr(),
                PANEL_MAX,
            )
        };
    }
    packed
}

/// Copies the `k × cols` panel of `B` at the operands' corner into `dst`,
/// rows `width` floats apart, transposing it where `B` is read transposed.
///
/// # Safety
/// `B` holds the panel at its strides, and `dst` holds `k` rows of `width`
/// (at least `cols`) floats.
// Not inlined into the kernel: inlined, it cost the tiles 3% (layout).
#[inline(never)]
pub(super) unsafe fn copy_panel(ops: &Operands, cols: usize, dst: *mut f32, width: usize) {
    let (k, b) = (ops.k, ops.b);
    unsafe {
        if ops.csb == 1 {
            for p in 0..k {
                std::ptr::copy_nonoverlapping(b.add(p * ops.rsb), dst.add(p * width), cols);
            }
            return;
        }
        // Column c of the panel is contiguous in B: 16×16 blocks are
        // transposed in registers (a scalar copy, 16 stores per line of B,
        // cost dY·Wᵀ 5% of its time), the edges one float at a time.
        let (full_rows, full_cols) = (k / 16 * 16, cols / 16 * 16);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            for p0 in (0..full_rows).step_by(16) {
                for c0 in (0..full_cols).step_by(16) {
                    let from = b.add(c0 * ops.csb + p0);
                    transpose_16x16(from, ops.csb, dst.add(p0 * width + c0), width);
                }
            }
            transpose_scalar(b, ops.csb, full_rows..k, 0..full_cols, dst, width);
            transpose_scalar(b, ops.csb, 0..k, full_cols..cols, dst, width);
            return;
        }
        transpose_scalar(b, ops.csb, 0..k, 0..cols, dst, width);
    }
}

/// `dst[p·width + c] = b[c·csb + p]` for the given rows and columns, in
/// steps of 16 rows, so that the rows written stay in L1 while every
/// column adds its 16 floats (one line of B) to them.
///
/// # Safety
/// As for [`copy_panel`].
unsafe fn transpose_scalar(
    b: *const f32,
    csb: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    dst: *mut f32,
    width: usize,
) {
    for p0 in rows.clone().step_by(16) {
        for c in cols.clone() {
            for p in p0..(p0 + 16).min(rows.end) {
                // SAFETY: the caller's.
                unsafe { *dst.add(p * width + c) = *b.add(c * csb + p) };
            }
        }
    }
}

/// Writes the transpose of the 16×16 block whose row `i` is at
/// `src + i·csb` (16 floats) to rows `dst + j·width`: unpacks within
/// 128-bit lanes, then two shuffles of whole lanes.
///
/// # Safety
/// The CPU has AVX-512F; both blocks are inside their buffers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_16x16(src: *const f32, csb: usize, dst: *mut f32, width: usize) {
    unsafe {
        let a: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * csb)));
        // t[2h], t[2h+1]: rows 2h and 2h+1 interleaved (low and high pairs).
        let mut t = [_mm512_setzero_ps(); 16];
        for h in 0..8 {
            t[2 * h] = _mm512_unpacklo_ps(a[2 * h], a[2 * h + 1]);
            t[2 * h + 1] = _mm512_unpackhi_ps(a[2 * h], a[2 * h + 1]);
        }
        // u[4q + c]: in 128-bit lane l, rows 4q..4q+4 of column 4l + c.
        let mut u = [_mm512_setzero_ps(); 16];
        let pd = _mm512_castps_pd;
        for q in 0..4 {
            let (lo, hi) = (t[4 * q], t[4 * q + 2]);
            let (lo2, hi2) = (t[4 * q + 1], t[4 * q + 3]);
            u[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(lo), pd(hi)));
            u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(lo), pd(hi)));
            u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(lo2), pd(hi2)));
            u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(lo2), pd(hi2)));
        }
        for c in 0..4 {
            // Lanes 0, 1 (v) and 2, 3 (w) of rows 0..8, then of rows 8..16.
            let v = _mm512_shuffle_f32x4::<0x44>(u[c], u[4 + c]);
            let w = _mm512_shuffle_f32x4::<0xEE>(u[c], u[4 + c]);
            let v2 = _mm512_shuffle_f32x4::<0x44>(u[8 + c], u[12 + c]);
            let w2 = _mm512_shuffle_f32x4::<0xEE>(u[8 + c], u[12 + c]);
            // Column 4l + c of the block: row 4l + c of the transpose.
            _mm512_storeu_ps(dst.add(c * width), _mm512_shuffle_f32x4::<0x88>(v, v2));
            _mm512_storeu_ps(
                dst.add((4 + c) * width),
                _mm512_shuffle_f32x4::<0xDD>(v, v2),
            );
            _mm512_storeu_ps(
                dst.add((8 + c) * width),
                _mm512_shuffle_f32x4::<0x88>(w, w2),
            );
            _mm512_storeu_ps(
                dst.add((12 + c) * width),
                _mm512_shuffle_f32x4::<0xDD>(w, w2),
            );
        }
    }
}
