//! A layer's bias and activation in one pass, `y = act(z + b)`, and its
//! rule, which reads only the output `y`.
//!
//! Written as two ops, `(z + b).relu()` makes two passes over the layer's
//! output and a buffer for each, and the reverse sweep keeps the
//! pre-activation for relu's rule and makes two more passes (`relu_vjp`,
//! then the bias gradient's column sums). Here the forward writes `y`
//! alone, and the rule makes `dz` and the bias gradient `db` together:
//! every activation of [`Activation`] has a derivative that is a function
//! of its output (`relu`: `y > 0`; `sigmoid`: `y(1 − y)`; `tanh`: `1 − y²`;
//! softmax's Jacobian is `diag(y) − y yᵀ`), so `z` is freed as soon as `y`
//! exists. [`crate::nn::Linear::forward_activation`] is built on it.

use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::tensor::storage;

/// The nonlinearity after a layer (see [`Tensor::bias_activation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// Softmax over the last axis (the features).
    Softmax,
    /// None.
    Identity,
}

impl<T: Float> Tensor<T> {
    /// `activation(self + bias)`, with `bias: [n]` added to every row of
    /// `self: [.., n]`, in one pass (softmax: two). Its rule reads only the
    /// result, so `self` need not be kept for the reverse sweep.
    ///
    /// **Panics** if `bias` is not 1-D with as many elements as `self`'s
    /// last axis.
    ///
    /// ```
    /// use adjoint_runtime::{Tensor, ops::activation::Activation};
    /// let z = Tensor::from_vec(vec![1.0_f32, -2.0, -3.0, 4.0], &[2, 2]);
    /// let b = Tensor::from_vec(vec![0.5_f32, 1.0], &[2]);
    /// assert_eq!(z.bias_activation(&b, Activation::Relu).to_vec(), [1.5, 0.0, 0.0, 5.0]);
    /// assert_eq!(z.bias_activation(&b, Activation::Identity).to_vec(), [1.5, -1.0, -2.5, 5.0]);
    /// ```
    #[track_caller]
    pub fn bias_activation(&self, bias: &Tensor<T>, activation: Activation) -> Tensor<T> {
        features("bias_activation", self.shape(), bias.shape());
        if activation == Activation::Softmax {
            return (self + bias).softmax(self.ndim() - 1);
        }
        let (zs, bs) = (self.as_slice(), bias.as_slice());
        let mut out = storage::take(zs.len());
        // One loop per activation; relu's and the identity's vectorize at
        // the CPU's widest.
        let o = &mut out[..];
        match activation {
            Activation::Relu => crate::simd::widest(
                #[inline(always)]
                || biased(o, zs, bs, |x| if x > T::ZERO { x } else { T::ZERO }),
            ),
            Activation::Sigmoid => biased(o, zs, bs, crate::ops::unary::sigmoid_of),
            Activation::Tanh => biased(o, zs, bs, |x| x.tanh()),
            // (Softmax returned above.)
            Activation::Identity | Activation::Softmax => crate::simd::widest(
                #[inline(always)]
                || biased(o, zs, bs, |x| x),
            ),
        }
        Tensor::from_buffer(out, self.shape())
    }
}

/// `o = f(z + b)` with `b` added to every row (of `b.len()` values).
#[inline(always)]
fn biased<T: Float>(o: &mut [T], z: &[T], b: &[T], f: impl Fn(T) -> T) {
    if b.is_empty() {
        return;
    }
    for (o, z) in o.chunks_mut(b.len()).zip(z.chunks(b.len())) {
        for ((o, &z), &b) in o.iter_mut().zip(z).zip(b) {
            *o = f(z + b);
        }
    }
}

/// The size `n` of the values' last axis, which the bias's shape must be.
#[track_caller]
fn features(op: &str, values: &[usize], bias: &[usize]) -> usize {
    let n = values.last().copied().unwrap_or(1);
    assert!(
        bias == [n],
        "{op}: bias of shape {bias:?} for values of shape {values:?} (expected [{n}])"
    );
    n
}

/// The rule of [`Tensor::bias_activation`], from the output `y` alone:
/// `dz = dy · act′` (for softmax, `y · (dy − Σ dy·y)` along the row) and
/// `db` its column sums, made in the same pass.
///
/// **Panics** if `dy` and `y` differ in shape, or `bias_shape` is not
/// `[n]` for `y`'s last axis `n`.
///
/// ```
/// use adjoint_runtime::{Tensor, ops::activation::{Activation, bias_activation_vjp}};
/// let y = Tensor::from_vec(vec![1.5_f64, 0.0, 0.0, 5.0], &[2, 2]);
/// let dy = Tensor::from_vec(vec![1.0_f64, 2.0, 3.0, 4.0], &[2, 2]);
/// let (dz, db) = bias_activation_vjp(&dy, &y, &[2], Activation::Relu);
/// assert_eq!((dz.to_vec(), db.to_vec()), (vec![1.0, 0.0, 0.0, 4.0], vec![1.0, 4.0]));
/// ```
#[track_caller]
pub fn bias_activation_vjp<T: Float>(
    dy: &Tensor<T>,
    y: &Tensor<T>,
    bias_shape: &[usize],
    activation: Activation,
) -> (Tensor<T>, Tensor<T>) {
    assert!(
        dy.shape() == y.shape(),
        "bias_activation_vjp: gradient of shape {:?} for a value of shape {:?}",
        dy.shape(),
        y.shape()
    );
    let n = features("bias_activation_vjp", y.shape(), bias_shape);
    if activation == Activation::Softmax {
        let dz = crate::ops::reduce::softmax_vjp(dy, y, y.ndim() - 1);
        let db = crate::tensor::shape::sum_to(&dz, bias_shape);
        return (dz, db);
    }
    let (ds, ys) = (dy.as_slice(), y.as_slice());
    let mut dz = storage::take(ds.len());
    let mut db = storage::take_zeroed(n);
    let (g, sums) = (&mut dz[..], &mut db[..]);
    match activation {
        Activation::Relu => crate::simd::widest(
            #[inline(always)]
            || {
                masked(
                    g,
                    sums,
                    ds,
                    ys,
                    |d, y| if y > T::ZERO { d } else { T::ZERO },
                )
            },
        ),
        Activation::Sigmoid => masked(g, sums, ds, ys, |d, y| d * y * (T::ONE - y)),
        Activation::Tanh => masked(g, sums, ds, ys, |d, y| d * (T::ONE - y * y)),
        // (Softmax returned above.)
        Activation::Identity | Activation::Softmax => crate::simd::widest(
            #[inline(always)]
            || masked(g, sums, ds, ys, |d, _| d),
        ),
    }
    (
        Tensor::from_buffer(dz, y.shape()),
        Tensor::from_buffer(db, bias_shape),
    )
}

/// `g = f(d, y)` elementwise, and its rows (of `db.len()` values) summed
/// into `db`.
#[inline(always)]
fn masked<T: Float>(g: &mut [T], db: &mut [T], d: &[T], y: &[T], f: impl Fn(T, T) -> T) {
    if db.is_empty() {
        return;
    }
    let n = db.len();
    for ((g, d), y) in g.chunks_mut(n).zip(d.chunks(n)).zip(y.chunks(n)) {
        for (((g, db), &d), &y) in g.iter_mut().zip(db.iter_mut()).zip(d).zip(y) {
            let v = f(d, y);
            *g = v;
            *db += v;
        }
    }
}
