use adjoint::prelude::*;

#[derive(Params, Clone)]
enum Model {
    Small(Tensor),
    Large(Tensor, Tensor),
}

fn main() {}
