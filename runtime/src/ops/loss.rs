//! Losses. Each is a plain function plus its `*_vjp` companion, the same pair
//! `#[differentiable]` generates, so differentiable code calls them like any
//! other differentiable function (and a user's own rule is written the same
//! way).

use crate::scalar::Float;
use crate::tensor::Tensor;

/// Mean softmax cross-entropy of `logits` (`[batch, classes]`) against
/// integer `labels`, through a fused, stable log-softmax:
/// `-1/N Σᵢ log softmax(logitsᵢ)[labelᵢ]` (PyTorch's `cross_entropy`).
///
/// **Panics** naming the shapes if `logits` is not 2-D, the batch sizes
/// differ, or a label is not a class index.
///
/// ```
/// use adjoint_runtime::{Tensor, ops::loss::cross_entropy};
/// let logits = Tensor::from_vec(vec![0.0_f64, 0.0], &[1, 2]);
/// assert!((cross_entropy(&logits, &[1]) - 2f64.ln()).abs() < 1e-12);
/// ```
#[track_caller]
pub fn cross_entropy<T: Float>(logits: &Tensor<T>, labels: &[usize]) -> T {
    let c = check_labels(logits, labels);
    let lse = softmax_rows(logits.as_slice(), c, None);
    mean_nll(logits.as_slice(), c, labels, &lse)
}

/// [`cross_entropy`] and its pullback: `dlogits = dy · (softmax − onehot) / N`.
///
/// The softmax is computed here, once, with the loss (one `exp` per logit);
/// the pullback only scales it.
#[track_caller]
pub fn cross_entropy_vjp<'a, T: Float>(
    logits: &'a Tensor<T>,
    labels: &'a [usize],
) -> (T, impl FnOnce(T) -> (Tensor<T>, ()) + 'a) {
    let c = check_labels(logits, labels);
    let n = labels.len();
    let mut probs = crate::tensor::storage::take(n * c);
    let lse = softmax_rows(logits.as_slice(), c, Some(&mut probs));
    let value = mean_nll(logits.as_slice(), c, labels, &lse);
    (value, move |dy: T| {
        let scale = dy / T::from_f64(n as f64);
        probs.iter_mut().for_each(|p| *p *= scale);
        for (i, &l) in labels.iter().enumerate() {
            probs[i * c + l] -= scale;
        }
        (Tensor::from_buffer(probs, &[n, c]), ())
    })
}

/// The number of classes of `[batch, classes]` logits, after checking the
/// labels against them.
#[track_caller]
fn check_labels<T: Float>(logits: &Tensor<T>, labels: &[usize]) -> usize {
    let [n, c] = *logits.shape() else {
        panic!(
            "cross_entropy: logits must be [batch, classes], got shape {:?}",
            logits.shape()
        );
    };
    assert!(
        labels.len() == n,
        "cross_entropy: {} labels for logits of shape {:?}",
        labels.len(),
        logits.shape()
    );
    if let Some(bad) = labels.iter().find(|&&l| l >= c) {
        panic!(
            "cross_entropy: label {bad} is not a class of logits of shape {:?}",
            logits.shape()
        );
    }
    c
}

/// Each row's `log Σ eˣ`, computed stably as `m + ln Σ e^(x − m)` with `m` the
/// row's maximum; with `probs`, also writes the row's softmax there.
fn softmax_rows<T: Float>(x: &[T], c: usize, mut probs: Option<&mut [T]>) -> Vec<T> {
    if c == 0 {
        return Vec::new();
    }
    let mut lse = Vec::with_capacity(x.len() / c);
    for (i, row) in x.chunks(c).enumerate() {
        let m = row.iter().copied().fold(row[0], T::max);
        let mut sum = T::ZERO;
        match probs.as_deref_mut() {
            Some(p) => {
                let out = &mut p[i * c..(i + 1) * c];
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = (v - m).exp();
                    sum += *o;
                }
                let inv = T::ONE / sum;
                out.iter_mut().for_each(|o| *o *= inv);
            }
            None => row.iter().for_each(|&v| sum += (v - m).exp()),
        }
        lse.push(m + sum.ln());
    }
    lse
}

/// `−1/N Σᵢ log softmax(xᵢ)[labelᵢ]` from each row's `log Σ eˣ`.
fn mean_nll<T: Float>(x: &[T], c: usize, labels: &[usize], lse: &[T]) -> T {
    let mut total = T::ZERO;
    for (i, &l) in labels.iter().enumerate() {
        total += x[i * c + l] - lse[i];
    }
    -total / T::from_f64(labels.len() as f64)
}

/// Mean squared error `1/N Σ (pred − target)²`.
///
/// **Panics** if the shapes differ.
///
/// ```
/// use adjoint_runtime::{Tensor, ops::loss::mse};
/// let a = Tensor::from_vec(vec![1.0_f32, 2.0], &[2]);
/// let b = Tensor::from_vec(vec![1.0_f32, 4.0], &[2]);
/// assert_eq!(mse(&a, &b), 2.0);
/// ```
#[track_caller]
pub fn mse<T: Float>(pred: &Tensor<T>, target: &Tensor<T>) -> T {
    mse_vjp(pred, target).0
}

/// [`mse`] and its pullback: `dpred = 2 dy (pred − target) / N = −dtarget`.
#[track_caller]
pub fn mse_vjp<'a, T: Float>(
    pred: &'a Tensor<T>,
    target: &'a Tensor<T>,
) -> (T, impl FnOnce(T) -> (Tensor<T>, Tensor<T>) + 'a) {
    let diff = pred.zip_map(target, "mse", |a, b| a - b);
    let n = T::from_f64(pred.len().max(1) as f64);
    let mut total = T::ZERO;
    diff.as_slice().iter().for_each(|&d| total += d * d);
    (total / n, move |dy: T| {
        let k = T::from_f64(2.0) * dy / n;
        let g = diff.map(|d| k * d);
        let neg = -&g;
        (g, neg)
    })
}

/// Mean binary cross-entropy of `logits` against `targets` in `[0, 1]`,
/// computed stably from the logits: `mean(max(x, 0) − x·t + ln(1 + e^−|x|))`
/// (PyTorch's `binary_cross_entropy_with_logits`).
///
/// ```
/// use adjoint_runtime::{Tensor, ops::loss::binary_cross_entropy_with_logits as bce};
/// let x = Tensor::from_vec(vec![0.0_f64], &[1]);
/// assert!((bce(&x, &Tensor::from_vec(vec![1.0], &[1])) - 2f64.ln()).abs() < 1e-12);
/// ```
#[track_caller]
pub fn binary_cross_entropy_with_logits<T: Float>(logits: &Tensor<T>, targets: &Tensor<T>) -> T {
    binary_cross_entropy_with_logits_vjp(logits, targets).0
}

/// [`binary_cross_entropy_with_logits`] and its pullback:
/// `dx = dy (sigmoid(x) − t) / N`, `dt = −dy x / N`.
#[track_caller]
pub fn binary_cross_entropy_with_logits_vjp<'a, T: Float>(
    logits: &'a Tensor<T>,
    targets: &'a Tensor<T>,
) -> (T, impl FnOnce(T) -> (Tensor<T>, Tensor<T>) + 'a) {
    let terms = logits.zip_map(targets, "binary_cross_entropy_with_logits", |x, t| {
        x.max(T::ZERO) - x * t + (-x.abs()).exp().ln_1p()
    });
    let n = T::from_f64(logits.len().max(1) as f64);
    let mut total = T::ZERO;
    terms.as_slice().iter().for_each(|&v| total += v);
    (total / n, move |dy: T| {
        let k = dy / n;
        let dx = logits.zip_map(targets, "bce_vjp", |x, t| k * (logits_sigmoid(x) - t));
        let dt = logits.map(|x| -k * x);
        (dx, dt)
    })
}

fn logits_sigmoid<T: Float>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}
