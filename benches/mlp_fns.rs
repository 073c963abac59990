//! The MLP training step of the speed issue, shared by the criterion bench
//! (`benches/mlp_step.rs`) and the JSON example (`examples/bench_mlp.rs`):
//! the same math as `../shared/peers/mlp_step.py` — He-normal weights, zero
//! biases, one fixed random batch, mean softmax cross-entropy, Adam with
//! lr 1e-3, betas (0.9, 0.999), eps 1e-8.

use adjoint::nn::{Activation, Init, Mlp};
use adjoint::optim::{Adam, Optimizer};
use adjoint::prelude::*;

#[differentiable(wrt(model))]
pub fn loss(model: &Mlp, x: &Tensor, labels: &[usize]) -> f32 {
    cross_entropy(&model.forward(x, false, 0), labels)
}

/// A model, its optimizer and one batch.
pub struct Problem {
    pub model: Mlp,
    pub opt: Adam,
    pub x: Tensor,
    pub labels: Vec<usize>,
}

impl Problem {
    /// Layers of `sizes` (784,128,10: two layers) and a batch of `batch`.
    pub fn new(sizes: &[usize], batch: usize) -> Problem {
        let mut rng = Rng::seed(0);
        let model = Mlp::new(sizes, Activation::Relu, Init::HeNormal, &mut rng);
        let x = Tensor::randn(&[batch, sizes[0]], 0.0, 1.0, &mut rng);
        let classes = *sizes.last().expect("at least two sizes");
        let labels = (0..batch).map(|_| rng.below(classes)).collect();
        Problem {
            model,
            opt: Adam::new(1e-3),
            x,
            labels,
        }
    }

    /// One training step; returns the loss before the update.
    pub fn step(&mut self) -> f32 {
        let (value, grads) = loss_grad(&self.model, &self.x, &self.labels);
        self.opt.step(&mut self.model, &grads);
        value
    }
}
