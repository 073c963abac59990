//! Reductions over all elements or one axis, and the softmax family. An axis
//! splits a shape into `outer × n × inner`; the axis has `n` entries.

use crate::scalar::Float;
use crate::tensor::{Tensor, storage};

/// `(outer, n, inner)` of `shape` split at `axis`.
#[track_caller]
fn split(op: &str, shape: &[usize], axis: usize) -> (usize, usize, usize) {
    assert!(
        axis < shape.len(),
        "{op}: axis {axis} out of range for shape {shape:?}"
    );
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// The shape after reducing `axis` (kept as 1 when `keepdim`).
fn reduced(shape: &[usize], axis: usize, keepdim: bool) -> Vec<usize> {
    let mut s = shape.to_vec();
    if keepdim {
        s[axis] = 1;
    } else {
        s.remove(axis);
    }
    s
}

/// `f(acc, x)` folded along `axis` from `init`.
fn fold_axis<T: Float>(
    x: &Tensor<T>,
    op: &str,
    axis: usize,
    keepdim: bool,
    init: T,
    f: impl Fn(T, T) -> T,
) -> Tensor<T> {
    let (outer, n, inner) = split(op, x.shape(), axis);
    let xs = x.as_slice();
    let mut out = storage::take(outer * inner);
    out.fill(init);
    for o in 0..outer {
        for i in 0..n {
            let row = &xs[(o * n + i) * inner..(o * n + i + 1) * inner];
            let acc = &mut out[o * inner..(o + 1) * inner];
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a = f(*a, v));
        }
    }
    Tensor::from_buffer(out, &reduced(x.shape(), axis, keepdim))
}

/// `dy` (reduced along `axis`) spread back over the axis: `g(dy, o, i, j)`.
fn spread<T: Float>(
    x_shape: &[usize],
    axis: usize,
    mut g: impl FnMut(usize, usize, usize) -> T,
) -> Tensor<T> {
    let (outer, n, inner) = split("vjp", x_shape, axis);
    let mut out = storage::take(outer * n * inner);
    let mut at = out.iter_mut();
    for o in 0..outer {
        for i in 0..n {
            for j in 0..inner {
                *at.next().expect("outer · n · inner values") = g(o, i, j);
            }
        }
    }
    Tensor::from_buffer(out, x_shape)
}

impl<T: Float> Tensor<T> {
    /// The sum of all elements, as a 0-dimensional tensor.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32, 2.0, 3.0], &[3]);
    /// assert_eq!(t.sum().item(), 6.0);
    /// ```
    pub fn sum(&self) -> Tensor<T> {
        let mut s = T::ZERO;
        self.as_slice().iter().for_each(|&v| s += v);
        Tensor::scalar(s)
    }

    /// The mean of all elements, as a 0-dimensional tensor.
    pub fn mean(&self) -> Tensor<T> {
        Tensor::scalar(self.sum().item() / T::from_f64(self.len() as f64))
    }

    /// The sum along `axis`.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(t.sum_axis(0, false).to_vec(), [4.0, 6.0]);
    /// assert_eq!(t.sum_axis(1, true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        fold_axis(self, "sum_axis", axis, keepdim, T::ZERO, |a, v| a + v)
    }

    /// The mean along `axis`.
    #[track_caller]
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let n = T::from_f64(self.shape().get(axis).copied().unwrap_or(1) as f64);
        self.sum_axis(axis, keepdim).map(|v| v / n)
    }

    /// The maximum along `axis`.
    #[track_caller]
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        fold_axis(
            self,
            "max_axis",
            axis,
            keepdim,
            T::from_f64(f64::NEG_INFINITY),
            |a, v| if v > a { v } else { a },
        )
    }

    /// `ln Σ eˣ` along `axis`, computed stably (shifted by the maximum).
    #[track_caller]
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let m = self.max_axis(axis, true);
        let (outer, n, inner) = split("logsumexp", self.shape(), axis);
        let (xs, ms) = (self.as_slice(), m.as_slice());
        let mut out = storage::take_zeroed::<T>(outer * inner);
        for o in 0..outer {
            for i in 0..n {
                for j in 0..inner {
                    out[o * inner + j] += (xs[(o * n + i) * inner + j] - ms[o * inner + j]).exp();
                }
            }
        }
        out.iter_mut().zip(ms).for_each(|(s, &m)| *s = m + s.ln());
        Tensor::from_buffer(out, &reduced(self.shape(), axis, keepdim))
    }

    /// `eˣ / Σ eˣ` along `axis`, computed stably.
    #[track_caller]
    pub fn softmax(&self, axis: usize) -> Tensor<T> {
        self.log_softmax(axis).exp()
    }

    /// `x - ln Σ eˣ` along `axis`, computed stably.
    #[track_caller]
    pub fn log_softmax(&self, axis: usize) -> Tensor<T> {
        let lse = self.logsumexp(axis, true);
        let (_, _, inner) = split("log_softmax", self.shape(), axis);
        let (xs, ls) = (self.as_slice(), lse.as_slice());
        let n = self.shape()[axis];
        spread(self.shape(), axis, |o, i, j| {
            xs[(o * n + i) * inner + j] - ls[o * inner + j]
        })
    }
}

/// The rule of [`Tensor::sum`]: every element gets `dy`.
pub fn sum_vjp<T: Float>(dy: &Tensor<T>, x_shape: &[usize]) -> Tensor<T> {
    Tensor::full(x_shape, dy.item())
}

/// The rule of [`Tensor::mean`]: every element gets `dy / N`.
pub fn mean_vjp<T: Float>(dy: &Tensor<T>, x_shape: &[usize]) -> Tensor<T> {
    let n: usize = x_shape.iter().product();
    Tensor::full(x_shape, dy.item() / T::from_f64(n as f64))
}

/// The rule of [`Tensor::sum_axis`]: `dy` repeated along the axis.
pub fn sum_axis_vjp<T: Float>(dy: &Tensor<T>, x_shape: &[usize], axis: usize) -> Tensor<T> {
    let d = dy.as_slice();
    let inner: usize = x_shape[axis + 1..].iter().product();
    spread(x_shape, axis, |o, _, j| d[o * inner + j])
}

/// The rule of [`Tensor::mean_axis`]: `dy / n` repeated along the axis.
pub fn mean_axis_vjp<T: Float>(dy: &Tensor<T>, x_shape: &[usize], axis: usize) -> Tensor<T> {
    let n = T::from_f64(x_shape[axis] as f64);
    sum_axis_vjp(dy, x_shape, axis).map(|v| v / n)
}

/// The rule of [`Tensor::max_axis`]: `dy` goes to the first maximum of each
/// slice (as `torch.max(dim)`), zero elsewhere.
pub fn max_axis_vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, axis: usize) -> Tensor<T> {
    let (outer, n, inner) = split("max_axis_vjp", x.shape(), axis);
    let (xs, d) = (x.as_slice(), dy.as_slice());
    let mut out = storage::take_zeroed(xs.len());
    for o in 0..outer {
        for j in 0..inner {
            let at = |i: usize| (o * n + i) * inner + j;
            let best = (1..n).fold(0, |b, i| if xs[at(i)] > xs[at(b)] { i } else { b });
            out[at(best)] = d[o * inner + j];
        }
    }
    Tensor::from_buffer(out, x.shape())
}

/// The rule of [`Tensor::logsumexp`]: `dx = dy · softmax(x)`.
pub fn logsumexp_vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, axis: usize) -> Tensor<T> {
    let p = x.softmax(axis);
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let (d, ps) = (dy.as_slice(), p.as_slice());
    let n = x.shape()[axis];
    spread(x.shape(), axis, |o, i, j| {
        d[o * inner + j] * ps[(o * n + i) * inner + j]
    })
}

/// The rule of [`Tensor::softmax`]: `dx = y · (dy − Σ dy·y)` along the axis.
pub fn softmax_vjp<T: Float>(dy: &Tensor<T>, y: &Tensor<T>, axis: usize) -> Tensor<T> {
    let s = (dy * y).sum_axis(axis, true);
    let inner: usize = y.shape()[axis + 1..].iter().product();
    let n = y.shape()[axis];
    let (d, ys, ss) = (dy.as_slice(), y.as_slice(), s.as_slice());
    spread(y.shape(), axis, |o, i, j| {
        let k = (o * n + i) * inner + j;
        ys[k] * (d[k] - ss[o * inner + j])
    })
}

/// The rule of [`Tensor::log_softmax`]: `dx = dy − eʸ · Σ dy` along the axis.
pub fn log_softmax_vjp<T: Float>(dy: &Tensor<T>, y: &Tensor<T>, axis: usize) -> Tensor<T> {
    let s = dy.sum_axis(axis, true);
    let inner: usize = y.shape()[axis + 1..].iter().product();
    let n = y.shape()[axis];
    let (d, ys, ss) = (dy.as_slice(), y.as_slice(), s.as_slice());
    spread(y.shape(), axis, |o, i, j| {
        let k = (o * n + i) * inner + j;
        d[k] - ys[k].exp() * ss[o * inner + j]
    })
}
