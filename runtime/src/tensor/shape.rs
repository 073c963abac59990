//! NumPy broadcasting: the shape two operands broadcast to, reading an operand
//! at a broadcast shape, and its reverse, summing a gradient back down to an
//! operand's shape.

use super::buffer::Buffer;
use super::{Tensor, storage};
use crate::scalar::Float;

/// The shape `a` and `b` broadcast to (NumPy rules: align trailing
/// dimensions; each pair must be equal or contain a 1).
///
/// **Panics** naming `op` and both shapes when they do not broadcast.
///
/// ```
/// use adjoint_runtime::tensor::shape::broadcast_shape;
/// assert_eq!(broadcast_shape("add", &[4, 1, 3], &[2, 1]), [4, 2, 3]);
/// ```
#[track_caller]
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Vec<usize> {
    super::or_panic(try_broadcast_shape(op, a, b))
}

/// [`broadcast_shape`], returning an error instead of panicking.
///
/// ```
/// use adjoint_runtime::tensor::shape::try_broadcast_shape;
/// let e = try_broadcast_shape("add", &[2, 3], &[4]).unwrap_err();
/// assert_eq!(e.to_string(), "add: shapes [2, 3] and [4] cannot be broadcast together");
/// ```
pub fn try_broadcast_shape(
    op: &'static str,
    a: &[usize],
    b: &[usize],
) -> Result<Vec<usize>, super::ShapeError> {
    let n = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(super::ShapeError {
                op,
                message: format!("shapes {a:?} and {b:?} cannot be broadcast together"),
            }),
        })
        .collect()
}

/// Row-major strides of `from` read as shape `to` (which `from` broadcasts
/// to): 0 along broadcast dimensions.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; to.len()];
    let mut stride = 1;
    for i in (0..from.len()).rev() {
        let j = i + to.len() - from.len();
        strides[j] = if from[i] == 1 { 0 } else { stride };
        stride *= from[i];
    }
    strides
}

/// Calls `f(out_index, a_index, b_index)` for every element of the broadcast
/// shape `out`, in row-major order.
fn for_each_broadcast(
    out: &[usize],
    sa: &[usize],
    sb: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let total: usize = out.iter().product();
    if total == 0 {
        return;
    }
    let nd = out.len();
    let mut idx = vec![0usize; nd];
    let (mut ia, mut ib) = (0usize, 0usize);
    for k in 0..total {
        f(k, ia, ib);
        // Odometer increment, keeping the operand offsets in step.
        for d in (0..nd).rev() {
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < out[d] {
                break;
            }
            ia -= sa[d] * out[d];
            ib -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// Elementwise `f(a, b)` with broadcasting; `op` names the operation in
/// shape errors.
#[track_caller]
pub fn broadcast_zip<T: Float>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    op: &'static str,
    f: impl Fn(T, T) -> T,
) -> Tensor<T> {
    if a.shape() == b.shape() {
        return a.zip_map(b, op, f);
    }
    let out = broadcast_shape(op, a.shape(), b.shape());
    let (x, y) = (a.as_slice(), b.as_slice());
    // Fast paths: one side a single value, or a trailing row (a bias).
    if y.len() == 1 && out == a.shape() {
        let v = y[0];
        return Tensor::from_buffer(storage::collect(x.len(), x.iter().map(|&p| f(p, v))), &out);
    }
    if x.len() == 1 && out == b.shape() {
        let v = x[0];
        return Tensor::from_buffer(storage::collect(y.len(), y.iter().map(|&q| f(v, q))), &out);
    }
    if out == a.shape() && !y.is_empty() && a.shape().ends_with(trim_ones(b.shape())) {
        let mut data = storage::take(x.len());
        for (o, row) in data.chunks_mut(y.len()).zip(x.chunks(y.len())) {
            o.iter_mut()
                .zip(row.iter().zip(y))
                .for_each(|(o, (&p, &q))| *o = f(p, q));
        }
        return Tensor::from_buffer(data, &out);
    }
    let (sa, sb) = (
        broadcast_strides(a.shape(), &out),
        broadcast_strides(b.shape(), &out),
    );
    let mut data = storage::take(out.iter().product());
    for_each_broadcast(&out, &sa, &sb, |k, ia, ib| data[k] = f(x[ia], y[ib]));
    Tensor::from_buffer(data, &out)
}

/// A shape without its leading 1s (`[1, 1, 3]` → `[3]`).
fn trim_ones(s: &[usize]) -> &[usize] {
    let first = s.iter().position(|&d| d != 1).unwrap_or(s.len());
    &s[first..]
}

/// Sums `t` down to `shape`, the reverse of broadcasting a tensor of
/// `shape` to `t`'s shape: the gradient of a broadcast operand.
///
/// ```
/// use adjoint_runtime::{Tensor, tensor::shape::sum_to};
/// let g = Tensor::from_vec(vec![1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// assert_eq!(sum_to(&g, &[3]).to_vec(), [5.0, 7.0, 9.0]);
/// assert_eq!(sum_to(&g, &[2, 1]).to_vec(), [6.0, 15.0]);
/// ```
pub fn sum_to<T: Float>(t: &Tensor<T>, shape: &[usize]) -> Tensor<T> {
    if t.shape() == shape {
        return t.clone();
    }
    let x = t.as_slice();
    let n: usize = shape.iter().product();
    if n == 1 {
        let mut s = T::ZERO;
        x.iter().for_each(|&v| s += v);
        return Tensor::from_buffer(Buffer::from_slice(&[s]), shape);
    }
    let mut out = storage::take_zeroed(n);
    if t.shape().ends_with(trim_ones(shape)) {
        for row in x.chunks(n) {
            out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
        }
        return Tensor::from_buffer(out, shape);
    }
    let so = broadcast_strides(shape, t.shape());
    let zeros = vec![0; t.ndim()];
    for_each_broadcast(t.shape(), &so, &zeros, |k, io, _| out[io] += x[k]);
    Tensor::from_buffer(out, shape)
}
