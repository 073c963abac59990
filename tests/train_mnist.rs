//! Trains a small MLP on the bundled MNIST digits for a few hundred steps
//! and checks that it learned; and that training is reproducible from a seed.

use adjoint::data::{Batches, Mnist};
use adjoint::metrics::{accuracy, argmax_rows};
use adjoint::nn::{Activation, Init, Mlp};
use adjoint::optim::{Adam, Optimizer};
use adjoint::prelude::*;

#[differentiable(wrt(model))]
fn loss(model: &Mlp, x: &Tensor, labels: &[usize]) -> f32 {
    cross_entropy(&model.forward(x, false, 0), labels)
}

fn train(mnist: &Mnist, steps: usize, seed: u64) -> (Mlp, f64) {
    let mut model: Mlp = Mlp::new(
        &[784, 32, 10],
        Activation::Relu,
        Init::PyTorch,
        &mut Rng::seed(seed),
    );
    let mut opt = Adam::new(1e-3);
    let mut done = 0;
    let mut epoch = 0;
    while done < steps {
        for idx in Batches::new(mnist.train_labels.len(), 64, Some(seed + epoch)) {
            if done == steps {
                break;
            }
            let x = mnist.train_images.gather_rows(&idx);
            let labels: Vec<usize> = idx.iter().map(|&i| mnist.train_labels[i]).collect();
            let (_, g) = loss_grad(&model, &x, &labels);
            opt.step(&mut model, &g);
            done += 1;
        }
        epoch += 1;
    }
    let predicted = argmax_rows(&model.forward(&mnist.test_images, false, 0));
    let acc = accuracy(&predicted, &mnist.test_labels);
    (model, acc)
}

#[test]
fn a_small_mlp_learns_mnist_in_300_steps() {
    let mut mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k")).unwrap();
    mnist.normalize();
    let untrained = {
        let model: Mlp = Mlp::new(
            &[784, 32, 10],
            Activation::Relu,
            Init::PyTorch,
            &mut Rng::seed(7),
        );
        accuracy(
            &argmax_rows(&model.forward(&mnist.test_images, false, 0)),
            &mnist.test_labels,
        )
    };
    let (model, acc) = train(&mnist, 300, 7);
    assert!(
        untrained < 0.3,
        "an untrained model is near chance: {untrained}"
    );
    assert!(acc > 0.88, "test accuracy after 300 steps: {acc}");
    // The same seed gives the same parameters, bit for bit.
    let (again, _) = train(&mnist, 300, 7);
    assert!(model.layers[0].w == again.layers[0].w && model.layers[1].b == again.layers[1].b);
}
