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

use crate::scalar::strided_len;
use crate::tensor::storage::{self, Block, Visitor};

mod copy;
mod kernel;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

use copy::{copies_a, copy_panel, pack, transpose_a};
#[cfg(target_arch = "x86_64")]
use kernel::{products_avx2, products_avx512};

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
