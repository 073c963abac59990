//! Generated-program testing of `#[differentiable]`.
//!
//! `build.rs` writes random scalar programs — expression trees over the
//! supported operations with inputs kept in each one's domain, `let` chains
//! with shadowing and reassignment, `if`/`else` on comparisons, `for` and
//! `while` loops with accumulators and slice indexing, calls to helper
//! functions — and `tests/programs.rs` checks every generated `_grad`
//! against central finite differences in f64.
//!
//! It also writes tensor programs (random shapes that broadcast, elementwise
//! functions, axis reductions, the softmax family, matmul, a scalar
//! parameter), checked with `gradcheck`.
//!
//! `ADJOINT_GEN_SEED` (default 0), `ADJOINT_GEN_COUNT` (default 200, what CI
//! runs) and `ADJOINT_GEN_TENSOR_COUNT` (default: the same) choose the
//! programs:
//!
//! ```sh
//! ADJOINT_GEN_SEED=7 ADJOINT_GEN_COUNT=1000 cargo test -p adjoint-gentest -- --nocapture
//! ```

/// Central finite differences of `f` at `x`, with step `h` scaled to each
/// coordinate.
pub fn finite_diff(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|k| {
            let step = h * x[k].abs().max(1.0);
            let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
            xp[k] += step;
            xm[k] -= step;
            (f(&xp) - f(&xm)) / (xp[k] - xm[k])
        })
        .collect()
}

/// How one program's gradient compared with finite differences.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Within tolerance at every point.
    Agrees,
    /// Finite differences at two step sizes disagree with each other more
    /// than with the gradient: the program is too curved at this point to
    /// check (not counted as a disagreement).
    Unstable,
    /// The gradient is wrong: component, gradient, finite difference.
    Disagrees(usize, f64, f64),
}

/// Compares `grad` with finite differences of `f` at `x` (relative 1e-5,
/// absolute 1e-7).
pub fn verdict(f: &dyn Fn(&[f64]) -> f64, x: &[f64], grad: &[f64]) -> Verdict {
    let fd = finite_diff(f, x, 1e-6);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0) + 1e-7;
    match (0..x.len()).find(|&k| !close(grad[k], fd[k])) {
        None => Verdict::Agrees,
        Some(k) => {
            let fd2 = finite_diff(f, x, 1e-4);
            if !close(fd[k], fd2[k]) && (fd[k] - fd2[k]).abs() > (grad[k] - fd[k]).abs() {
                Verdict::Unstable
            } else {
                Verdict::Disagrees(k, grad[k], fd[k])
            }
        }
    }
}
