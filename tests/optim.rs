//! Optimizer steps against PyTorch's update rules worked by hand, for a
//! parameter tree (an Mlp-like struct and a scalar).

use adjoint::optim::{Adam, Optimizer, Schedule, Sgd, clip_grad_norm};
use adjoint::prelude::*;
use approx::assert_relative_eq;

#[derive(Params, Clone)]
struct Two {
    w: Tensor<f64>,
    s: f64,
}

fn tree(w: f64, s: f64) -> Two {
    Two {
        w: Tensor::from_vec(vec![w], &[1]),
        s,
    }
}

#[test]
fn sgd_with_momentum_and_weight_decay() {
    // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), p = 1:
    // step 1, g = 0.5:   d = 0.5 + 0.01·1 = 0.51, buf = 0.51, p = 1 − 0.1·0.51 = 0.949
    // step 2, g = −0.25: d = −0.25 + 0.01·0.949 = −0.24051,
    //                    buf = 0.9·0.51 − 0.24051 = 0.21849, p = 0.949 − 0.021849 = 0.927151
    let mut p = tree(1.0, 1.0);
    let mut opt = Sgd::new(0.1).momentum(0.9, false).weight_decay(0.01);
    opt.step(&mut p, &tree(0.5, 0.5));
    assert_relative_eq!(p.w.item(), 0.949, max_relative = 1e-12);
    opt.step(&mut p, &tree(-0.25, -0.25));
    assert_relative_eq!(p.w.item(), 0.927151, max_relative = 1e-12);
    assert_relative_eq!(p.s, 0.927151, max_relative = 1e-12);
}

#[test]
fn sgd_nesterov() {
    // nesterov=True: step 1: buf = 0.51, d = 0.51 + 0.9·0.51 = 0.969, p = 0.9031
    // step 2: d = −0.25 + 0.01·0.9031 = −0.240969, buf = 0.9·0.51 + d = 0.218031,
    //         d + 0.9·buf = −0.0447411, p = 0.9031 + 0.00447411 = 0.90757411
    let mut p = tree(1.0, 1.0);
    let mut opt = Sgd::new(0.1).momentum(0.9, true).weight_decay(0.01);
    opt.step(&mut p, &tree(0.5, 0.5));
    assert_relative_eq!(p.w.item(), 0.9031, max_relative = 1e-12);
    opt.step(&mut p, &tree(-0.25, -0.25));
    assert_relative_eq!(p.w.item(), 0.90757411, max_relative = 1e-12);
}

/// Two Adam steps worked out with PyTorch's formula:
/// m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², p −= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
fn adam_by_hand(lr: f64, decoupled_wd: f64) -> (f64, f64) {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut p = 1.0f64;
    let (mut m, mut v) = (0.0, 0.0);
    let mut after = Vec::new();
    for (t, g) in [(1, 0.5f64), (2, -0.25)] {
        p *= 1.0 - lr * decoupled_wd;
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        p -= lr / bc1 * m / (v.sqrt() / bc2.sqrt() + eps);
        after.push(p);
    }
    (after[0], after[1])
}

#[test]
fn adam_and_adamw_steps() {
    // Step 1 of Adam moves by lr·g/|g| (up to ε): 1 − 0.1 = 0.9.
    let (one, two) = adam_by_hand(0.1, 0.0);
    assert_relative_eq!(one, 0.9, max_relative = 1e-7);
    let mut p = tree(1.0, 1.0);
    let mut opt = Adam::new(0.1);
    opt.step(&mut p, &tree(0.5, 0.5));
    assert_relative_eq!(p.w.item(), one, max_relative = 1e-12);
    opt.step(&mut p, &tree(-0.25, -0.25));
    assert_relative_eq!(p.w.item(), two, max_relative = 1e-12);

    // AdamW (decoupled weight decay 0.01) shrinks p by lr·λ before each update.
    let (one, two) = adam_by_hand(0.1, 0.01);
    let mut p = tree(1.0, 1.0);
    let mut opt = Adam::adamw(0.1);
    opt.step(&mut p, &tree(0.5, 0.5));
    assert_relative_eq!(p.w.item(), one, max_relative = 1e-12);
    opt.step(&mut p, &tree(-0.25, -0.25));
    assert_relative_eq!(p.s, two, max_relative = 1e-12);
}

#[test]
fn schedules_and_clipping() {
    let cos = Schedule::Cosine {
        total: 100,
        min: 0.0,
    };
    assert_relative_eq!(cos.lr(0, 1.0), 1.0);
    assert_relative_eq!(cos.lr(50, 1.0), 0.5, epsilon = 1e-12);
    assert_relative_eq!(cos.lr(100, 1.0), 0.0, epsilon = 1e-12);
    let mut g = tree(3.0, 4.0);
    let norm = clip_grad_norm(&mut g, 2.5);
    assert_eq!(norm, 5.0);
    // Scaled by 2.5 / (5 + 1e-6), as PyTorch does.
    assert_relative_eq!(g.w.item(), 3.0 * 2.5 / (5.0 + 1e-6), max_relative = 1e-12);
    assert_relative_eq!(g.s, 4.0 * 2.5 / (5.0 + 1e-6), max_relative = 1e-12);
}
