//! The tiles: a block of `C`, `MR` rows by `NV` vectors, kept in registers
//! while the kernel walks `k`, for AVX-512 and for AVX2 with FMA.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{Operands, PANEL_MAX, PanelsOfB, copy_panel};

/// One instruction set's vector of `f32` lanes: what a tile needs.
///
/// # Safety
/// Every method requires the CPU feature its implementation names.
unsafe trait Lanes {
    /// Lanes per vector.
    const N: usize;
    /// Most vectors per tile row, and the rows of a full tile for each
    /// width `NV` (index `NV`): what the vector registers hold.
    const MAX_NV: usize;
    const TILE_ROWS: [usize; 5];
    type V: Copy;
    type Mask: Copy;
    /// A mask of the first `valid` lanes (at most `N`).
    unsafe fn mask(valid: usize) -> Self::Mask;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    /// The masked lanes of `*p`; the others are zero and are not read.
    unsafe fn load(p: *const f32, mask: Self::Mask) -> Self::V;
    /// All lanes of `*p`. Cheaper than a masked load, which takes a slot on
    /// the ports that the FMAs need (AVX-512 on Intel, AVX2's `vmaskmovps`).
    unsafe fn load_full(p: *const f32) -> Self::V;
    /// `a · b + c`, rounded once.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Writes the masked lanes of `v` to `p`.
    unsafe fn store(p: *mut f32, mask: Self::Mask, v: Self::V);
}

#[cfg(target_arch = "x86_64")]
struct Avx512;

// SAFETY: every method is only called from `products_avx512`, compiled with
// AVX-512F after the CPU check.
#[cfg(target_arch = "x86_64")]
unsafe impl Lanes for Avx512 {
    const N: usize = 16;
    const MAX_NV: usize = 4;
    // MR·NV accumulators + NV vectors of B + 1 broadcast ≤ 32 registers.
    const TILE_ROWS: [usize; 5] = [0, 12, 12, 8, 6];
    type V = __m512;
    type Mask = __mmask16;
    #[inline(always)]
    unsafe fn mask(valid: usize) -> __mmask16 {
        ((1u32 << valid) - 1) as __mmask16
    }
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, mask: __mmask16) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(mask, p) }
    }
    #[inline(always)]
    unsafe fn load_full(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, mask: __mmask16, v: __m512) {
        unsafe { _mm512_mask_storeu_ps(p, mask, v) }
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;

// SAFETY: every method is only called from `products_avx2`, compiled with
// AVX2 and FMA after the CPU check.
#[cfg(target_arch = "x86_64")]
unsafe impl Lanes for Avx2 {
    const N: usize = 8;
    const MAX_NV: usize = 2;
    // 16 registers: 12 accumulators + 2 vectors of B + 1 broadcast.
    const TILE_ROWS: [usize; 5] = [0, 12, 6, 0, 0];
    type V = __m256;
    type Mask = __m256i;
    #[inline(always)]
    unsafe fn mask(valid: usize) -> __m256i {
        // Lane l is on when l < valid: the sign bit of (l - valid).
        unsafe {
            _mm256_sub_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(valid as i32),
            )
        }
    }
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, mask: __m256i) -> __m256 {
        unsafe { _mm256_maskload_ps(p, mask) }
    }
    #[inline(always)]
    unsafe fn load_full(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, mask: __m256i, v: __m256) {
        unsafe { _mm256_maskstore_ps(p, mask, v) }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn products_avx512(ops: &Operands, m: usize, n: usize) {
    unsafe { panels::<Avx512>(ops, m, n) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn products_avx2(ops: &Operands, m: usize, n: usize) {
    unsafe { panels::<Avx2>(ops, m, n) }
}

/// Column panels of `MAX_NV` vectors; each is swept by row tiles.
#[inline(always)]
unsafe fn panels<L: Lanes>(ops: &Operands, m: usize, n: usize) {
    let width = L::N * L::MAX_NV;
    for j in (0..n).step_by(width) {
        let cols = width.min(n - j);
        let mut ops = unsafe { ops.at_column(j) };
        match ops.b_panels {
            PanelsOfB::InPlace => {}
            // SAFETY: the buffer holds `k` rows of `width ≤ PANEL_MAX`
            // floats; B's rows hold `cols` floats from column j.
            PanelsOfB::Copied(buf) => unsafe {
                copy_panel(&ops, cols, buf, width);
                ops.b = buf;
                ops.rsb = width;
                ops.csb = 1;
            },
            // SAFETY: column j is in panel j / PANEL_MAX (`width` divides
            // PANEL_MAX, so a panel of `width` lies within one of those).
            PanelsOfB::Packed => unsafe {
                let panel = ops.b.sub(j).add(j / PANEL_MAX * ops.k * PANEL_MAX);
                ops.b = panel.add(j % PANEL_MAX);
            },
        }
        unsafe {
            match cols.div_ceil(L::N) {
                1 => rows::<L, 1>(&ops, m, cols),
                2 => rows::<L, 2>(&ops, m, cols),
                3 => rows::<L, 3>(&ops, m, cols),
                _ => rows::<L, 4>(&ops, m, cols),
            }
        }
    }
}

/// All `m` rows of one panel `cols` wide (`NV` vectors).
#[inline(always)]
unsafe fn rows<L: Lanes, const NV: usize>(ops: &Operands, m: usize, cols: usize) {
    unsafe {
        if cols == NV * L::N {
            rows_of::<L, NV, false>(ops, m, cols)
        } else {
            rows_of::<L, NV, true>(ops, m, cols)
        }
    }
}

/// [`rows`], with `TAIL` saying whether the last vector is partial (and so
/// loaded masked): full tiles, then the remaining rows in tiles of 4, 2
/// and 1.
#[inline(always)]
unsafe fn rows_of<L: Lanes, const NV: usize, const TAIL: bool>(
    ops: &Operands,
    m: usize,
    cols: usize,
) {
    let masks: [L::Mask; NV] =
        std::array::from_fn(|v| unsafe { L::mask(cols.saturating_sub(v * L::N).min(L::N)) });
    let full = L::TILE_ROWS[NV];
    let mut i = 0;
    unsafe {
        while i + full <= m {
            match full {
                12 => tile::<L, 12, NV, TAIL>(&ops.at_row(i), &masks, cols),
                8 => tile::<L, 8, NV, TAIL>(&ops.at_row(i), &masks, cols),
                _ => tile::<L, 6, NV, TAIL>(&ops.at_row(i), &masks, cols),
            }
            i += full;
        }
        while i + 4 <= m {
            tile::<L, 4, NV, TAIL>(&ops.at_row(i), &masks, cols);
            i += 4;
        }
        if i + 2 <= m {
            tile::<L, 2, NV, TAIL>(&ops.at_row(i), &masks, cols);
            i += 2;
        }
        if i < m {
            tile::<L, 1, NV, TAIL>(&ops.at_row(i), &masks, cols);
        }
    }
}

/// One `MR × cols` tile of `C` (`cols ≤ NV·N`), from the `MR` rows of `A`
/// and the whole panel of `B` at the operands' corner.
#[inline(always)]
unsafe fn tile<L: Lanes, const MR: usize, const NV: usize, const TAIL: bool>(
    ops: &Operands,
    masks: &[L::Mask; NV],
    cols: usize,
) {
    let Operands {
        k,
        a,
        sa,
        b,
        rsb,
        c,
        sc,
        ..
    } = *ops;
    unsafe {
        let mut acc = [[L::zero(); NV]; MR];
        for p in 0..k {
            let row = b.add(p * rsb);
            let bv: [L::V; NV] = std::array::from_fn(|v| {
                if TAIL && v == NV - 1 {
                    L::load(row.add(v * L::N), masks[v])
                } else {
                    L::load_full(row.add(v * L::N))
                }
            });
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = L::splat(*a.add(r * sa.0 + p * sa.1));
                for (o, &w) in acc_r.iter_mut().zip(&bv) {
                    *o = L::fma(x, w, *o);
                }
            }
        }
        if sc.1 == 1 {
            for (r, acc_r) in acc.iter().enumerate() {
                for (v, &o) in acc_r.iter().enumerate() {
                    L::store(c.add(r * sc.0 + v * L::N), masks[v], o);
                }
            }
        } else {
            // Columns of C are not contiguous (C is written transposed):
            // through a buffer, one element at a time, down each column.
            let mut buf = [[0.0f32; 64]; MR];
            let all = L::mask(L::N);
            for (r, acc_r) in acc.iter().enumerate() {
                for (v, &o) in acc_r.iter().enumerate() {
                    L::store(buf[r].as_mut_ptr().add(v * L::N), all, o);
                }
            }
            for j in 0..cols {
                for (r, row) in buf.iter().enumerate() {
                    *c.add(r * sc.0 + j * sc.1) = row[j];
                }
            }
        }
    }
}
