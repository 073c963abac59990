//! The runtime's layers through gradcheck, in every activation, with dropout.

mod common;
use adjoint::gradcheck::gradcheck;
use adjoint::nn::{Activation, Init, Linear, Mlp};
use adjoint::prelude::*;
use common::{leaves, with_leaves};

type T = Tensor<f64>;

const ACTIVATIONS: [Activation; 5] = [
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softmax,
    Activation::Identity,
];

#[differentiable(wrt(model))]
fn loss(model: &Mlp<f64>, x: &T, labels: &[usize], training: bool) -> f64 {
    let logits = model.forward(x, training, 17);
    cross_entropy(&logits, labels)
}

#[test]
fn mlp_gradients_in_every_activation_with_and_without_dropout() {
    let x = Tensor::randn(&[5, 4], 0.0, 1.0, &mut Rng::seed(1));
    let labels = [0, 2, 1, 2, 0];
    for activation in ACTIVATIONS {
        let mut model = Mlp::new(&[4, 6, 5, 3], activation, Init::HeNormal, &mut Rng::seed(2));
        for dropout in [0.0, 0.3] {
            model.dropout = dropout;
            let (v, grad) = loss_grad(&model, &x, &labels, true);
            assert!((v - loss(&model, &x, &labels, true)).abs() < 1e-12);
            assert_eq!(
                grad.dropout, dropout,
                "hyperparameters are carried into the gradient struct"
            );
            let check = gradcheck(
                |ts| loss(&with_leaves(&model, ts), &x, &labels, true),
                &leaves(&model),
                &leaves(&grad),
                1e-6,
            );
            assert!(
                check.passed(1e-6),
                "{activation:?}, dropout {dropout}: {check:?}"
            );
        }
    }
}

#[test]
fn initializations_have_their_scales() {
    let mut rng = Rng::seed(3);
    let std = |t: &Tensor<f64>| {
        let n = t.len() as f64;
        let m = t.as_slice().iter().sum::<f64>() / n;
        (t.as_slice().iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt()
    };
    let he: Linear<f64> = Linear::with_init(400, 300, Init::HeNormal, &mut rng);
    assert!((std(&he.w) - (2.0f64 / 400.0).sqrt()).abs() < 0.003);
    assert!(he.b.as_slice().iter().all(|&v| v == 0.0));
    let torch: Linear<f64> = Linear::new(400, 300, &mut rng);
    let bound = 1.0 / 400f64.sqrt();
    assert!(
        torch.w.as_slice().iter().all(|v| v.abs() <= bound)
            && torch.b.as_slice().iter().all(|v| v.abs() <= bound)
    );
    // Uniform on ±bound has standard deviation bound/√3.
    assert!((std(&torch.w) - bound / 3f64.sqrt()).abs() < 0.002);
    let xavier: Linear<f64> = Linear::with_init(400, 300, Init::XavierUniform, &mut rng);
    assert!((std(&xavier.w) - (6.0f64 / 700.0).sqrt() / 3f64.sqrt()).abs() < 0.002);
}

#[differentiable(wrt(x))]
fn input_score(model: &Mlp<f64>, x: &T, class: usize) -> f64 {
    model
        .forward(x, false, 0)
        .t()
        .gather_rows(&[class])
        .sum()
        .item()
}

#[test]
fn gradient_with_respect_to_the_input_image() {
    // The saliency example's gradient: d(class score)/d(input).
    let model: Mlp<f64> = Mlp::new(
        &[6, 5, 3],
        Activation::Relu,
        Init::HeNormal,
        &mut Rng::seed(4),
    );
    let x = Tensor::randn(&[1, 6], 0.0, 1.0, &mut Rng::seed(6));
    let (_, g) = input_score_grad(&model, &x, 2);
    let check = gradcheck(
        |ts| input_score(&model, &ts[0], 2),
        std::slice::from_ref(&x),
        &[g],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

#[differentiable(wrt(layer, x))]
fn owned_at_top_level(layer: &Linear<f64>, x: &T) -> f64 {
    // A tensor passed by value that the reverse sweep still reads (the
    // clone `h`, read again below) is cloned into the call, not moved.
    let h = x.clone();
    (layer.forward_owned(h.clone()) * &h).sum().item()
}

#[test]
fn a_tensor_passed_by_value_at_the_top_level_differentiates() {
    let mut rng = Rng::seed(5);
    let layer = Linear::<f64>::new(3, 3, &mut rng);
    let x = T::randn(&[2, 3], 0.0, 1.0, &mut rng);
    let (_, (dl, dx)) = owned_at_top_level_grad(&layer, &x);
    let check = gradcheck(
        |ts| {
            let l = Linear {
                w: ts[0].clone(),
                b: ts[1].clone(),
            };
            owned_at_top_level(&l, &ts[2])
        },
        &[layer.w.clone(), layer.b.clone(), x.clone()],
        &[dl.w, dl.b, dx],
        1e-6,
    );
    assert!(check.passed(1e-6), "{check:?}");
}

#[differentiable(wrt(w, b, x))]
fn fused(w: &T, b: &T, x: &T, c: &T, activation: Activation) -> f64 {
    (x.matmul(w).bias_activation(b, activation) * c)
        .sum()
        .item()
}

#[differentiable(wrt(w, b, x))]
fn unfused(w: &T, b: &T, x: &T, c: &T, activation: Activation) -> f64 {
    let z = x.matmul(w) + b;
    let y = match activation {
        Activation::Relu => z.relu(),
        Activation::Sigmoid => z.sigmoid(),
        Activation::Tanh => z.tanh(),
        Activation::Softmax => z.softmax(1),
        Activation::Identity => z,
    };
    (y * c).sum().item()
}

#[test]
fn bias_and_activation_in_one_op_differentiate_as_the_two_ops() {
    let mut rng = Rng::seed(8);
    let (w, b) = (
        T::randn(&[4, 5], 0.0, 1.0, &mut rng),
        T::randn(&[5], 0.0, 1.0, &mut rng),
    );
    let (x, c) = (
        T::randn(&[3, 4], 0.0, 1.0, &mut rng),
        T::randn(&[3, 5], 0.0, 1.0, &mut rng),
    );
    for activation in ACTIVATIONS {
        let (v, (dw, db, dx)) = fused_grad(&w, &b, &x, &c, activation);
        let (u, (uw, ub, ux)) = unfused_grad(&w, &b, &x, &c, activation);
        assert!((v - u).abs() < 1e-12, "{activation:?}: {v} vs {u}");
        for (got, want) in [(&dw, &uw), (&db, &ub), (&dx, &ux)] {
            assert_eq!(got.shape(), want.shape());
            for (g, e) in got.as_slice().iter().zip(want.as_slice()) {
                assert!((g - e).abs() < 1e-12, "{activation:?}: {g} vs {e}");
            }
        }
        let check = gradcheck(
            |ts| fused(&ts[0], &ts[1], &ts[2], &c, activation),
            &[w.clone(), b.clone(), x.clone()],
            &[dw, db, dx],
            1e-6,
        );
        assert!(check.passed(1e-6), "{activation:?}: {check:?}");
    }
}

#[test]
#[should_panic(
    expected = "bias_activation: bias of shape [4] for values of shape [3, 5] (expected [5])"
)]
fn a_bias_of_the_wrong_length_names_both_shapes() {
    let z = T::zeros(&[3, 5]);
    z.bias_activation(&T::zeros(&[4]), Activation::Relu);
}
