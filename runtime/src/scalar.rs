//! Scalars that can be differentiated, and the derivative helpers for float
//! methods whose rule does not fit in one expression.
//!
//! Each helper returns the *partial derivatives* of the method it is named after;
//! the macro multiplies them by the output's cotangent. The formula is written
//! beside each one.

/// A floating-point scalar that `#[differentiable]` code can differentiate:
/// implemented for `f32` and `f64`.
///
/// ```
/// use adjoint_runtime::Float;
/// fn half<T: Float>(x: T) -> T { x * T::from_f64(0.5) }
/// assert_eq!(half(3.0_f32), 1.5);
/// ```
pub trait Float:
    Copy
    + PartialOrd
    + Default
    + Send
    + Sync
    + 'static
    + core::fmt::Debug
    + core::fmt::Display
    + core::ops::SubAssign
    + core::ops::MulAssign
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
    + core::ops::Neg<Output = Self>
    + core::ops::AddAssign
    + crate::tensor::storage::Pooled
{
    /// `0.0`.
    const ZERO: Self;
    /// `1.0`.
    const ONE: Self;
    /// `ln(2)`.
    const LN_2: Self;
    /// `ln(10)`.
    const LN_10: Self;
    /// Converts from `f64`, rounding to the nearest value for `f32`.
    fn from_f64(v: f64) -> Self;
    /// Converts from an `i32` exactly (or rounded, for `f32` beyond 2^24).
    fn from_i32(v: i32) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// `self.ln()`.
    fn ln(self) -> Self;
    /// `self.powi(n)`.
    fn powi(self, n: i32) -> Self;
    /// `self.powf(e)`.
    fn powf(self, e: Self) -> Self;
    /// `self.trunc()`.
    fn trunc(self) -> Self;
    /// `self.is_nan()`.
    fn is_nan(self) -> bool;
    /// `self.exp()`.
    fn exp(self) -> Self;
    /// `self.sqrt()`.
    fn sqrt(self) -> Self;
    /// `self.tanh()`.
    fn tanh(self) -> Self;
    /// `self.abs()`.
    fn abs(self) -> Self;
    /// `self.ln_1p()`.
    fn ln_1p(self) -> Self;
    /// `self.max(other)`.
    fn max(self, other: Self) -> Self;
    /// `self.is_finite()`.
    fn is_finite(self) -> bool;
    /// `C = A·B` with the platform's fastest kernel (matrixmultiply's
    /// sgemm/dgemm, which picks AVX2/FMA/AVX-512 at run time), on the calling
    /// thread: `C` is `m×n`, contiguous; `A`'s element `(i, p)` is at
    /// `a[i·sa.0 + p·sa.1]` and `B`'s `(p, j)` at `b[p·sb.0 + j·sb.1]` (a
    /// transposed operand swaps its strides).
    ///
    /// **Panics** if a slice is too short for its strides.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: &mut [Self],
    );
    /// `C = A·B` with [`crate::ops::panel`]'s kernel, which reads the
    /// operands in place: `(p, j)` of `B` is at `b[p·sb.0 + j·sb.1]`, and
    /// its rows (`sb.1 == 1`) or its columns (`sb.0 == 1`: its panels are
    /// copied transposed) must be contiguous; `out` writes `C` or visits its
    /// blocks. Returns `false`, writing nothing, where there is no such
    /// kernel (`f64`, or a CPU without AVX2 and FMA) or `B` has neither
    /// layout.
    ///
    /// **Panics** if a slice is too short for its strides.
    #[allow(clippy::too_many_arguments)]
    fn gemm_unpacked(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        out: crate::ops::panel::Out<'_, Self>,
    ) -> bool;
}

/// `f64` has no unpacked kernel: its products go to matrixmultiply.
#[allow(clippy::too_many_arguments)]
fn no_unpacked_kernel(
    _: usize,
    _: usize,
    _: usize,
    _: &[f64],
    _: (usize, usize),
    _: &[f64],
    _: (usize, usize),
    _: crate::ops::panel::Out<'_, f64>,
) -> bool {
    false
}

macro_rules! impl_float {
    ($t:ident, $gemm:ident, $unpacked:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const LN_2: Self = core::$t::consts::LN_2;
            const LN_10: Self = core::$t::consts::LN_10;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_i32(v: i32) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline(always)]
            fn trunc(self) -> Self {
                $t::trunc(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                a: &[Self],
                (rsa, csa): (usize, usize),
                b: &[Self],
                (rsb, csb): (usize, usize),
                c: &mut [Self],
            ) {
                assert!(
                    a.len() >= strided_len(m, rsa, k, csa)
                        && b.len() >= strided_len(k, rsb, n, csb)
                        && c.len() >= m * n,
                    "gemm: buffers too small"
                );
                let (rsa, csa, rsb, csb) = (rsa as isize, csa as isize, rsb as isize, csb as isize);
                // SAFETY: the assertion above keeps every index the kernel
                // reads (through the strides) and writes (< m·n in `c`)
                // inside the slices; `c` does not alias `a` or `b` (it is `&mut`).
                unsafe {
                    matrixmultiply::$gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
            }
            fn gemm_unpacked(
                m: usize,
                k: usize,
                n: usize,
                a: &[Self],
                sa: (usize, usize),
                b: &[Self],
                sb: (usize, usize),
                out: crate::ops::panel::Out<'_, Self>,
            ) -> bool {
                $unpacked(m, k, n, a, sa, b, sb, out)
            }
        }
    };
}
/// The length a buffer needs to hold a `rows × cols` matrix whose element
/// `(r, c)` is at `r·rs + c·cs`: one past its last element (0 when empty).
pub(crate) fn strided_len(rows: usize, rs: usize, cols: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

impl_float!(f32, sgemm, crate::ops::panel::gemm);
impl_float!(f64, dgemm, no_unpacked_kernel);

/// `d/dx x.powi(n) = n · x^(n-1)`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::powi_d(3.0_f64, 2), 6.0);
/// ```
#[inline(always)]
pub fn powi_d<T: Float>(x: T, n: i32) -> T {
    if n == 0 {
        T::ZERO
    } else {
        T::from_i32(n) * x.powi(n - 1)
    }
}

/// `d/dx x.powf(e) = e · x^(e-1)`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::powf_dx(3.0_f64, 2.0), 6.0);
/// ```
#[inline(always)]
pub fn powf_dx<T: Float>(x: T, e: T) -> T {
    e * x.powf(e - T::ONE)
}

/// `d/de x.powf(e) = x^e · ln x`, taken as 0 where `x^e` is 0 (so `0.0.powf(e)`
/// has a zero, not NaN, exponent derivative, as in JAX).
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::powf_de(0.0_f64, 0.0), 0.0);
/// ```
#[inline(always)]
pub fn powf_de<T: Float>(x: T, y: T) -> T {
    if y == T::ZERO { T::ZERO } else { y * x.ln() }
}

/// Derivative of `abs`: `1` for `x > 0`, `-1` for `x < 0`, and `0` at `x == 0`
/// (the subgradient JAX and PyTorch pick).
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::abs_d(0.0_f64), 0.0);
/// assert_eq!(adjoint_runtime::scalar::abs_d(-2.0_f64), -1.0);
/// ```
#[inline(always)]
pub fn abs_d<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

/// Partials of `a.max(b)`: the larger argument gets the whole gradient; at a tie
/// each gets one half (as `jnp.maximum` and `torch.maximum` do); a NaN argument
/// is ignored, as `f64::max` ignores it.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::max_d(1.0_f64, 1.0), (0.5, 0.5));
/// assert_eq!(adjoint_runtime::scalar::max_d(2.0_f64, 1.0), (1.0, 0.0));
/// ```
#[inline(always)]
pub fn max_d<T: Float>(a: T, b: T) -> (T, T) {
    if a > b || b.is_nan() {
        (T::ONE, T::ZERO)
    } else if a < b || a.is_nan() {
        (T::ZERO, T::ONE)
    } else {
        let half = T::from_f64(0.5);
        (half, half)
    }
}

/// Partials of `a.min(b)`, the mirror of [`max_d`]: ties split one half each.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::min_d(2.0_f64, 1.0), (0.0, 1.0));
/// assert_eq!(adjoint_runtime::scalar::min_d(1.0_f64, 1.0), (0.5, 0.5));
/// ```
#[inline(always)]
pub fn min_d<T: Float>(a: T, b: T) -> (T, T) {
    if a < b || b.is_nan() {
        (T::ONE, T::ZERO)
    } else if a > b || a.is_nan() {
        (T::ZERO, T::ONE)
    } else {
        let half = T::from_f64(0.5);
        (half, half)
    }
}

/// Partials of `x.clamp(lo, hi)` with respect to `(x, lo, hi)`. Inside the
/// interval, bounds included, the gradient goes to `x` (as `torch.clamp` does);
/// below it to `lo`, above it to `hi`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::clamp_d(1.0_f64, 1.0, 2.0), (1.0, 0.0, 0.0));
/// assert_eq!(adjoint_runtime::scalar::clamp_d(3.0_f64, 1.0, 2.0), (0.0, 0.0, 1.0));
/// ```
#[inline(always)]
pub fn clamp_d<T: Float>(x: T, lo: T, hi: T) -> (T, T, T) {
    if x < lo {
        (T::ZERO, T::ONE, T::ZERO)
    } else if x > hi {
        (T::ZERO, T::ZERO, T::ONE)
    } else {
        (T::ONE, T::ZERO, T::ZERO)
    }
}

/// Partials of `a.hypot(b) = sqrt(a² + b²)`: `(a / y, b / y)`, taken as 0 at the
/// origin where the function has no derivative.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::hypot_d(3.0_f64, 4.0, 5.0), (0.6, 0.8));
/// ```
#[inline(always)]
pub fn hypot_d<T: Float>(a: T, b: T, y: T) -> (T, T) {
    if y == T::ZERO {
        (T::ZERO, T::ZERO)
    } else {
        (a / y, b / y)
    }
}

/// Converts a cotangent back to the type of the value it belongs to, for
/// `as f32` / `as f64` casts between float types: `cast_like(dy, x)` has the
/// type of `x`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::cast_like(1.5_f32, 0.0_f64), 1.5_f64);
/// ```
#[inline(always)]
pub fn cast_like<A: Float, B: Float>(b: B, _like: A) -> A {
    A::from_f64(b.to_f64())
}

/// `x.trunc()`, for the rule of `%`: `d(a % b)/db = -trunc(a / b)`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::trunc(-2.5_f64), -2.0);
/// ```
#[inline(always)]
pub fn trunc<T: Float>(x: T) -> T {
    x.trunc()
}

/// `ln(2)` in the type of `like`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::ln2(0.0_f64), std::f64::consts::LN_2);
/// ```
#[inline(always)]
pub fn ln2<T: Float>(_like: T) -> T {
    T::LN_2
}

/// `ln(10)` in the type of `like`.
///
/// ```
/// assert_eq!(adjoint_runtime::scalar::ln10(0.0_f32), std::f32::consts::LN_10);
/// ```
#[inline(always)]
pub fn ln10<T: Float>(_like: T) -> T {
    T::LN_10
}
