//! The derivative rules that generated code calls for method calls, one
//! function per method, dispatched on the value's type so that scalars and
//! tensors share them: `rules::exp(&dy, &x, &y)` is `dy · y` for an `f64` and
//! [`crate::ops::unary::exp_vjp`] for a [`Tensor`].
//!
//! Each rule takes the output's adjoint `dy`, the operands (receiver first)
//! and the output `y`, and returns one contribution per operand, in order
//! (`()` for an operand with no gradient, such as `powi`'s exponent). Where a
//! tensor rule does not read its receiver or its result, that parameter is
//! `&()` and generated code passes `()`: the pullback then does not keep the
//! value alive (the macro's table of these is `rules::method_reads`).
//! Scalar formulas are written beside each rule; the helpers with branches
//! are in [`crate::scalar`].

use crate::scalar::{self as s, Float};
use crate::tensor::Tensor;

/// A zero adjoint shaped like a value: `-0.0` for scalars (the identity of
/// `+`, so the first contribution folds away), zeros for tensors, the
/// pointee's for a reference.
///
/// [`AdjointZero::zero_shape`] keeps just what is needed to make that zero
/// later (nothing for a scalar, the dimensions of a tensor), so the reverse
/// sweep need not keep a value alive only for its shape.
pub trait AdjointZero {
    /// The adjoint's type.
    type Adj;
    /// What a zero adjoint is made from.
    type Shape: ZeroShape<Adj = Self::Adj>;
    /// The zero.
    fn adjoint_zero(&self) -> Self::Adj;
    /// What the zero is made from, without the value.
    fn zero_shape(&self) -> Self::Shape;
}

/// Makes a zero adjoint (see [`AdjointZero::zero_shape`]).
pub trait ZeroShape {
    /// The adjoint's type.
    type Adj;
    /// The zero.
    fn zero(&self) -> Self::Adj;
}

/// The shape of a scalar: nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScalarShape<T>(core::marker::PhantomData<T>);

impl<T: Float> ZeroShape for ScalarShape<T> {
    type Adj = T;
    #[inline(always)]
    fn zero(&self) -> T {
        -T::ZERO
    }
}

macro_rules! scalar_adjoint_zero {
    ($($t:ty),*) => {$(
        impl AdjointZero for $t {
            type Adj = $t;
            type Shape = ScalarShape<$t>;
            #[inline(always)]
            fn adjoint_zero(&self) -> $t {
                -0.0
            }
            #[inline(always)]
            fn zero_shape(&self) -> ScalarShape<$t> {
                ScalarShape(core::marker::PhantomData)
            }
        }
    )*};
}
scalar_adjoint_zero!(f32, f64);

/// The shape of a tensor.
#[derive(Clone, Debug)]
pub struct TensorShape<T>(Vec<usize>, core::marker::PhantomData<T>);

impl<T: Float> ZeroShape for TensorShape<T> {
    type Adj = Tensor<T>;
    fn zero(&self) -> Tensor<T> {
        Tensor::zeros(&self.0)
    }
}

impl<T: Float> AdjointZero for Tensor<T> {
    type Adj = Tensor<T>;
    type Shape = TensorShape<T>;
    fn adjoint_zero(&self) -> Tensor<T> {
        self.zeros_like()
    }
    fn zero_shape(&self) -> TensorShape<T> {
        TensorShape(self.shape().to_vec(), core::marker::PhantomData)
    }
}

/// The shapes of a `Vec`'s elements.
#[derive(Clone, Debug)]
pub struct VecShape<S>(Vec<S>);

impl<S: ZeroShape> ZeroShape for VecShape<S> {
    type Adj = Vec<S::Adj>;
    fn zero(&self) -> Vec<S::Adj> {
        self.0.iter().map(ZeroShape::zero).collect()
    }
}

impl<P: AdjointZero<Adj = P>> AdjointZero for Vec<P> {
    type Adj = Vec<P>;
    type Shape = VecShape<P::Shape>;
    fn adjoint_zero(&self) -> Vec<P> {
        self.iter().map(AdjointZero::adjoint_zero).collect()
    }
    fn zero_shape(&self) -> VecShape<P::Shape> {
        VecShape(self.iter().map(AdjointZero::zero_shape).collect())
    }
}

impl<V: AdjointZero + ?Sized> AdjointZero for &V {
    type Adj = V::Adj;
    type Shape = V::Shape;
    #[inline(always)]
    fn adjoint_zero(&self) -> V::Adj {
        (**self).adjoint_zero()
    }
    #[inline(always)]
    fn zero_shape(&self) -> V::Shape {
        (**self).zero_shape()
    }
}

/// What a zero adjoint for `value` is made from; see [`zero_from`].
///
/// ```
/// use adjoint_runtime::{Tensor, rules::{zero_from, zero_shape}};
/// let s = zero_shape(&Tensor::<f32>::ones(&[2, 3]));
/// assert_eq!(zero_from(&s), Tensor::zeros(&[2, 3]));
/// ```
#[inline(always)]
pub fn zero_shape<V: AdjointZero + ?Sized>(value: &V) -> V::Shape {
    value.zero_shape()
}

/// A zero adjoint made from a [`zero_shape`].
#[inline(always)]
pub fn zero_from<S: ZeroShape>(shape: &S) -> S::Adj {
    shape.zero()
}

/// A zero adjoint for `value`; what generated code declares adjoints with.
///
/// ```
/// assert!(adjoint_runtime::rules::adjoint_zero(&2.0_f64).is_sign_negative());
/// ```
#[inline(always)]
pub fn adjoint_zero<V: AdjointZero + ?Sized>(value: &V) -> V::Adj {
    value.adjoint_zero()
}

/// Rules of one differentiated operand: `name(dy, a, y) -> (da,)`.
macro_rules! rules1 {
    ($($(#[$doc:meta])* $name:ident: $Trait:ident = |$a:ident, $y:ident| $partial:expr;)*) => {$(
        $(#[$doc])*
        pub trait $Trait: Sized {
            /// The contribution to the operand.
            fn rule(dy: &Self, a: &Self, y: &Self) -> Self;
        }
        rules1!(@scalar $Trait, f32, |$a, $y| $partial);
        rules1!(@scalar $Trait, f64, |$a, $y| $partial);
        #[doc = concat!("The rule of `.", stringify!($name), "()`.")]
        #[inline(always)]
        pub fn $name<V: $Trait>(dy: &V, a: &V, y: &V) -> (V,) {
            (V::rule(dy, a, y),)
        }
    )*};
    (@scalar $Trait:ident, $t:ident, |$a:ident, $y:ident| $partial:expr) => {
        impl $Trait for $t {
            #[inline(always)]
            #[allow(unused_variables)]
            fn rule(dy: &$t, a: &$t, y: &$t) -> $t {
                let ($a, $y): ($t, $t) = (*a, *y);
                *dy * ($partial)
            }
        }
    };
}

rules1! {
    /// `exp`: `dy · y`.
    exp: Exp = |a, y| y;
    /// `exp2`: `dy · y ln 2`.
    exp2: Exp2 = |a, y| y * s::ln2(y);
    /// `exp_m1`: `dy · (y + 1)`.
    exp_m1: ExpM1 = |a, y| y + 1.0;
    /// `ln`: `dy / a`.
    ln: Ln = |a, y| a.recip();
    /// `ln_1p`: `dy / (1 + a)`.
    ln_1p: Ln1p = |a, y| (a + 1.0).recip();
    /// `log2`: `dy / (a ln 2)`.
    log2: Log2 = |a, y| (a * s::ln2(a)).recip();
    /// `log10`: `dy / (a ln 10)`.
    log10: Log10 = |a, y| (a * s::ln10(a)).recip();
    /// `sqrt`: `dy · 0.5 / y`.
    sqrt: Sqrt = |a, y| 0.5 / y;
    /// `cbrt`: `dy · y / 3a`.
    cbrt: Cbrt = |a, y| y / (3.0 * a);
    /// `recip`: `-dy · y²`.
    recip: Recip = |a, y| -(y * y);
    /// `sin`: `dy · cos a`.
    sin: Sin = |a, y| a.cos();
    /// `cos`: `-dy · sin a`.
    cos: Cos = |a, y| -a.sin();
    /// `tan`: `dy · (1 + y²)`.
    tan: Tan = |a, y| 1.0 + y * y;
    /// `asin`: `dy / √(1 − a²)`.
    asin: Asin = |a, y| (1.0 - a * a).sqrt().recip();
    /// `acos`: `-dy / √(1 − a²)`.
    acos: Acos = |a, y| -(1.0 - a * a).sqrt().recip();
    /// `atan`: `dy / (1 + a²)`.
    atan: Atan = |a, y| (1.0 + a * a).recip();
    /// `sinh`: `dy · cosh a`.
    sinh: Sinh = |a, y| a.cosh();
    /// `cosh`: `dy · sinh a`.
    cosh: Cosh = |a, y| a.sinh();
    /// `tanh`: `dy · (1 − y²)`.
    tanh: Tanh = |a, y| 1.0 - y * y;
    /// `asinh`: `dy / √(a² + 1)`.
    asinh: Asinh = |a, y| (a * a + 1.0).sqrt().recip();
    /// `acosh`: `dy / √(a² − 1)`.
    acosh: Acosh = |a, y| (a * a - 1.0).sqrt().recip();
    /// `atanh`: `dy / (1 − a²)`.
    atanh: Atanh = |a, y| (1.0 - a * a).recip();
    /// `abs`: `dy · sign a`, 0 at 0.
    abs: Abs = |a, y| s::abs_d(a);
    /// `fract`: `dy`.
    fract: Fract = |a, y| 1.0;
}

/// Rules of two differentiated operands: `name(dy, a, b, y) -> (da, db)`.
macro_rules! rules2 {
    ($($(#[$doc:meta])* $name:ident: $Trait:ident = |$a:ident, $b:ident, $y:ident| $partials:expr;)*) => {$(
        $(#[$doc])*
        pub trait $Trait: Sized {
            /// The contributions to the two operands.
            fn rule(dy: &Self, a: &Self, b: &Self, y: &Self) -> (Self, Self);
        }
        rules2!(@scalar $Trait, f32, |$a, $b, $y| $partials);
        rules2!(@scalar $Trait, f64, |$a, $b, $y| $partials);
        #[doc = concat!("The rule of `.", stringify!($name), "(b)`.")]
        #[inline(always)]
        pub fn $name<V: $Trait>(dy: &V, a: &V, b: &V, y: &V) -> (V, V) {
            V::rule(dy, a, b, y)
        }
    )*};
    (@scalar $Trait:ident, $t:ident, |$a:ident, $b:ident, $y:ident| $partials:expr) => {
        impl $Trait for $t {
            #[inline(always)]
            #[allow(unused_variables)]
            fn rule(dy: &$t, a: &$t, b: &$t, y: &$t) -> ($t, $t) {
                let ($a, $b, $y): ($t, $t, $t) = (*a, *b, *y);
                let (pa, pb): ($t, $t) = $partials;
                (*dy * pa, *dy * pb)
            }
        }
    };
}

rules2! {
    /// `log(b)` (`y = ln a / ln b`): `(dy / (a ln b), -dy · y / (b ln b))`.
    log: Log = |a, b, y| ((a * b.ln()).recip(), -y / (b * b.ln()));
    /// `atan2(b)` (`y = atan(a / b)`): `(dy · b, -dy · a) / (a² + b²)`.
    atan2: Atan2 = |a, b, y| (b / (a * a + b * b), -a / (a * a + b * b));
    /// `max(b)`: the larger gets `dy`; ties split it in halves.
    max: Max = |a, b, y| s::max_d(a, b);
    /// `min(b)`: the smaller gets `dy`; ties split it in halves.
    min: Min = |a, b, y| s::min_d(a, b);
    /// `hypot(b)`: `dy · (a, b) / y`, 0 at the origin.
    hypot: Hypot = |a, b, y| s::hypot_d(a, b, y);
}

/// The rule of `.powf(e)`: `(dy · e aᵉ⁻¹, dy · y ln a)`, the second 0 where
/// `y` is 0. For a tensor the exponent is a scalar and its gradient sums
/// over the elements.
pub trait Powf<E>: Sized {
    /// The contributions to the base and to the exponent.
    fn rule(dy: &Self, a: &Self, e: &E, y: &Self) -> (Self, E);
}

impl<T: Float> Powf<T> for T {
    #[inline(always)]
    fn rule(dy: &T, a: &T, e: &T, y: &T) -> (T, T) {
        (*dy * s::powf_dx(*a, *e), *dy * s::powf_de(*a, *y))
    }
}

impl<T: Float> Powf<T> for Tensor<T> {
    fn rule(dy: &Self, a: &Self, e: &T, y: &Self) -> (Self, T) {
        let da = unary::powf_vjp(dy, a, *e);
        let mut de = T::ZERO;
        for ((&d, &x), &v) in dy.as_slice().iter().zip(a.as_slice()).zip(y.as_slice()) {
            de += d * s::powf_de(x, v);
        }
        (da, de)
    }
}

/// The rule of `.powf(e)`.
#[inline(always)]
pub fn powf<V: Powf<E>, E>(dy: &V, a: &V, e: &E, y: &V) -> (V, E) {
    V::rule(dy, a, e, y)
}

/// The rule of `.powi(n)`: `(dy · n aⁿ⁻¹, ())`.
pub trait Powi: Sized {
    /// The contribution to the base.
    fn rule(dy: &Self, a: &Self, n: i32, y: &Self) -> Self;
}

impl<T: Float> Powi for T {
    #[inline(always)]
    fn rule(dy: &T, a: &T, n: i32, _y: &T) -> T {
        // `(dy · n) · aⁿ⁻¹`, in that order: where the cotangent is a
        // constant (a gradient's seed, or a factor such as the 100 of
        // `100.0 * b.powi(2)`), `dy · n` folds into one constant, which
        // `dy · (n · aⁿ⁻¹)` cannot (floating-point products do not
        // reassociate). 2-D Rosenbrock's gradient: one multiply fewer.
        if n == 0 {
            *dy * T::ZERO
        } else {
            (*dy * T::from_i32(n)) * a.powi(n - 1)
        }
    }
}

/// The rule of `.powi(n)`.
#[inline(always)]
pub fn powi<V: Powi>(dy: &V, a: &V, n: &i32, y: &V) -> (V, ()) {
    (V::rule(dy, a, *n, y), ())
}

/// Rules of three differentiated operands.
macro_rules! rules3 {
    ($($(#[$doc:meta])* $name:ident: $Trait:ident = |$a:ident, $b:ident, $c:ident| $partials:expr;)*) => {$(
        $(#[$doc])*
        pub trait $Trait: Sized {
            /// The contributions to the three operands.
            fn rule(dy: &Self, a: &Self, b: &Self, c: &Self, y: &Self) -> (Self, Self, Self);
        }
        impl<T: Float> $Trait for T {
            #[inline(always)]
            #[allow(unused_variables)]
            fn rule(dy: &T, a: &T, b: &T, c: &T, _y: &T) -> (T, T, T) {
                let ($a, $b, $c) = (*a, *b, *c);
                let (pa, pb, pc): (T, T, T) = $partials;
                (*dy * pa, *dy * pb, *dy * pc)
            }
        }
        #[doc = concat!("The rule of `.", stringify!($name), "(b, c)`.")]
        #[inline(always)]
        pub fn $name<V: $Trait>(dy: &V, a: &V, b: &V, c: &V, y: &V) -> (V, V, V) {
            V::rule(dy, a, b, c, y)
        }
    )*};
}

rules3! {
    /// `clamp(lo, hi)`: inside the interval (bounds included) `dy` goes to `a`,
    /// below it to `lo`, above it to `hi`.
    clamp: Clamp = |a, b, c| s::clamp_d(a, b, c);
    /// `mul_add(b, c)` (`a·b + c`): `(dy · b, dy · a, dy)`.
    mul_add: MulAdd = |a, b, c| (b, a, T::ONE);
}

// ---- tensors: the rules of `ops`, under the names generated code calls ----

use crate::ops::{activation, index, linalg, reduce, unary};

macro_rules! tensor_rules1 {
    ($($Trait:ident => $vjp:path;)*) => {$(
        impl<T: Float> $Trait for Tensor<T> {
            fn rule(dy: &Self, a: &Self, y: &Self) -> Self {
                $vjp(dy, a, y)
            }
        }
    )*};
}

tensor_rules1! {
    Exp => unary::exp_vjp;
    Ln => unary::ln_vjp;
    Sqrt => unary::sqrt_vjp;
    Abs => unary::abs_vjp;
    Tanh => unary::tanh_vjp;
}

impl<T: Float> Powi for Tensor<T> {
    fn rule(dy: &Self, a: &Self, n: i32, _y: &Self) -> Self {
        unary::powi_vjp(dy, a, n)
    }
}

/// Tensor-only methods of one tensor operand: `name(dy, x, y) -> (dx,)`.
macro_rules! tensor_only1 {
    ($($(#[$doc:meta])* $name:ident => $vjp:path;)*) => {$(
        $(#[$doc])*
        pub fn $name<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, y: &Tensor<T>) -> (Tensor<T>,) {
            ($vjp(dy, x, y),)
        }
    )*};
}

/// The rule of `.relu()`, from the output alone: `y > 0` exactly where
/// `x > 0`, so `relu_vjp` reads `y` in place of `x`.
pub fn relu<T: Float>(dy: &Tensor<T>, _x: &(), y: &Tensor<T>) -> (Tensor<T>,) {
    (unary::relu_vjp(dy, y, y),)
}

/// The rule of `.sigmoid()`, from the output alone (`y(1 − y)`).
pub fn sigmoid<T: Float>(dy: &Tensor<T>, _x: &(), y: &Tensor<T>) -> (Tensor<T>,) {
    (unary::sigmoid_vjp(dy, y, y),)
}

tensor_only1! {
    /// The rule of `.gelu()`.
    gelu => unary::gelu_vjp;
    /// The rule of `.softplus()`.
    softplus => unary::softplus_vjp;
}

/// The rule of `.leaky_relu(slope)`.
pub fn leaky_relu<T: Float>(
    dy: &Tensor<T>,
    x: &Tensor<T>,
    slope: &T,
    _y: &Tensor<T>,
) -> (Tensor<T>, ()) {
    (unary::leaky_relu_vjp(dy, x, *slope), ())
}

/// The rule of `.matmul(b)`.
pub fn matmul<T: Float>(
    dy: &Tensor<T>,
    a: &Tensor<T>,
    b: &Tensor<T>,
    _y: &(),
) -> (Tensor<T>, Tensor<T>) {
    linalg::matmul_vjp(dy, a, b)
}

/// The rule of `.bias_activation(bias, activation)`, from the output alone.
pub fn bias_activation<T: Float>(
    dy: &Tensor<T>,
    _z: &(),
    bias: &Tensor<T>,
    act: &activation::Activation,
    y: &Tensor<T>,
) -> (Tensor<T>, Tensor<T>, ()) {
    let (dz, db) = activation::bias_activation_vjp(dy, y, bias.shape(), *act);
    (dz, db, ())
}

/// The rule of `.t()`.
pub fn t<T: Float>(dy: &Tensor<T>, _x: &(), _y: &()) -> (Tensor<T>,) {
    (dy.t(),)
}

/// The rule of `.transpose(d0, d1)`.
pub fn transpose<T: Float>(
    dy: &Tensor<T>,
    _x: &(),
    d0: &usize,
    d1: &usize,
    _y: &(),
) -> (Tensor<T>, (), ()) {
    (linalg::transpose_vjp(dy, *d0, *d1), (), ())
}

/// The rule of `.reshape(shape)`: the gradient reshaped back.
pub fn reshape<T: Float, S: ?Sized>(
    dy: &Tensor<T>,
    x: &Tensor<T>,
    _shape: &S,
    _y: &(),
) -> (Tensor<T>, ()) {
    (dy.reshape(x.shape()), ())
}

/// The rule of `.sum()`.
pub fn sum<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, _y: &Tensor<T>) -> (Tensor<T>,) {
    (reduce::sum_vjp(dy, x.shape()),)
}

/// The rule of `.mean()`.
pub fn mean<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, _y: &Tensor<T>) -> (Tensor<T>,) {
    (reduce::mean_vjp(dy, x.shape()),)
}

/// Tensor methods reducing one axis: `name(dy, x, axis, keepdim, y)`.
macro_rules! axis_rules {
    ($($(#[$doc:meta])* $name:ident => |$dy:ident, $x:ident, $axis:ident, $y:ident| $e:expr;)*) => {$(
        $(#[$doc])*
        #[allow(unused_variables)]
        pub fn $name<T: Float>($dy: &Tensor<T>, $x: &Tensor<T>, axis: &usize, keepdim: &bool, $y: &Tensor<T>) -> (Tensor<T>, (), ()) {
            let $axis = *axis;
            // Without keepdim, put the reduced axis back so shapes line up.
            let mut kept = $x.shape().to_vec();
            kept[$axis] = 1;
            let $dy = &$dy.reshape(&kept);
            let $y = &$y.reshape(&kept);
            ($e, (), ())
        }
    )*};
}

axis_rules! {
    /// The rule of `.sum_axis(axis, keepdim)`.
    sum_axis => |dy, x, axis, y| reduce::sum_axis_vjp(dy, x.shape(), axis);
    /// The rule of `.mean_axis(axis, keepdim)`.
    mean_axis => |dy, x, axis, y| reduce::mean_axis_vjp(dy, x.shape(), axis);
    /// The rule of `.max_axis(axis, keepdim)`.
    max_axis => |dy, x, axis, y| reduce::max_axis_vjp(dy, x, axis);
    /// The rule of `.logsumexp(axis, keepdim)`.
    logsumexp => |dy, x, axis, y| reduce::logsumexp_vjp(dy, x, axis);
}

/// The rule of `.softmax(axis)`.
pub fn softmax<T: Float>(dy: &Tensor<T>, _x: &(), axis: &usize, y: &Tensor<T>) -> (Tensor<T>, ()) {
    (reduce::softmax_vjp(dy, y, *axis), ())
}

/// The rule of `.log_softmax(axis)`.
pub fn log_softmax<T: Float>(
    dy: &Tensor<T>,
    _x: &(),
    axis: &usize,
    y: &Tensor<T>,
) -> (Tensor<T>, ()) {
    (reduce::log_softmax_vjp(dy, y, *axis), ())
}

/// The rule of `.item()`: the one element gets `dy`.
pub fn item<T: Float>(dy: &T, x: &Tensor<T>, _y: &T) -> (Tensor<T>,) {
    (Tensor::full(x.shape(), *dy),)
}

/// The rule of `.gather_rows(indices)`.
pub fn gather_rows<T: Float, I: AsRef<[usize]> + ?Sized>(
    dy: &Tensor<T>,
    x: &Tensor<T>,
    indices: &I,
    _y: &(),
) -> (Tensor<T>, ()) {
    (index::gather_rows_vjp(dy, x.shape(), indices.as_ref()), ())
}

/// The rule of `.concat(other, axis)`.
pub fn concat<T: Float>(
    dy: &Tensor<T>,
    a: &Tensor<T>,
    b: &Tensor<T>,
    axis: &usize,
    _y: &(),
) -> (Tensor<T>, Tensor<T>, ()) {
    let (ga, gb) = index::concat_vjp(dy, a.shape(), b.shape(), *axis);
    (ga, gb, ())
}

/// The rule of `.dropout(rate, training, seed)`.
pub fn dropout<T: Float>(
    dy: &Tensor<T>,
    _x: &(),
    rate: &T,
    training: &bool,
    seed: &u64,
    _y: &(),
) -> (Tensor<T>, (), (), ()) {
    (index::dropout_vjp(dy, *rate, *training, *seed), (), (), ())
}

/// The rule of `.clone()`: the gradient passes through.
pub fn clone<V: Clone>(dy: &V, _x: &V, _y: &V) -> (V,) {
    (dy.clone(),)
}
