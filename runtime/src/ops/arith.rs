//! `+ - * /` between tensors (NumPy broadcasting) and with scalars, and `-x`.
//! The gradient of a broadcast operand is summed back to its shape
//! ([`sum_to`]).

use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::tensor::shape::{broadcast_zip, sum_to};
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! binary_op {
    ($Trait:ident, $method:ident, $name:literal, |$a:ident, $b:ident| $e:expr) => {
        impl<T: Float> $Trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                broadcast_zip(self, rhs, $name, |$a, $b| $e)
            }
        }
        impl<T: Float> $Trait<Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                broadcast_zip(&self, &rhs, $name, |$a, $b| $e)
            }
        }
        impl<T: Float> $Trait<&Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                broadcast_zip(&self, rhs, $name, |$a, $b| $e)
            }
        }
        impl<T: Float> $Trait<Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                broadcast_zip(self, &rhs, $name, |$a, $b| $e)
            }
        }
        impl<T: Float> $Trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, $b: T) -> Tensor<T> {
                self.map(|$a| $e)
            }
        }
        impl<T: Float> $Trait<T> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, $b: T) -> Tensor<T> {
                self.map(|$a| $e)
            }
        }
        impl<T: Float> $Trait<&T> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: &T) -> Tensor<T> {
                let $b = *rhs;
                self.map(|$a| $e)
            }
        }
        scalar_lhs!($Trait, $method, f32, |$a, $b| $e);
        scalar_lhs!($Trait, $method, f64, |$a, $b| $e);
    };
}

/// `scalar op tensor` (a foreign type on the left needs one impl per type).
macro_rules! scalar_lhs {
    ($Trait:ident, $method:ident, $t:ty, |$a:ident, $b:ident| $e:expr) => {
        impl $Trait<&Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                let $a = self;
                rhs.map(|$b| $e)
            }
        }
        impl $Trait<Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: Tensor<$t>) -> Tensor<$t> {
                let $a = self;
                rhs.map(|$b| $e)
            }
        }
        impl $Trait<&Tensor<$t>> for &$t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                let $a = *self;
                rhs.map(|$b| $e)
            }
        }
    };
}

binary_op!(Add, add, "add", |a, b| a + b);
binary_op!(Sub, sub, "sub", |a, b| a - b);
binary_op!(Mul, mul, "mul", |a, b| a * b);
binary_op!(Div, div, "div", |a, b| a / b);

impl<T: Float> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|a| -a)
    }
}

impl<T: Float> Neg for Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|a| -a)
    }
}

/// `y = a + b`: `da = sum_to(dy, a)`, `db = sum_to(dy, b)`.
///
/// ```
/// use adjoint_runtime::{Tensor, ops::arith::add_vjp};
/// let dy = Tensor::<f64>::ones(&[2, 3]);
/// let (da, db) = add_vjp(&dy, &[2, 3], &[3]);
/// assert_eq!((da.shape(), db.to_vec()), (&[2, 3][..], vec![2.0; 3]));
/// ```
pub fn add_vjp<T: Float>(dy: &Tensor<T>, a: &[usize], b: &[usize]) -> (Tensor<T>, Tensor<T>) {
    (sum_to(dy, a), sum_to(dy, b))
}

/// `y = a - b`: `da = sum_to(dy, a)`, `db = -sum_to(dy, b)`.
pub fn sub_vjp<T: Float>(dy: &Tensor<T>, a: &[usize], b: &[usize]) -> (Tensor<T>, Tensor<T>) {
    (sum_to(dy, a), -sum_to(dy, b))
}

/// `y = a · b`: `da = sum_to(dy · b, a)`, `db = sum_to(dy · a, b)`.
pub fn mul_vjp<T: Float>(dy: &Tensor<T>, a: &Tensor<T>, b: &Tensor<T>) -> (Tensor<T>, Tensor<T>) {
    (sum_to(&(dy * b), a.shape()), sum_to(&(dy * a), b.shape()))
}

/// `y = a / b`: `da = sum_to(dy / b, a)`, `db = -sum_to(dy · y / b, b)`.
pub fn div_vjp<T: Float>(
    dy: &Tensor<T>,
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
) -> (Tensor<T>, Tensor<T>) {
    let q = dy / b;
    let db = -sum_to(&(&q * y), b.shape());
    (sum_to(&q, a.shape()), db)
}

/// Adds a gradient into an adjoint of `self`'s shape: a contribution with a
/// broadcast shape is summed back first ([`sum_to`]).
///
/// Adjoints start as [`Tensor::zeros`], whose values are made only if read,
/// so the first contribution is taken as it is (sharing its buffer, and
/// leaving a deferred gradient unmade) instead of being added to zeros; a
/// zero contribution adds nothing.
///
/// ```
/// use adjoint_runtime::Tensor;
/// let mut db = Tensor::<f64>::zeros(&[3]);
/// db += &Tensor::ones(&[2, 3]);
/// assert_eq!(db.to_vec(), [2.0; 3]);
/// db += &Tensor::ones(&[3]);
/// assert_eq!(db.to_vec(), [3.0; 3]);
/// ```
impl<T: Float> std::ops::AddAssign<&Tensor<T>> for Tensor<T> {
    #[track_caller]
    fn add_assign(&mut self, g: &Tensor<T>) {
        if g.is_known_zero() && (self.shape() == g.shape() || self.is_known_zero()) {
            return;
        }
        let g = if self.shape() == g.shape() {
            g.clone()
        } else {
            sum_to(g, self.shape())
        };
        if self.is_known_zero() {
            *self = g;
            return;
        }
        self.as_mut_slice()
            .iter_mut()
            .zip(g.as_slice())
            .for_each(|(a, &b)| *a += b);
    }
}

impl<T: Float> std::ops::AddAssign<Tensor<T>> for Tensor<T> {
    #[track_caller]
    fn add_assign(&mut self, g: Tensor<T>) {
        *self += &g;
    }
}

/// A scalar's adjoint receiving a tensor gradient (the scalar was broadcast
/// over the tensor): the sum of its elements.
macro_rules! scalar_add_assign {
    ($($t:ty),*) => {$(
        impl std::ops::AddAssign<&Tensor<$t>> for $t {
            fn add_assign(&mut self, g: &Tensor<$t>) {
                g.as_slice().iter().for_each(|&v| *self += v);
            }
        }
        impl std::ops::AddAssign<Tensor<$t>> for $t {
            fn add_assign(&mut self, g: Tensor<$t>) {
                *self += &g;
            }
        }
    )*};
}
scalar_add_assign!(f32, f64);
