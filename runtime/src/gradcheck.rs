//! `gradcheck`: compares a gradient with central finite differences in
//! `f64`, like `torch.autograd.gradcheck`, and reports the worst element.

use crate::tensor::Tensor;

/// The outcome of [`gradcheck`].
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheck {
    /// The largest error, `|analytic - numeric| / max(1, |numeric|)`.
    pub max_error: f64,
    /// Which input and which element of it (row-major) had it.
    pub worst: (usize, usize),
    /// The two values there.
    pub analytic: f64,
    /// The finite-difference estimate there.
    pub numeric: f64,
}

impl GradCheck {
    /// True when the worst error is within `tol`.
    pub fn passed(&self, tol: f64) -> bool {
        self.max_error <= tol
    }
}

/// Compares `grads` (the analytic gradient of `f` with respect to each of
/// `inputs`, same shapes) with central differences of step `eps` scaled by
/// each element's magnitude.
///
/// **Panics** if `grads` and `inputs` differ in number or shapes.
///
/// ```
/// use adjoint_runtime::{Tensor, gradcheck::gradcheck};
/// let x = Tensor::from_vec(vec![0.5_f64, -1.0, 2.0], &[3]);
/// // f(x) = Σ x², ∇f = 2x
/// let grad = &x * 2.0;
/// let check = gradcheck(|xs| xs[0].as_slice().iter().map(|v| v * v).sum(), &[x], &[grad], 1e-6);
/// assert!(check.passed(1e-6), "{check:?}");
/// ```
#[track_caller]
pub fn gradcheck(
    f: impl Fn(&[Tensor<f64>]) -> f64,
    inputs: &[Tensor<f64>],
    grads: &[Tensor<f64>],
    eps: f64,
) -> GradCheck {
    assert_eq!(
        inputs.len(),
        grads.len(),
        "gradcheck: {} inputs but {} gradients",
        inputs.len(),
        grads.len()
    );
    let mut report = GradCheck {
        max_error: 0.0,
        worst: (0, 0),
        analytic: 0.0,
        numeric: 0.0,
    };
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    for (t, g) in grads.iter().enumerate() {
        assert_eq!(
            inputs[t].shape(),
            g.shape(),
            "gradcheck: input {t} has shape {:?} but its gradient {:?}",
            inputs[t].shape(),
            g.shape()
        );
        for k in 0..inputs[t].len() {
            let x0 = inputs[t].as_slice()[k];
            let h = eps * x0.abs().max(1.0);
            xs[t].as_mut_slice()[k] = x0 + h;
            let fp = f(&xs);
            xs[t].as_mut_slice()[k] = x0 - h;
            let fm = f(&xs);
            xs[t].as_mut_slice()[k] = x0;
            let numeric = (fp - fm) / (2.0 * h);
            let analytic = g.as_slice()[k];
            let err = (analytic - numeric).abs() / numeric.abs().max(1.0);
            if err > report.max_error || err.is_nan() {
                report = GradCheck {
                    max_error: err,
                    worst: (t, k),
                    analytic,
                    numeric,
                };
            }
        }
    }
    report
}
