//! Matrix products (2-D and batched 3-D) through the platform GEMM, and
//! transposes.

use super::panel::Out;
use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::tensor::buffer::Buffer;
use crate::tensor::storage::{self, Visitor};

/// `(batch, m, k)` of a matmul operand, its batch 1 for a 2-D matrix.
#[track_caller]
fn dims(op: &str, t: &Tensor<impl Float>) -> (usize, usize, usize) {
    match *t.shape() {
        [m, k] => (1, m, k),
        [b, m, k] => (b, m, k),
        _ => panic!(
            "{op}: expected a 2-D or 3-D tensor, got shape {:?}",
            t.shape()
        ),
    }
}

/// `C[b] = op(A[b]) · op(B[b])` over a batch, where a 2-D operand is shared by
/// every batch entry. `ta`/`tb` read an operand transposed.
#[allow(clippy::too_many_arguments)]
fn batched<T: Float>(
    a: &[T],
    b: &[T],
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    a_shared: bool,
    b_shared: bool,
) -> Buffer<T> {
    // Every element is written (beta = 0), so a reused buffer needs no zeroing.
    let mut c = storage::take(batch * m * n);
    for i in 0..batch {
        let ai = if a_shared {
            a
        } else {
            &a[i * m * k..(i + 1) * m * k]
        };
        let bi = if b_shared {
            b
        } else {
            &b[i * k * n..(i + 1) * k * n]
        };
        let ci = &mut c[i * m * n..(i + 1) * m * n];
        // Row-major strides; a transposed operand swaps them.
        let sa = if ta { (1, m) } else { (k, 1) };
        let sb = if tb { (1, k) } else { (n, 1) };
        product(m, k, n, ai, sa, bi, sb, ci);
    }
    c
}

/// Products of at least this many multiply-adds are split over the threads
/// (about 50 µs of work: well above the cost of starting a thread).
const PARALLEL_MIN: usize = 1 << 22;

/// One product `C = A·B` (strides as in [`Float::gemm`]), split by rows of
/// `C` over [`crate::threads::count`] threads when it is large enough.
#[allow(clippy::too_many_arguments)]
fn product<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    sa: (usize, usize),
    b: &[T],
    sb: (usize, usize),
    c: &mut [T],
) {
    let threads = crate::threads::count();
    if !splits(m, k, n) {
        return product_here(m, k, n, a, sa, b, sb, c);
    }
    // Where the kernel copies B's panels (rows 4 KiB apart, a wide layer's
    // weights or output gradient; a large Wᵀ, copied transposed), the
    // threads share out the panels, so that each panel is copied once, not
    // once per block of rows.
    let copied = match sb {
        (rsb, 1) => super::panel::packs(k, rsb),
        (1, _) => k * n > SMALL_B,
        _ => false,
    };
    if copied
        && !transposed_is_better(m, n, sa, sb)
        && T::gemm_unpacked(m, k, n, a, sa, b, sb, Out::Split(c, (n, 1), threads))
    {
        return;
    }
    // Row blocks of C, a multiple of 8 rows each.
    let rows = m.div_ceil(threads).div_ceil(8) * 8;
    crate::threads::for_each_part(c.chunks_mut(rows * n).enumerate(), |(t, block)| {
        let a = &a[t * rows * sa.0..];
        product_here(block.len() / n, k, n, a, sa, b, sb, block)
    });
}

/// One product on the calling thread. The unpacked kernel
/// ([`Float::gemm_unpacked`]) needs the rows of its right operand
/// contiguous: `B`'s, or `Aᵀ`'s when it computes `Cᵀ = Bᵀ·Aᵀ` (a weight
/// gradient `Xᵀ·dY` has `Aᵀ = X`). It vectorizes along the output's rows, so
/// a narrow `C` (ten logits' worth of columns) is computed transposed, where
/// its 784 rows fill every lane. Other layouts, and `f64`, go to the
/// platform GEMM.
#[allow(clippy::too_many_arguments)]
fn product_here<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    sa: (usize, usize),
    b: &[T],
    sb: (usize, usize),
    c: &mut [T],
) {
    let done = if transposed_is_better(m, n, sa, sb) {
        T::gemm_unpacked(
            n,
            k,
            m,
            b,
            (sb.1, sb.0),
            a,
            (sa.1, 1),
            Out::Matrix(c, (1, n)),
        )
    } else if sb.1 == 1 || (sb.0 == 1 && k * n > SMALL_B) {
        // B's rows contiguous, or its columns (a layer's Wᵀ in dX = dY·Wᵀ,
        // whose panels the kernel copies transposed).
        T::gemm_unpacked(m, k, n, a, sa, b, sb, Out::Matrix(c, (n, 1)))
    } else if k * n <= SMALL_B {
        // B's rows are not contiguous, and B is small: one row-major copy
        // of it costs less than copying its panels for every call, and than
        // matrixmultiply's packing and per-call set-up, which made the
        // 64×10×10 input gradient of 784-10-10 7.6% of its step.
        let mut rows = storage::take::<T>(k * n);
        for (p, row) in rows.chunks_mut(n.max(1)).enumerate() {
            row.iter_mut()
                .enumerate()
                .for_each(|(j, v)| *v = b[p * sb.0 + j * sb.1]);
        }
        let done = T::gemm_unpacked(m, k, n, a, sa, &rows, (n, 1), Out::Matrix(c, (n, 1)));
        storage::give(rows);
        done
    } else {
        false
    };
    if !done {
        T::gemm(m, k, n, a, sa, b, sb, c);
    }
}

/// The most elements of a `B` stored transposed that [`product_here`]
/// copies to row-major order for the unpacked kernel (64 KiB of `f32`).
const SMALL_B: usize = 16 << 10;

/// Whether [`product`] splits `m × k × n` over the threads.
fn splits(m: usize, k: usize, n: usize) -> bool {
    let threads = crate::threads::count();
    threads >= 2 && m * k * n >= PARALLEL_MIN && m >= 16 * threads
}

/// Whether the unpacked kernel should compute `Cᵀ = Bᵀ·Aᵀ`: it can when
/// `Aᵀ`'s rows are contiguous, and must when `B`'s are not; otherwise it
/// pays when `C` is narrower than it is tall in 16-lane vectors.
fn transposed_is_better(m: usize, n: usize, sa: (usize, usize), sb: (usize, usize)) -> bool {
    // The share of 16-lane vectors that a row `w` wide fills.
    let filled = |w: usize| w as f64 / w.next_multiple_of(16) as f64;
    sa.0 == 1 && (sb.1 != 1 || filled(m) > filled(n))
}

/// [`product`] into a visitor of `C`'s blocks instead of a buffer (see
/// [`Tensor::for_each_block`]): a shared visitor's threads make the blocks
/// of a large product together. Returns `false`, having visited nothing,
/// where the unpacked kernel would not compute `C` as it is, or a large
/// product has a visitor on one thread (the threads then make `C` whole):
/// the caller then makes `C` the ordinary way.
#[allow(clippy::too_many_arguments)]
fn product_blocks<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    sa: (usize, usize),
    b: &[T],
    sb: (usize, usize),
    visitor: Visitor<'_, T>,
) -> bool {
    if transposed_is_better(m, n, sa, sb) || sb.1 != 1 {
        return false;
    }
    let out = match visitor {
        Visitor::One(_) if splits(m, k, n) => return false,
        Visitor::One(visit) => Out::Blocks(visit),
        // Threads only where they pay, as in `product`.
        Visitor::Shared(visit, parts) if m * k * n >= PARALLEL_MIN => {
            Out::SharedBlocks(visit, parts)
        }
        Visitor::Shared(visit, _) => Out::SharedBlocks(visit, 1),
    };
    T::gemm_unpacked(m, k, n, a, sa, b, sb, out)
}

impl<T: Float> Tensor<T> {
    /// The matrix product: `[m, k] · [k, n] → [m, n]`, or batched
    /// `[b, m, k] · [b, k, n] → [b, m, n]` (either side may be 2-D, shared by
    /// the batch).
    ///
    /// **Panics** naming both shapes if the inner dimensions or batches differ.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let a = Tensor::from_vec(vec![1.0_f32, 2.0, 3.0, 4.0], &[2, 2]);
    /// let b = Tensor::from_vec(vec![1.0_f32, 0.0, 0.0, 1.0], &[2, 2]);
    /// assert_eq!(a.matmul(&b), a);
    /// ```
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor<T>) -> Tensor<T> {
        crate::tensor::or_panic(self.try_matmul(rhs))
    }

    /// [`Tensor::matmul`], returning an error instead of panicking.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 3]);
    /// assert_eq!(a.try_matmul(&a).unwrap_err().to_string(), "matmul: shapes [2, 3] and [2, 3] do not multiply");
    /// ```
    pub fn try_matmul(&self, rhs: &Tensor<T>) -> Result<Tensor<T>, crate::tensor::ShapeError> {
        let err = |message: String| crate::tensor::ShapeError {
            op: "matmul",
            message,
        };
        let dims = |t: &Tensor<T>| match *t.shape() {
            [m, k] => Ok((1, m, k)),
            [b, m, k] => Ok((b, m, k)),
            _ => Err(err(format!(
                "expected a 2-D or 3-D tensor, got shape {:?}",
                t.shape()
            ))),
        };
        let ((ba, m, k), (bb, k2, n)) = (dims(self)?, dims(rhs)?);
        let batch = ba.max(bb);
        if k != k2 || !(ba == bb || self.ndim() == 2 || rhs.ndim() == 2) {
            return Err(err(format!(
                "shapes {:?} and {:?} do not multiply",
                self.shape(),
                rhs.shape()
            )));
        }
        let c = batched(
            self.as_slice(),
            rhs.as_slice(),
            batch,
            m,
            k,
            n,
            false,
            false,
            self.ndim() == 2,
            rhs.ndim() == 2,
        );
        let shape: Vec<usize> = if self.ndim() == 3 || rhs.ndim() == 3 {
            vec![batch, m, n]
        } else {
            vec![m, n]
        };
        Ok(Tensor::from_buffer(c, &shape))
    }

    /// The transpose of a 2-D tensor.
    ///
    /// ```
    /// let a = adjoint_runtime::Tensor::from_vec(vec![1.0_f64, 2.0, 3.0], &[1, 3]);
    /// assert_eq!(a.t().shape(), &[3, 1]);
    /// ```
    #[track_caller]
    pub fn t(&self) -> Tensor<T> {
        assert!(
            self.ndim() == 2,
            "t: expected a 2-D tensor, got shape {:?}",
            self.shape()
        );
        self.transpose(0, 1)
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn transpose(&self, d0: usize, d1: usize) -> Tensor<T> {
        let nd = self.ndim();
        assert!(
            d0 < nd && d1 < nd,
            "transpose: axes {d0} and {d1} out of range for shape {:?}",
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        shape.swap(d0, d1);
        let mut strides = vec![1usize; nd];
        for i in (0..nd.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape()[i + 1];
        }
        strides.swap(d0, d1);
        let xs = self.as_slice();
        let mut out = storage::take(xs.len());
        let mut idx = vec![0usize; nd];
        for o in out.iter_mut() {
            *o = xs[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()];
            for d in (0..nd).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Tensor::from_buffer(out, &shape)
    }
}

/// The rule of [`Tensor::matmul`]: `dA = dY · Bᵀ`, `dB = Aᵀ · dY` (summed over
/// the batch for a shared 2-D operand).
///
/// Both gradients are [deferred](Tensor::deferred): each product runs when its
/// gradient is first read, so one that nobody reads (the input gradient of a
/// network's first layer) costs nothing.
pub fn matmul_vjp<T: Float>(
    dy: &Tensor<T>,
    a: &Tensor<T>,
    b: &Tensor<T>,
) -> (Tensor<T>, Tensor<T>) {
    let ((ba, m, k), (bb, _, n)) = (dims("matmul_vjp", a), dims("matmul_vjp", b));
    let batch = ba.max(bb);
    let (a_shared, b_shared) = (a.ndim() == 2, b.ndim() == 2);
    let (dy_a, b_a) = (dy.clone(), b.clone());
    // dA[b] = dY[b] · B[b]ᵀ : (m×n)·(n×k)
    let da = Tensor::deferred(a.shape(), move || {
        let da = batched(
            dy_a.as_slice(),
            b_a.as_slice(),
            batch,
            m,
            n,
            k,
            false,
            true,
            false,
            b_shared,
        );
        reduce_batch(da, a_shared && batch > 1, batch, m * k)
    });
    let (dy_b, a_b) = (dy.clone(), a.clone());
    // dB's blocks, for a consumer that takes them as they are made (Adam):
    // the same product as below, for one batch entry.
    let (dy_s, a_s) = (dy.clone(), a.clone());
    let stream = Box::new(move |visitor: Visitor<'_, T>| {
        batch == 1
            && product_blocks(
                k,
                m,
                n,
                a_s.as_slice(),
                (1, k),
                dy_s.as_slice(),
                (n, 1),
                visitor,
            )
    });
    // dB[b] = A[b]ᵀ · dY[b] : (k×m)·(m×n)
    let db = Tensor::deferred_streaming(
        b.shape(),
        move || {
            let db = batched(
                a_b.as_slice(),
                dy_b.as_slice(),
                batch,
                k,
                m,
                n,
                true,
                false,
                a_shared,
                false,
            );
            reduce_batch(db, b_shared && batch > 1, batch, k * n)
        },
        stream,
    );
    (da, db)
}

/// Sums the batch entries of a gradient whose operand was shared.
fn reduce_batch<T: Float>(g: Buffer<T>, shared: bool, batch: usize, size: usize) -> Buffer<T> {
    if !shared {
        return g;
    }
    let mut out = storage::take_zeroed(size);
    for i in 0..batch {
        out.iter_mut()
            .zip(&g[i * size..(i + 1) * size])
            .for_each(|(o, &v)| *o += v);
    }
    storage::give(g);
    out
}

/// The rule of [`Tensor::transpose`]: the gradient transposed back.
pub fn transpose_vjp<T: Float>(dy: &Tensor<T>, d0: usize, d1: usize) -> Tensor<T> {
    dy.transpose(d0, d1)
}
