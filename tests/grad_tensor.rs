//! Tensor models through `#[differentiable]`, end to end, against
//! `gradcheck` (central differences in f64).

mod common;
use adjoint::gradcheck::gradcheck;
use adjoint::prelude::*;
use common::{leaves, with_leaves};

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

// ---- layers with differentiable methods, a Vec of them ----

#[derive(Params, Clone)]
struct Linear {
    w: T,
    b: T,
}

impl Linear {
    fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Linear {
        Linear {
            w: Tensor::randn(&[inputs, outputs], 0.0, 0.5, rng),
            b: Tensor::randn(&[outputs], 0.0, 0.5, rng),
        }
    }

    #[differentiable(wrt(self, x))]
    fn forward(&self, x: &T) -> T {
        x.matmul(&self.w) + &self.b
    }
}

#[derive(Params, Clone)]
struct Deep {
    layers: Vec<Linear>,
}

#[differentiable(wrt(p))]
fn deep_loss(p: &Deep, x: &T, labels: &[usize]) -> f64 {
    let mut h = x.tanh();
    for layer in &p.layers {
        h = layer.forward(&h).tanh();
    }
    cross_entropy(&h, labels)
}

#[test]
fn three_layer_mlp_over_a_vec_of_layers() {
    let mut rng = Rng::seed(5);
    let p = Deep {
        layers: vec![
            Linear::new(4, 6, &mut rng),
            Linear::new(6, 5, &mut rng),
            Linear::new(5, 3, &mut rng),
        ],
    };
    let x = Tensor::randn(&[7, 4], 0.0, 1.0, &mut rng);
    let labels = [0, 1, 2, 2, 1, 0, 1];
    let (value, grad) = deep_loss_grad(&p, &x, &labels);
    assert!((value - deep_loss(&p, &x, &labels)).abs() < 1e-12);
    let mut names = Vec::new();
    grad.visit("", &mut |name, _| names.push(name.to_string()));
    assert_eq!(
        names,
        [
            "layers.0.w",
            "layers.0.b",
            "layers.1.w",
            "layers.1.b",
            "layers.2.w",
            "layers.2.b"
        ]
    );
    let check = gradcheck(
        |ts| deep_loss(&with_leaves(&p, ts), &x, &labels),
        &leaves(&p),
        &leaves(&grad),
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

#[test]
fn a_layer_method_differentiates_in_self_and_input() {
    let mut rng = Rng::seed(8);
    let layer = Linear::new(3, 2, &mut rng);
    let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng);
    let (y, pullback) = layer.forward_vjp(&x);
    assert_eq!(y, layer.forward(&x));
    let dy = Tensor::randn(&[4, 2], 0.0, 1.0, &mut rng);
    let (dlayer, dx) = pullback(dy.clone());
    // y = x·w + b: dw = xᵀ·dy, db = Σ_rows dy, dx = dy·wᵀ
    assert!(close(&dlayer.w, &x.t().matmul(&dy)));
    assert!(close(&dlayer.b, &dy.sum_axis(0, false)));
    assert!(close(&dx, &dy.matmul(&layer.w.t())));
}

fn close(a: &T, b: &T) -> bool {
    a.shape() == b.shape()
        && a.as_slice()
            .iter()
            .zip(b.as_slice())
            .all(|(x, y)| (x - y).abs() < 1e-12)
}

// ---- a recurrent cell looped over time steps ----

#[derive(Params, Clone)]
struct Rnn {
    wx: T,
    wh: T,
    b: T,
    out: T,
}

#[differentiable(wrt(p))]
fn rnn_loss(p: &Rnn, xs: &[T], target: &T) -> f64 {
    let mut h = xs[0].matmul(&p.wx) * 0.0;
    for x in xs {
        h = (x.matmul(&p.wx) + h.matmul(&p.wh) + &p.b).tanh();
    }
    mse(&h.matmul(&p.out), target)
}

#[test]
fn rnn_cell_over_time_steps() {
    let mut rng = Rng::seed(11);
    let p = Rnn {
        wx: Tensor::randn(&[3, 4], 0.0, 0.5, &mut rng),
        wh: Tensor::randn(&[4, 4], 0.0, 0.5, &mut rng),
        b: Tensor::randn(&[4], 0.0, 0.5, &mut rng),
        out: Tensor::randn(&[4, 2], 0.0, 0.5, &mut rng),
    };
    let xs: Vec<T> = (0..5)
        .map(|_| Tensor::randn(&[2, 3], 0.0, 1.0, &mut rng))
        .collect();
    let target = Tensor::randn(&[2, 2], 0.0, 1.0, &mut rng);
    let (_, grad) = rnn_loss_grad(&p, &xs, &target);
    let check = gradcheck(
        |ts| rnn_loss(&with_leaves(&p, ts), &xs, &target),
        &leaves(&p),
        &leaves(&grad),
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

// ---- a custom rule, as jax.custom_vjp ----

/// `log(1 + eˣ)` summed, with a hand-written rule: the pair `f` / `f_vjp` is
/// all that differentiable code needs, whoever wrote it.
fn softplus_sum(x: &T) -> f64 {
    x.softplus().sum().item()
}

/// The rule: `d/dx Σ softplus(x) = sigmoid(x)`.
fn softplus_sum_vjp(x: &T) -> (f64, impl FnOnce(f64) -> (T,) + use<>) {
    let s = x.sigmoid();
    (softplus_sum(x), move |dy: f64| (&s * dy,))
}

#[differentiable]
fn uses_custom_rule(x: &T) -> f64 {
    let y = x * 2.0;
    softplus_sum(&y) + (x * x).sum().item()
}

#[test]
fn custom_rules_are_used_by_the_compiler() {
    let x = Tensor::randn(&[3, 2], 0.0, 1.0, &mut Rng::seed(4));
    let (_, g) = uses_custom_rule_grad(&x);
    // 2·sigmoid(2x) + 2x
    let want = &((&x * 2.0).sigmoid() * 2.0) + &(&x * 2.0);
    assert!(close(&g, &want));
    let check = gradcheck(
        |ts| uses_custom_rule(&ts[0]),
        std::slice::from_ref(&x),
        &[g],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

// ---- scalars and tensors mixed ----

#[differentiable]
fn centered(x: &T, scale: f64) -> f64 {
    let s = x.mean();
    let c = (x - &s) * 2.0;
    (c.powi(2).sum().item() * scale).sqrt()
}

#[test]
fn mixed_tensor_and_scalar_code() {
    let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut Rng::seed(9));
    let (_, (gx, gs)) = centered_grad(&x, 0.7);
    let check = gradcheck(
        |ts| centered(&ts[0], ts[1].item()),
        &[x.clone(), Tensor::scalar(0.7)],
        &[gx, Tensor::scalar(gs)],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

// ---- embeddings, concatenation, dropout, reductions over an axis ----

#[derive(Params, Clone)]
struct Embed {
    table: T,
    head: T,
}

#[differentiable(wrt(p))]
fn embed_loss(p: &Embed, tokens: &[usize], extra: &T, seed: u64, labels: &[usize]) -> f64 {
    let e = p.table.gather_rows(tokens);
    let joined = e.concat(extra, 1).dropout(0.25, true, seed);
    let logits = joined.matmul(&p.head);
    let centered = &logits - &logits.max_axis(1, true);
    let probs = centered.softmax(1);
    cross_entropy(&logits, labels) + probs.mean_axis(0, false).powi(2).sum().item()
}

#[test]
fn embedding_lookup_concat_dropout_and_axis_reductions() {
    let mut rng = Rng::seed(21);
    let p = Embed {
        table: Tensor::randn(&[6, 3], 0.0, 1.0, &mut rng),
        head: Tensor::randn(&[5, 4], 0.0, 0.5, &mut rng),
    };
    let tokens = [5, 0, 2, 5];
    let extra = Tensor::randn(&[4, 2], 0.0, 1.0, &mut rng);
    let labels = [3, 1, 0, 2];
    let (_, grad) = embed_loss_grad(&p, &tokens, &extra, 42, &labels);
    let check = gradcheck(
        |ts| embed_loss(&with_leaves(&p, ts), &tokens, &extra, 42, &labels),
        &leaves(&p),
        &leaves(&grad),
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

#[differentiable]
fn tensor_powers(x: &T, e: f64) -> f64 {
    (x.powf(e) + x.powi(3)).sum().item()
}

#[test]
fn tensor_powers_in_base_and_exponent() {
    let x = Tensor::rand_uniform(&[2, 3], 0.5, 2.0, &mut Rng::seed(3));
    let (_, (gx, ge)) = tensor_powers_grad(&x, 1.7);
    let check = gradcheck(
        |ts| tensor_powers(&ts[0], ts[1].item()),
        &[x.clone(), Tensor::scalar(1.7)],
        &[gx, Tensor::scalar(ge)],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

/// Every tensor method the compiler has a rule for, through the macro.
#[differentiable(wrt(a, b))]
fn every_method(a: &T, b: &T, w: &T) -> f64 {
    let z = a.matmul(b); // [3, 4]
    let s = z.sigmoid() + z.gelu() + z.softplus() + z.leaky_relu(0.1) + z.tanh() + z.relu();
    let r = s.reshape(&[4, 3]).t().transpose(0, 1); // [4, 3]
    let e = r.exp().ln() + r.abs().sqrt() + r.powi(2);
    let l = e.log_softmax(1) + e.softmax(0) + &e.logsumexp(1, true) + &e.max_axis(0, true);
    let m = l.sum_axis(0, false).mean() + l.mean_axis(1, true).sum() + l.sum();
    (&m * w).item() + (l.mean() * 0.5).item()
}

#[test]
fn every_tensor_method_through_the_macro() {
    let mut rng = Rng::seed(31);
    let a = Tensor::randn(&[3, 2], 0.0, 1.0, &mut rng);
    let b: T = Tensor::randn(&[2, 4], 0.0, 1.0, &mut rng);
    let b = b.map(|v| if v.abs() < 0.2 { 0.5 } else { v });
    let w = Tensor::scalar(0.7);
    let (v, (ga, gb)) = every_method_grad(&a, &b, &w);
    assert!((v - every_method(&a, &b, &w)).abs() < 1e-12);
    let check = gradcheck(
        |ts| every_method(&ts[0], &ts[1], &w),
        &[a, b],
        &[ga, gb],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}
