//! Tensor models through `#[differentiable]`, end to end, against
//! `gradcheck` (central differences in f64).

use adjoint::gradcheck::gradcheck;
use adjoint::params::Leaf;
use adjoint::prelude::*;

type T = Tensor<f64>;

#[derive(Params, Clone)]
struct Mlp {
    w1: T,
    b1: T,
    w2: T,
    b2: T,
}

#[differentiable(wrt(p))]
fn loss(p: &Mlp, x: &T, labels: &[usize]) -> f64 {
    let h = (x.matmul(&p.w1) + &p.b1).relu();
    let logits = h.matmul(&p.w2) + &p.b2;
    cross_entropy(&logits, labels)
}

fn mlp(seed: u64) -> Mlp {
    let mut rng = Rng::seed(seed);
    Mlp {
        w1: Tensor::randn(&[4, 5], 0.0, 0.5, &mut rng),
        b1: Tensor::randn(&[5], 0.0, 0.5, &mut rng),
        w2: Tensor::randn(&[5, 3], 0.0, 0.5, &mut rng),
        b2: Tensor::randn(&[3], 0.0, 0.5, &mut rng),
    }
}

/// The tensors of a tree, in visiting order.
fn leaves<P: Params<Elem = f64>>(p: &P) -> Vec<T> {
    let mut out = Vec::new();
    p.visit("", &mut |_, leaf| {
        if let Leaf::Tensor(t) = leaf {
            out.push(t.clone());
        }
    });
    out
}

/// A tree with its tensors replaced, in visiting order.
fn with_leaves<P: Params<Elem = f64>>(p: &P, ts: &[T]) -> P {
    let mut q = p.clone();
    let mut k = 0;
    q.visit_mut("", &mut |_, leaf| {
        if let adjoint::params::LeafMut::Tensor(t) = leaf {
            *t = ts[k].clone();
            k += 1;
        }
    });
    q
}

#[test]
fn mlp_gradient_reaches_every_parameter() {
    let p = mlp(1);
    let x = Tensor::randn(&[6, 4], 0.0, 1.0, &mut Rng::seed(2));
    let labels = [0, 2, 1, 1, 0, 2];
    let (value, grad) = loss_grad(&p, &x, &labels);
    assert!((value - loss(&p, &x, &labels)).abs() < 1e-12);
    let check = gradcheck(
        |ts| loss(&with_leaves(&p, ts), &x, &labels),
        &leaves(&p),
        &leaves(&grad),
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}
