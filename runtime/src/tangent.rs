//! Gradient types: which type holds the gradient of a parameter, how to make a
//! zero one, and how to add one gradient into another.

use crate::scalar::Float;
use core::ops::AddAssign;

/// A type whose values can be differentiated: it names the type of its gradient
/// (its *tangent*) and makes a zero gradient shaped like a value.
///
/// `f32`/`f64` are their own tangent; slices, `Vec`s and arrays of floats have a
/// `Vec` or array of the same length; a reference has its target's tangent.
///
/// ```
/// use adjoint_runtime::Differentiable;
/// let x: &[f64] = &[1.0, 2.0];
/// assert_eq!(x.zero_tangent(), vec![0.0, 0.0]);
/// assert_eq!(3.0_f32.zero_tangent(), 0.0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not differentiable",
    label = "adjoint cannot make a gradient for `{Self}`",
    note = "differentiable parameters are f32, f64, slices, Vecs and arrays of them, tensors and `#[derive(Params)]` structs; leave this parameter out with `#[differentiable(wrt(..))]`"
)]
pub trait Differentiable {
    /// The type of the gradient with respect to a value of this type.
    type Tangent;
    /// A zero gradient shaped like `self`.
    fn zero_tangent(&self) -> Self::Tangent;
}

#[diagnostic::do_not_recommend]
impl Differentiable for f32 {
    type Tangent = f32;
    #[inline(always)]
    fn zero_tangent(&self) -> f32 {
        0.0
    }
}

#[diagnostic::do_not_recommend]
impl Differentiable for f64 {
    type Tangent = f64;
    #[inline(always)]
    fn zero_tangent(&self) -> f64 {
        0.0
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float> Differentiable for [T] {
    type Tangent = Vec<T>;
    #[inline]
    fn zero_tangent(&self) -> Vec<T> {
        vec![T::ZERO; self.len()]
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float> Differentiable for Vec<T> {
    type Tangent = Vec<T>;
    #[inline]
    fn zero_tangent(&self) -> Vec<T> {
        vec![T::ZERO; self.len()]
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float> Differentiable for crate::Tensor<T> {
    type Tangent = crate::Tensor<T>;
    fn zero_tangent(&self) -> crate::Tensor<T> {
        self.zeros_like()
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float, const N: usize> Differentiable for [T; N] {
    type Tangent = [T; N];
    #[inline(always)]
    fn zero_tangent(&self) -> [T; N] {
        [T::ZERO; N]
    }
}

#[diagnostic::do_not_recommend]
impl<T: Differentiable + ?Sized> Differentiable for &T {
    type Tangent = T::Tangent;
    #[inline(always)]
    fn zero_tangent(&self) -> T::Tangent {
        (**self).zero_tangent()
    }
}

/// A zero gradient shaped like `value`; what generated code calls.
///
/// ```
/// assert_eq!(adjoint_runtime::tangent::zero_tangent(&[1.0_f64; 3]), [0.0; 3]);
/// ```
#[inline(always)]
pub fn zero_tangent<T: Differentiable + ?Sized>(value: &T) -> T::Tangent {
    value.zero_tangent()
}

/// Adding a gradient `G` into an accumulator of type `Self` (`dx += g`).
///
/// Generated code uses it where one differentiable function passes a value to
/// another: the callee's pullback returns a gradient per parameter, and `()` for a
/// parameter it does not differentiate, which cannot be added to anything.
///
/// ```
/// use adjoint_runtime::Accumulate;
/// let mut acc = vec![1.0, 2.0];
/// acc.accumulate(vec![0.5, 0.5]);
/// assert_eq!(acc, [1.5, 2.5]);
/// ```
#[diagnostic::on_unimplemented(
    message = "a gradient of type `{G}` cannot be added to a gradient of type `{Self}`",
    label = "this call passes a differentiated value to a parameter that the callee does not differentiate",
    note = "a pullback returns `()` for each parameter its function does not differentiate: add this parameter to the callee's `#[differentiable(wrt(..))]`"
)]
pub trait Accumulate<G> {
    /// `self += g`.
    fn accumulate(&mut self, g: G);
}

// Not listed in the error for a missing impl: the list only distracts
// from the fix that the error message gives.
#[diagnostic::do_not_recommend]
impl<T: Float> Accumulate<T> for T {
    #[inline(always)]
    fn accumulate(&mut self, g: T) {
        *self += g;
    }
}

// Not listed in the error for a missing impl: the list only distracts
// from the fix that the error message gives.
#[diagnostic::do_not_recommend]
impl<T: Float> Accumulate<crate::Tensor<T>> for crate::Tensor<T> {
    #[inline]
    fn accumulate(&mut self, g: crate::Tensor<T>) {
        *self += &g;
    }
}

// Not listed in the error for a missing impl: the list only distracts
// from the fix that the error message gives.
#[diagnostic::do_not_recommend]
impl<T: Float> Accumulate<&crate::Tensor<T>> for crate::Tensor<T> {
    #[inline]
    fn accumulate(&mut self, g: &crate::Tensor<T>) {
        *self += g;
    }
}

// Not listed in the error for a missing impl: the list only distracts
// from the fix that the error message gives.
#[diagnostic::do_not_recommend]
impl<T: Float> Accumulate<&T> for T {
    #[inline(always)]
    fn accumulate(&mut self, g: &T) {
        *self += *g;
    }
}

// Not listed in the error for a missing impl: the list only distracts
// from the fix that the error message gives.
#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>> Accumulate<&Vec<P>> for Vec<P> {
    #[inline]
    fn accumulate(&mut self, g: &Vec<P>) {
        accumulate_slice(self, g);
    }
}

#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>> Accumulate<Vec<P>> for Vec<P> {
    #[inline]
    fn accumulate(&mut self, g: Vec<P>) {
        accumulate_slice(self, &g);
    }
}

#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>, const N: usize> Accumulate<&[P; N]> for [P; N] {
    #[inline]
    fn accumulate(&mut self, g: &[P; N]) {
        accumulate_slice(self, g);
    }
}

#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>, const N: usize> Accumulate<[P; N]> for [P; N] {
    #[inline]
    fn accumulate(&mut self, g: [P; N]) {
        accumulate_slice(self, &g);
    }
}

#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>, const N: usize> Accumulate<[P; N]> for Vec<P> {
    #[inline]
    fn accumulate(&mut self, g: [P; N]) {
        accumulate_slice(self, &g);
    }
}

#[diagnostic::do_not_recommend]
impl<P: for<'a> AddAssign<&'a P>, const N: usize> Accumulate<Vec<P>> for [P; N] {
    #[inline]
    fn accumulate(&mut self, g: Vec<P>) {
        accumulate_slice(self, &g);
    }
}

/// A gradient is added to an adjoint of its own length; anything else is a
/// bug in the caller, reported at its line.
#[track_caller]
fn same_length(acc: usize, g: usize) {
    assert_eq!(
        acc, g,
        "adjoint: gradient of length {g} added to one of length {acc}"
    );
}

#[track_caller]
fn accumulate_slice<P: for<'a> AddAssign<&'a P>>(acc: &mut [P], g: &[P]) {
    same_length(acc.len(), g.len());
    for (a, b) in acc.iter_mut().zip(g) {
        *a += b;
    }
}

/// `acc += g`, through [`Accumulate`]; what generated code calls.
///
/// ```
/// let mut acc = 1.0_f64;
/// adjoint_runtime::tangent::accumulate(&mut acc, 2.0);
/// assert_eq!(acc, 3.0);
/// ```
#[inline(always)]
pub fn accumulate<A: Accumulate<G> + ?Sized, G>(acc: &mut A, g: G) {
    acc.accumulate(g);
}

/// `acc[i] += g`: the reverse of reading `x[i]`; what generated code calls.
///
/// The index passes through [`core::hint::black_box`] so that LLVM keeps each
/// update a scalar store: paired into one 16-byte store, the neighbouring
/// updates of a loop over `x[i]`, `x[i + 1]` make the next iteration's
/// overlapping load miss store-to-load forwarding, which measured 2.3x slower
/// on 1000-D Rosenbrock. The bounds check stays (it never fails: the forward
/// sweep already indexed the same position of a value of the same length).
///
/// ```
/// let mut acc = vec![0.0_f64; 3];
/// adjoint_runtime::tangent::add_at(&mut acc, 1, 2.5);
/// assert_eq!(acc, [0.0, 2.5, 0.0]);
/// ```
#[inline(always)]
#[track_caller]
pub fn add_at<T: Float>(acc: &mut [T], i: usize, g: T) {
    acc[core::hint::black_box(i)] += g;
}

/// Adding a scaled gradient, `self += s · g`: the reverse of a fused
/// accumulation loop, whose body's gradient was computed for a unit adjoint.
pub trait AccumulateScaled<G, S> {
    /// `self += s · g`.
    fn accumulate_scaled(&mut self, s: S, g: G);
}

impl<T: Float> AccumulateScaled<Vec<T>, T> for Vec<T> {
    #[inline]
    fn accumulate_scaled(&mut self, s: T, g: Vec<T>) {
        scaled_into(self, s, &g);
    }
}

impl<T: Float, const N: usize> AccumulateScaled<[T; N], T> for [T; N] {
    #[inline]
    fn accumulate_scaled(&mut self, s: T, g: [T; N]) {
        scaled_into(self, s, &g);
    }
}

#[track_caller]
fn scaled_into<T: Float>(acc: &mut [T], s: T, g: &[T]) {
    same_length(acc.len(), g.len());
    for (a, b) in acc.iter_mut().zip(g) {
        *a += s * *b;
    }
}

/// `acc += s · g`, through [`AccumulateScaled`]; what generated code calls.
///
/// ```
/// let mut acc = vec![1.0_f64, 1.0];
/// adjoint_runtime::tangent::accumulate_scaled(&mut acc, 2.0, vec![0.5, 1.5]);
/// assert_eq!(acc, [2.0, 4.0]);
/// ```
#[inline(always)]
pub fn accumulate_scaled<A: AccumulateScaled<G, S>, G, S>(acc: &mut A, s: S, g: G) {
    acc.accumulate_scaled(s, g);
}

/// `g` scaled by `s`, in place: a fused loop's unit-adjoint buffer becoming
/// an adjoint. With `s == 1` (the seed of `_grad`) the optimizer removes the
/// pass.
///
/// ```
/// assert_eq!(adjoint_runtime::tangent::scaled(vec![1.0_f64, 2.0], 3.0), [3.0, 6.0]);
/// ```
#[inline(always)]
pub fn scaled<G: Scale<T>, T>(g: G, s: T) -> G {
    g.scale(s)
}

/// Multiplying a gradient by a scalar, in place.
pub trait Scale<T> {
    /// `self · s`.
    fn scale(self, s: T) -> Self;
}

impl<T: Float> Scale<T> for Vec<T> {
    #[inline]
    fn scale(mut self, s: T) -> Self {
        self.iter_mut().for_each(|e| *e *= s);
        self
    }
}

impl<T: Float, const N: usize> Scale<T> for [T; N] {
    #[inline]
    fn scale(mut self, s: T) -> Self {
        self.iter_mut().for_each(|e| *e *= s);
        self
    }
}

/// `acc[i] += g` for elements that are not floats (tensors, parameter
/// structs): the reverse of reading `v[i]` from a `Vec` of them.
///
/// ```
/// use adjoint_runtime::Tensor;
/// let mut acc = vec![Tensor::<f32>::zeros(&[2]); 2];
/// adjoint_runtime::tangent::add_at_elem(&mut acc, 1, &Tensor::ones(&[2]));
/// assert_eq!(acc[1].to_vec(), [1.0, 1.0]);
/// ```
#[track_caller]
pub fn add_at_elem<E: for<'a> AddAssign<&'a E>>(acc: &mut [E], i: usize, g: &E) {
    acc[i] += g;
}
