use adjoint::prelude::*;

#[differentiable]
fn f(x: &Tensor<f64>) -> f64 {
    x.erf().sum().item()
}

fn main() {}
