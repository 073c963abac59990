//! Central finite differences in f64, the reference every gradient test
//! compares against.
#![allow(dead_code)]

/// `∂f/∂x_k` by central differences, step scaled to `x_k`.
pub fn finite_diff(f: impl Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|k| {
            let h = 1e-6 * x[k].abs().max(1.0);
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[k] += h;
            xm[k] -= h;
            (f(&xp) - f(&xm)) / (xp[k] - xm[k])
        })
        .collect()
}

/// Asserts `grad` equals the finite-difference gradient of `f` at `x`
/// (relative 1e-6, absolute 1e-8 near zero).
#[track_caller]
pub fn assert_fd(grad: &[f64], f: impl Fn(&[f64]) -> f64, x: &[f64]) {
    let fd = finite_diff(f, x);
    assert_eq!(grad.len(), fd.len());
    for (k, (g, d)) in grad.iter().zip(&fd).enumerate() {
        assert!(
            approx::relative_eq!(*g, *d, epsilon = 1e-8, max_relative = 1e-6),
            "component {k} at {x:?}: gradient {g} but finite differences give {d}"
        );
    }
}

use adjoint::Tensor;
use adjoint::params::{Leaf, LeafMut, Params};

/// The tensors of a parameter tree, in walking order (gradcheck's inputs).
pub fn leaves<P: Params<Elem = f64>>(p: &P) -> Vec<Tensor<f64>> {
    let mut out = Vec::new();
    p.visit("", &mut |_, leaf| {
        if let Leaf::Tensor(t) = leaf {
            out.push(t.clone());
        }
    });
    out
}

/// A copy of a tree with its tensors replaced, in walking order.
pub fn with_leaves<P: Params<Elem = f64>>(p: &P, ts: &[Tensor<f64>]) -> P {
    let mut q = p.clone();
    let mut k = 0;
    q.visit_mut("", &mut |_, leaf| {
        if let LeafMut::Tensor(t) = leaf {
            *t = ts[k].clone();
            k += 1;
        }
    });
    q
}
