//! Matrix products with a narrow output (`n ≤ 16` columns): a classifier's
//! logits and its weight gradient, such as `[64, 784] · [784, 10]`.
//!
//! A general GEMM packs both operands into panels sized for wide outputs;
//! with ten output columns that packing is most of the work (perf: 38% of
//! the 784-10-10 training step was matrixmultiply's packing). Here `B` is
//! copied once into a `k × 16` zero-padded buffer (which stays in cache) and
//! each group of four rows of `A` is read straight from memory, in any
//! layout, into sixteen-lane accumulators: one vector register per row with
//! AVX-512 (via [`crate::simd::widest`]).

use crate::scalar::{Float, strided_len};

/// Output widths up to this use the narrow kernel.
pub const MAX_N: usize = 16;
/// Rows of `A` per pass over `B`.
const ROWS: usize = 4;

/// `C = A · B` for `C: m × n` (contiguous), `A: m × k` with element `(i, p)`
/// at `a[i·rsa + p·csa]`, and `B: k × n` with `(p, j)` at `b[p·rsb + j·csb]`.
///
/// **Panics** if `n > MAX_N` or a slice is too short for its strides.
///
/// ```
/// use adjoint_runtime::ops::skinny::gemm;
/// // [[1, 2], [3, 4]] · [[1], [1]] = [[3], [7]]
/// let (a, b) = ([1.0_f32, 2.0, 3.0, 4.0], [1.0, 1.0]);
/// let mut c = [0.0; 2];
/// gemm(2, 2, 1, &a, (2, 1), &b, (1, 1), &mut c);
/// assert_eq!(c, [3.0, 7.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    (rsa, csa): (usize, usize),
    b: &[T],
    (rsb, csb): (usize, usize),
    c: &mut [T],
) {
    assert!(n <= MAX_N, "skinny::gemm: {n} columns, at most {MAX_N}");
    assert!(
        c.len() >= m * n
            && a.len() >= strided_len(m, rsa, k, csa)
            && b.len() >= strided_len(k, rsb, n, csb),
        "skinny::gemm: buffers too small for {m}x{k} · {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    let mut padded = vec![[T::ZERO; MAX_N]; k];
    for (p, row) in padded.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().take(n).enumerate() {
            *v = b[p * rsb + j * csb];
        }
    }
    crate::simd::widest(
        #[inline(always)]
        || {
            let mut i = 0;
            while i + ROWS <= m {
                let acc = rows::<T, ROWS>(
                    &padded,
                    #[inline(always)]
                    |r, p| a[(i + r) * rsa + p * csa],
                );
                for (r, row) in acc.iter().enumerate() {
                    c[(i + r) * n..(i + r + 1) * n].copy_from_slice(&row[..n]);
                }
                i += ROWS;
            }
            while i < m {
                let acc = rows::<T, 1>(
                    &padded,
                    #[inline(always)]
                    |_, p| a[i * rsa + p * csa],
                );
                c[i * n..(i + 1) * n].copy_from_slice(&acc[0][..n]);
                i += 1;
            }
        },
    );
}

/// `R` output rows: `acc[r] = Σ_p a(r, p) · padded[p]`.
#[inline(always)]
fn rows<T: Float, const R: usize>(
    padded: &[[T; MAX_N]],
    a: impl Fn(usize, usize) -> T,
) -> [[T; MAX_N]; R] {
    let mut acc = [[T::ZERO; MAX_N]; R];
    for (p, bp) in padded.iter().enumerate() {
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let x = a(r, p);
            for (o, &w) in acc_r.iter_mut().zip(bp) {
                *o += x * w;
            }
        }
    }
    acc
}
