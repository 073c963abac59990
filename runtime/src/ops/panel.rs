//! `f32` matrix products read straight from the operands, without packing:
//! the small products of a training step, such as the first layer's
//! `[64, 784] · [784, 128]` and its weight gradient `Xᵀ · dY`,
//! `[784, 64] · [64, 128]`.
//!
//! A general GEMM (matrixmultiply) first copies panels of both operands into
//! packed buffers, which pays when every element is used many times. In the
//! 784-128-10 step that copying was 10% of the time (perf), and for the
//! weight gradient of a 10-wide layer it was a third of the product. Here
//! `B`'s rows must be contiguous (any row stride); `A` and `C` may have any
//! strides. A tile of `C`, `MR` rows by `NV` vectors, stays in registers
//! while the kernel walks `k`: per step it loads `NV` vectors of one row of
//! `B` and broadcasts one element of `A` per row into `MR·NV` FMAs. A
//! transposed activation `Xᵀ` as `A` costs nothing extra: the tile's `MR`
//! elements of one column are `MR` consecutive floats of a row of `X`.
//!
//! Instead of writing `C`, the kernel can hand it to a visitor a block of
//! whole rows at a time ([`Out::Blocks`]), made in a small buffer that
//! stays in cache: Adam's update of a weight then reads its gradient from
//! there, and no buffer for the whole gradient is written or read back (see
//! [`Tensor::for_each_block`](crate::Tensor::for_each_block)).
//!
//! The tile sizes keep the accumulators, `B`'s vectors and the broadcast in
//! the 32 vector registers of AVX-512 (16 with AVX2). A column panel of `B`
//! (`k × 64` floats) stays in L2 while the row tiles pass over it, except
//! where `B`'s rows are a multiple of 4 KiB apart: the panel is then copied
//! into a contiguous buffer first (see `packs`).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::scalar::strided_len;
use crate::tensor::storage::{self, Block, Visitor};

/// Where a product's values go.
pub enum Out<'a, T> {
    /// Written into `C`, whose `(i, j)` is at `c[i·s.0 + j·s.1]`.
    Matrix(&'a mut [T], (usize, usize)),
    /// Written as [`Out::Matrix`], with `B`'s column panels shared out over
    /// this many threads (each copies and multiplies only its own panels,
    /// for all of `C`'s rows).
    Split(&'a mut [T], (usize, usize), usize),
    /// Handed to a visitor in blocks of whole rows of a row-major `m × n`
    /// matrix, and not kept. `B` is read once per block: from L2 where it
    /// fits in [`STREAM_B_MAX`], else from L3, in blocks of at least 64 rows
    /// of at most 512 KB; [`gemm`] returns `false` for a wider `C`.
    Blocks(&'a mut Visit<'a, T>),
    /// Handed to a visitor shared by this many threads, which make and
    /// visit disjoint blocks of rows at once.
    SharedBlocks(&'a (dyn Fn(Block<'_, T>) + Sync), usize),
}

/// A visitor of a product's blocks.
pub type Visit<'v, T> = dyn FnMut(Block<'_, T>) + 'v;

/// For [`Out::Blocks`], the largest `B` in bytes that stays in L2 while
/// every block of rows reads all of it again; blocks may then be short.
pub const STREAM_B_MAX: usize = 256 << 10;
/// Bytes of the buffer a block of rows is made in (within L2, beside `B`).
const BLOCK_BYTES: usize = 64 << 10;
/// Rows per block at least, where `B` exceeds [`STREAM_B_MAX`]: `B` is then
/// read from L3 once per block, which costs little beside the block's
/// `MIN_HEIGHT · k · n` multiply-adds (784-1024-1024-10's weight gradients:
/// 64 rows, a 256 KB block).
const MIN_HEIGHT: usize = 64;
/// The largest block buffer; wider products are not streamed.
const BLOCK_MAX: usize = 512 << 10;

/// `C = A · B` for `C: m × n`, `A: m × k` and `B: k × n`, where element
/// `(i, p)` of `A` is at `a[i·sa.0 + p·sa.1]` and `(p, j)` of `B` at
/// `b[p·sb.0 + j·sb.1]`; `out` says where `C` goes. `B`'s rows or its
/// columns must be contiguous: `sb.1 == 1`, or `sb.0 == 1` (a layer's `Wᵀ`,
/// whose column panels are then copied transposed). Returns `false`, having
/// written and visited nothing, when the CPU has neither AVX-512F nor AVX2
/// with FMA, or `B` has neither layout; the caller then uses the platform
/// GEMM.
///
/// **Panics** if a slice is too short for its strides.
///
/// ```
/// use adjoint_runtime::ops::panel::{gemm, Out};
/// // [[1, 2], [3, 4]] · [[1], [1]] = [[3], [7]]
/// let (a, b) = ([1.0_f32, 2.0, 3.0, 4.0], [1.0, 1.0]);
/// let mut c = [0.0; 2];
/// if gemm(2, 2, 1, &a, (2, 1), &b, (1, 1), Out::Matrix(&mut c, (1, 1))) {
///     assert_eq!(c, [3.0, 7.0]);
/// }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    sb: (usize, usize),
    out: Out<'_, f32>,
) -> bool {
    assert!(
        a.len() >= strided_len(m, sa.0, k, sa.1) && b.len() >= strided_len(k, sb.0, n, sb.1),
        "panel::gemm: operands too small for {m}x{k} · {k}x{n}"
    );
    // Rows of B contiguous, or else its columns (read transposed).
    let (rsb, csb) = match sb {
        (rsb, 1) => (rsb, 1),
        (1, csb) => (1, csb),
        _ => return false,
    };
    let ops = Operands {
        k,
        a: a.as_ptr(),
        sa,
        b: b.as_ptr(),
        rsb,
        csb,
        c: std::ptr::null_mut(),
        sc: (n, 1),
        b_panels: PanelsOfB::InPlace,
    };
    let Some(entry) = entry() else {
        return false;
    };
    // A read down its columns (a weight gradient's Xᵀ, whose rows are X's
    // columns) is copied to rows first, where it is re-read for many panels.
    let rows_of_a = (sa.0 == 1 && sa.1 != 1 && copies_a(m, k, n)).then(|| transpose_a(&ops, m));
    let ops = match &rows_of_a {
        Some(rows) => Operands {
            a: rows.as_ptr(),
            sa: (k, 1),
            ..ops
        },
        None => ops,
    };
    let done = written_or_visited(entry, ops, m, n, out);
    if let Some(rows) = rows_of_a {
        storage::give(rows);
    }
    done
}

/// Whether [`gemm`] copies an `A` read down its columns to rows: where it
/// is large and read again for at least four panels. Read in place, each
/// step of `k` fetches a line of another row of `X`: 1024×256×1024 ran at
/// 130 GFLOP/s, and 146 with the copy. With two panels the copy did not
/// pay (784×64×128: 172 in place, 158 copied).
fn copies_a(m: usize, k: usize, n: usize) -> bool {
    m * k >= (16 << 10) && n >= 4 * PANEL_MAX
}

/// `A` (`m × k`, read down its columns: `(i, p)` at `a[i + p·sa.1]`) as
/// `m` rows of `k` floats.
fn transpose_a(ops: &Operands, m: usize) -> crate::tensor::buffer::Buffer<f32> {
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

/// [`gemm`] for operands whose layouts are settled.
fn written_or_visited(entry: Entry, ops: Operands, m: usize, n: usize, out: Out<'_, f32>) -> bool {
    let (c, sc, parts) = match out {
        Out::Matrix(c, sc) => (c, sc, 1),
        Out::Split(c, sc, parts) => (c, sc, parts),
        Out::Blocks(visit) => return blocks(entry, &ops, m, n, Visitor::One(visit)),
        Out::SharedBlocks(visit, parts) => {
            return blocks(entry, &ops, m, n, Visitor::Shared(visit, parts));
        }
    };
    assert!(
        c.len() >= strided_len(m, sc.0, n, sc.1),
        "panel::gemm: output too small for {m}x{n} with strides {sc:?}"
    );
    let ops = Operands {
        c: c.as_mut_ptr(),
        sc,
        ..ops
    };
    // Whole panels per thread: part t has panels [t·P/parts, (t+1)·P/parts).
    let panels = n.div_ceil(PANEL_MAX);
    let parts = parts.clamp(1, panels.max(1));
    let edge = |t: usize| (panels * t / parts * PANEL_MAX).min(n);
    let columns = (0..parts).map(|t| Columns {
        // SAFETY (offset): column edge(t) ≤ n of B's rows and C.
        ops: unsafe { ops.at_column(edge(t)) },
        n: edge(t + 1) - edge(t),
    });
    // SAFETY: `entry` checked the CPU's features, and the assertions keep
    // every index the tiles use inside the slices; the parts write
    // disjoint columns of C and only read A and B.
    let run = |part: Columns| unsafe { columns_of(entry, &part.ops, m, part.n) };
    if parts == 1 {
        columns.for_each(run);
    } else {
        crate::threads::for_each_part(columns, run);
    }
    true
}

/// Columns of a written product that one thread makes: its operands
/// (offset to its first column) and its width.
struct Columns {
    ops: Operands,
    n: usize,
}

// SAFETY: the pointers are into slices that `gemm` borrows until every part
// is done; the parts write disjoint columns of C.
unsafe impl Send for Columns {}

/// Runs `entry` on `n` columns of a written product, copying `B`'s panels
/// first where `packs` says so (into a buffer of this thread's).
///
/// # Safety
/// As for `entry`: the CPU has its features, and the operands hold `m × n`.
unsafe fn columns_of(entry: Entry, ops: &Operands, m: usize, n: usize) {
    let mut panel = copies(ops).then(|| storage::take::<f32>(ops.k * PANEL_MAX));
    let ops = Operands {
        b_panels: panel
            .as_mut()
            .map_or(PanelsOfB::InPlace, |p| PanelsOfB::Copied(p.as_mut_ptr())),
        ..*ops
    };
    // SAFETY: the caller's; the panel buffer holds `k` rows of the widest
    // panel.
    unsafe { entry(&ops, m, n) };
    if let Some(panel) = panel {
        storage::give(panel);
    }
}

/// The widest column panel of any instruction set, in floats.
const PANEL_MAX: usize = 64;

/// Whether a written product copies `B`'s column panels into a contiguous
/// buffer before the tiles read them (a streamed one always packs `B`, see
/// `blocks`). Where `B`'s rows are a multiple of 4 KiB apart (a 1024-wide
/// layer's weights), a panel's rows all fall in the same few sets of L1
/// and L2 and evict each other, so every tile read the panel from L3:
/// 256×1024×1024 ran at 71 GFLOP/s in place and 145 copied (784-1024-1024-10
/// b256: 32 -> 43.5 steps/s). Elsewhere the copy, a pass over `B`, did not
/// pay: the forward `X·W` of a 784-128 layer lost 7% for it.
pub(crate) fn packs(k: usize, rsb: usize) -> bool {
    k > 1 && (rsb * size_of::<f32>()).is_multiple_of(4096)
}

/// Whether a written product copies `B`'s panels: where [`packs`] says so,
/// and always for a `B` read transposed (the tiles need rows).
fn copies(ops: &Operands) -> bool {
    ops.csb != 1 || packs(ops.k, ops.rsb)
}

/// A kernel entry point: all of `C` for the operands.
type Entry = unsafe fn(&Operands, usize, usize);

/// The entry point for this CPU's widest vectors, or `None` where it has
/// neither AVX-512F nor AVX2 with FMA.
fn entry() -> Option<Entry> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(products_avx512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(products_avx2);
        }
    }
    None
}

/// [`Out::Blocks`] and [`Out::SharedBlocks`]: `C` made a block of rows at a
/// time in a buffer, each block visited whole (its rows are contiguous, so
/// as one run). Shared, the threads take every `parts`-th block, each in a
/// buffer of its own.
fn blocks(entry: Entry, ops: &Operands, m: usize, n: usize, visit: Visitor<'_, f32>) -> bool {
    let row_bytes = n.max(1) * size_of::<f32>();
    let mut height = BLOCK_BYTES / row_bytes;
    if ops.k * n * size_of::<f32>() > STREAM_B_MAX {
        height = height.max(MIN_HEIGHT);
        if height * row_bytes > BLOCK_MAX {
            return false;
        }
    }
    let height = height.clamp(1, m.max(1));
    // Every block reads all of B, so B is packed once, whole, into
    // contiguous panels: at most 256 KiB for a B that stays in L2 (a batch
    // of 128's dY: 784-128-10 b128 2,096 -> 2,158 steps/s), and the 4 KiB
    // strided B of the wide layers, which must be copied anyway (see
    // `packs`), once rather than once per block.
    let packed = pack(ops, n);
    let ops = Operands {
        b: packed.as_ptr(),
        rsb: PANEL_MAX,
        csb: 1,
        b_panels: PanelsOfB::Packed,
        ..*ops
    };
    // Blocks `first`, `first + step`, ... of C, each made and visited.
    let run = |first: usize, step: usize, visit: &dyn Fn(Block<'_, f32>)| {
        let mut buf = storage::take::<f32>(height * n);
        for i in (first * height..m).step_by(step * height) {
            let rows = height.min(m - i);
            let block = Operands {
                // SAFETY (offset): row i < m of A.
                a: unsafe { ops.a.add(i * ops.sa.0) },
                c: buf.as_mut_ptr(),
                sc: (n, 1),
                ..ops
            };
            // SAFETY: `entry` checked the CPU's features; A's rows i.. and
            // B are inside the slices `gemm` checked, and the buffer holds
            // `rows × n` values.
            unsafe { entry(&block, rows, n) };
            visit(Block {
                start: i * n,
                stride: rows * n,
                rows: 1,
                cols: rows * n,
                width: rows * n,
                values: &buf[..rows * n],
            });
        }
        storage::give(buf);
    };
    match visit {
        Visitor::One(visit) => {
            let visit = std::cell::RefCell::new(visit);
            run(0, 1, &|block| (visit.borrow_mut())(block));
        }
        Visitor::Shared(visit, parts) => {
            let (run, parts) = (SharedMaker(&run), parts.max(1));
            crate::threads::for_each_part(0..parts, |t| run.make(t, parts, visit));
        }
    }
    storage::give(packed);
    true
}

/// The block maker of [`blocks`], shared by its threads.
struct SharedMaker<'a, F>(&'a F);

// SAFETY: the maker reads A and the packed B through raw pointers into
// buffers that outlive the threads, and writes only a buffer of its own.
unsafe impl<F> Sync for SharedMaker<'_, F> {}

impl<F: Fn(usize, usize, &dyn Fn(Block<'_, f32>))> SharedMaker<'_, F> {
    /// Blocks `first`, `first + step`, ... of C, made and visited.
    fn make(&self, first: usize, step: usize, visit: &(dyn Fn(Block<'_, f32>) + Sync)) {
        (self.0)(first, step, visit)
    }
}

/// All of `B` (`k × n`) in column panels of [`PANEL_MAX`] floats, one after
/// another, each `k` rows: the layout of [`PanelsOfB::Packed`].
fn pack(ops: &Operands, n: usize) -> crate::tensor::buffer::Buffer<f32> {
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
unsafe fn copy_panel(ops: &Operands, cols: usize, dst: *mut f32, width: usize) {
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
unsafe fn products_avx512(ops: &Operands, m: usize, n: usize) {
    unsafe { panels::<Avx512>(ops, m, n) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn products_avx2(ops: &Operands, m: usize, n: usize) {
    unsafe { panels::<Avx2>(ops, m, n) }
}

/// The operands of one product, as pointers with their strides (see
/// [`gemm`]); a tile offsets `a`, `b` and `c` to its own corner.
#[derive(Clone, Copy)]
struct Operands {
    k: usize,
    a: *const f32,
    sa: (usize, usize),
    b: *const f32,
    rsb: usize,
    /// `B`'s column stride: 1, or for a `B` read transposed its columns'
    /// distance (the tiles then read copied panels, whose is 1).
    csb: usize,
    c: *mut f32,
    sc: (usize, usize),
    /// How the tiles read `B`'s column panels.
    b_panels: PanelsOfB,
}

/// How the tiles read a column panel of `B` (see [`packs`]).
#[derive(Clone, Copy)]
enum PanelsOfB {
    /// From `B`'s rows, in place.
    InPlace,
    /// From a copy made just before, in this buffer of `k` rows of
    /// [`PANEL_MAX`] floats.
    Copied(*mut f32),
    /// `B` is packed already: its column panels of [`PANEL_MAX`] floats lie
    /// one after another, each `k` rows (`rsb` is [`PANEL_MAX`]).
    Packed,
}

impl Operands {
    /// The operands of the rows of `C` from row `i`.
    #[inline(always)]
    unsafe fn at_row(&self, i: usize) -> Operands {
        unsafe {
            Operands {
                a: self.a.add(i * self.sa.0),
                c: self.c.add(i * self.sc.0),
                ..*self
            }
        }
    }

    /// The operands of the columns of `C` (and `B`) from column `j`.
    #[inline(always)]
    unsafe fn at_column(&self, j: usize) -> Operands {
        unsafe {
            Operands {
                b: self.b.add(j * self.csb),
                c: self.c.add(j * self.sc.1),
                ..*self
            }
        }
    }
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The naive product in f64, for comparison.
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        sa: (usize, usize),
        b: &[f32],
        rsb: usize,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[i * sa.0 + p * sa.1] as f64 * b[p * rsb + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    /// `C` from one entry point, written (`sc: Some`) or gathered from the
    /// visited blocks (`sc: None`, checking that each element comes once).
    #[allow(clippy::too_many_arguments)]
    fn run(
        entry: Entry,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        sa: (usize, usize),
        b: &[f32],
        rsb: usize,
        sc: Option<(usize, usize)>,
        b_panels: Panels,
    ) -> Vec<f32> {
        let mut c = vec![f32::NAN; m * n];
        let mut buf = vec![f32::NAN; k * PANEL_MAX];
        let mut ops = Operands {
            k,
            a: a.as_ptr(),
            sa,
            b: b.as_ptr(),
            rsb,
            csb: 1,
            c: c.as_mut_ptr(),
            sc: sc.unwrap_or((n, 1)),
            b_panels: PanelsOfB::InPlace,
        };
        let packed = pack(&ops, n);
        match b_panels {
            Panels::InPlace => {}
            Panels::Copied => ops.b_panels = PanelsOfB::Copied(buf.as_mut_ptr()),
            Panels::Packed => {
                ops.b = packed.as_ptr();
                ops.rsb = PANEL_MAX;
                ops.b_panels = PanelsOfB::Packed;
            }
        }
        let Some(sc) = sc else {
            let mut seen = vec![0u8; m * n];
            let mut visit = |block: Block<'_, f32>| {
                for r in 0..block.rows {
                    let (start, run) = block.run(r);
                    for (j, &v) in run.iter().enumerate() {
                        seen[start + j] += 1;
                        c[start + j] = v;
                    }
                }
            };
            assert!(blocks(entry, &ops, m, n, Visitor::One(&mut visit)));
            assert!(
                seen.iter().all(|&s| s == 1),
                "{m}x{k}x{n}: an element visited other than once"
            );
            return c;
        };
        // SAFETY: the caller checked the CPU's features, and every buffer
        // fits its strides.
        unsafe { entry(&ops, m, n) };
        (0..m * n)
            .map(|e| c[(e / n) * sc.0 + (e % n) * sc.1])
            .collect()
    }

    /// How a test's tiles read `B`.
    #[derive(Clone, Copy, Debug)]
    enum Panels {
        InPlace,
        Copied,
        Packed,
    }

    /// `B` with rows 4 KiB apart, which `gemm` copies panel by panel (and
    /// packs whole for visited blocks), gives
    /// the naive product written and visited.
    #[test]
    fn a_b_with_rows_4_kib_apart_is_copied_and_multiplies_the_same() {
        let (m, k, n, rsb) = (30, 9, 70, 1024);
        assert!(packs(k, rsb));
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * rsb).map(|i| (i % 5) as f32 * 0.5).collect();
        let want = naive(m, k, n, &a, (k, 1), &b, rsb);
        let mut c = vec![f32::NAN; m * n];
        if !gemm(
            m,
            k,
            n,
            &a,
            (k, 1),
            &b,
            (rsb, 1),
            Out::Matrix(&mut c, (n, 1)),
        ) {
            return; // neither AVX-512 nor AVX2 here
        }
        assert_eq!(c, want);
        let mut visited = vec![f32::NAN; m * n];
        let mut visit = |block: Block<'_, f32>| {
            let (start, run) = block.run(0);
            visited[start..start + run.len()].copy_from_slice(run);
        };
        assert!(gemm(
            m,
            k,
            n,
            &a,
            (k, 1),
            &b,
            (rsb, 1),
            Out::Blocks(&mut visit)
        ));
        assert_eq!(visited, want);
    }

    /// `B` read transposed (its columns contiguous, `sb = (1, csb)`) gives
    /// the naive product: whole 16×16 blocks and the edges around them,
    /// written, shared out over threads and visited.
    #[test]
    fn a_b_read_transposed_multiplies_the_same() {
        for (m, k, n) in [(13, 37, 70), (8, 32, 64), (5, 1, 9), (20, 100, 130)] {
            let csb = k + 3;
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let bt: Vec<f32> = (0..n * csb).map(|i| (i % 11) as f32 * 0.25).collect();
            // The same B, row-major, for the naive product.
            let rows: Vec<f32> = (0..k * n).map(|e| bt[(e % n) * csb + e / n]).collect();
            let want = naive(m, k, n, &a, (k, 1), &rows, n);
            for parts in [1, 3] {
                let mut c = vec![f32::NAN; m * n];
                let out = Out::Split(&mut c, (n, 1), parts);
                if !gemm(m, k, n, &a, (k, 1), &bt, (1, csb), out) {
                    return; // neither AVX-512 nor AVX2 here
                }
                assert_eq!(c, want, "{m}x{k}x{n}, {parts} parts");
            }
            let mut visited = vec![f32::NAN; m * n];
            let mut visit = |block: Block<'_, f32>| {
                let (start, run) = block.run(0);
                visited[start..start + run.len()].copy_from_slice(run);
            };
            assert!(gemm(
                m,
                k,
                n,
                &a,
                (k, 1),
                &bt,
                (1, csb),
                Out::Blocks(&mut visit)
            ));
            assert_eq!(visited, want, "{m}x{k}x{n} visited");
        }
        // Neither rows nor columns contiguous: left to the platform GEMM.
        let mut c = [0.0f32; 4];
        assert!(!gemm(
            2,
            2,
            2,
            &[0.0; 4],
            (2, 1),
            &[0.0; 9],
            (3, 2),
            Out::Matrix(&mut c, (2, 1))
        ));
    }

    /// A large `A` read down its columns (a weight gradient's `Xᵀ`), which
    /// `gemm` copies to rows first, gives the naive product: written,
    /// shared out over threads, and visited.
    #[test]
    fn a_large_a_read_down_its_columns_multiplies_the_same() {
        let (m, k, n) = (130, 131, 260);
        assert!(copies_a(m, k, n));
        let lda = m + 2;
        let a: Vec<f32> = (0..k * lda).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
        let want = naive(m, k, n, &a, (1, lda), &b, n);
        for parts in [1, 2] {
            let mut c = vec![f32::NAN; m * n];
            if !gemm(
                m,
                k,
                n,
                &a,
                (1, lda),
                &b,
                (n, 1),
                Out::Split(&mut c, (n, 1), parts),
            ) {
                return; // neither AVX-512 nor AVX2 here
            }
            assert_eq!(c, want, "{parts} parts");
        }
        let mut visited = vec![f32::NAN; m * n];
        let mut visit = |block: Block<'_, f32>| {
            let (start, run) = block.run(0);
            visited[start..start + run.len()].copy_from_slice(run);
        };
        assert!(gemm(
            m,
            k,
            n,
            &a,
            (1, lda),
            &b,
            (n, 1),
            Out::Blocks(&mut visit)
        ));
        assert_eq!(visited, want);
    }

    /// Blocks made by several threads at once (`Out::SharedBlocks`) cover
    /// the naive product, every element once, for more threads than blocks
    /// too.
    #[test]
    fn blocks_made_by_several_threads_cover_the_product_once() {
        use std::sync::Mutex;
        let (m, k, n) = (300, 20, 1100);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
        let want = naive(m, k, n, &a, (k, 1), &b, n);
        for parts in [1, 2, 3, 64] {
            let got = Mutex::new((vec![f32::NAN; m * n], vec![0u8; m * n]));
            let visit = |block: Block<'_, f32>| {
                let mut got = got.lock().unwrap();
                let (start, run) = block.run(0);
                got.0[start..start + run.len()].copy_from_slice(run);
                got.1[start..start + run.len()]
                    .iter_mut()
                    .for_each(|s| *s += 1);
            };
            if !gemm(
                m,
                k,
                n,
                &a,
                (k, 1),
                &b,
                (n, 1),
                Out::SharedBlocks(&visit, parts),
            ) {
                return; // neither AVX-512 nor AVX2 here
            }
            let (values, seen) = got.into_inner().unwrap();
            assert!(
                seen.iter().all(|&s| s == 1),
                "{parts} parts: every element once"
            );
            assert_eq!(values, want, "{parts} parts");
        }
    }

    /// A written product whose panels are shared out over threads gives the
    /// naive product, for more threads than panels too, in both layouts of
    /// `C`, with `B` copied (rows 4 KiB apart) or read in place.
    #[test]
    fn panels_shared_out_over_threads_multiply_the_same() {
        for (m, k, n, rsb) in [(30, 9, 200, 1024), (7, 5, 70, 1024), (13, 4, 150, 157)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..k * rsb).map(|i| (i % 5) as f32 * 0.5).collect();
            let want = naive(m, k, n, &a, (k, 1), &b, rsb);
            for parts in [1, 2, 3, 8] {
                for sc in [(n, 1), (1, m)] {
                    let mut c = vec![f32::NAN; m * n];
                    let out = Out::Split(&mut c, sc, parts);
                    if !gemm(m, k, n, &a, (k, 1), &b, (rsb, 1), out) {
                        return; // neither AVX-512 nor AVX2 here
                    }
                    let got: Vec<f32> = (0..m * n)
                        .map(|e| c[(e / n) * sc.0 + (e % n) * sc.1])
                        .collect();
                    assert_eq!(got, want, "{m}x{k}x{n}, {parts} parts, C strides {sc:?}");
                }
            }
        }
    }

    /// Both instruction sets, every tile shape and remainder, both layouts
    /// of A, B read in place, copied panel by panel or packed whole, and C
    /// written in both layouts or visited, against the naive product.
    #[test]
    fn every_shape_matches_the_naive_product() {
        let value = |i: usize| ((i * 7919) % 23) as f32 / 11.0 - 1.0;
        let isas: [(bool, Entry); 2] = [
            (
                std::arch::is_x86_feature_detected!("avx512f"),
                products_avx512,
            ),
            (
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma"),
                products_avx2,
            ),
        ];
        for (present, entry) in isas {
            if !present {
                continue;
            }
            for m in [1, 2, 3, 5, 7, 13, 25, 64, 300] {
                for n in [1, 7, 10, 16, 17, 33, 48, 63, 64, 65, 130] {
                    for k in [0, 1, 9, 40] {
                        let a: Vec<f32> = (0..m * k).map(value).collect();
                        let b: Vec<f32> = (0..k * (n + 3)).map(|i| value(i + 5)).collect();
                        for sa in [(k, 1), (1, m)] {
                            let want = naive(m, k, n, &a, sa, &b, n + 3);
                            for (sc, panels) in [
                                (Some((n, 1)), Panels::InPlace),
                                (Some((n, 1)), Panels::Copied),
                                (Some((n, 1)), Panels::Packed),
                                (Some((1, m)), Panels::InPlace),
                                (Some((1, m)), Panels::Copied),
                                // Visited blocks always read B packed.
                                (None, Panels::InPlace),
                            ] {
                                let got = run(entry, m, k, n, &a, sa, &b, n + 3, sc, panels);
                                for (e, (got, want)) in got.iter().zip(&want).enumerate() {
                                    assert!(
                                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                        "{m}x{k}x{n} sa {sa:?} sc {sc:?} {panels:?} \
                                         at {e}: {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
