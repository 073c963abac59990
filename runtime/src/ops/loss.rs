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
    cross_entropy_vjp(logits, labels).0
}

/// [`cross_entropy`] and its pullback: `dlogits = dy · (softmax − onehot) / N`.
#[track_caller]
pub fn cross_entropy_vjp<'a, T: Float>(
    logits: &'a Tensor<T>,
    labels: &'a [usize],
) -> (T, impl FnOnce(T) -> (Tensor<T>, ()) + 'a) {
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
    let logp = logits.log_softmax(1);
    let mut total = T::ZERO;
    for (i, &l) in labels.iter().enumerate() {
        total += logp.as_slice()[i * c + l];
    }
    let value = -total / T::from_f64(n as f64);
    (value, move |dy: T| {
        let scale = dy / T::from_f64(n as f64);
        let mut g: Vec<T> = logp.as_slice().iter().map(|&v| v.exp() * scale).collect();
        for (i, &l) in labels.iter().enumerate() {
            g[i * c + l] -= scale;
        }
        (Tensor::from_vec(g, &[n, c]), ())
    })
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
