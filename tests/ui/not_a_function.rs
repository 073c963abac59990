use adjoint::differentiable;

#[differentiable]
struct Model {
    w: f64,
}

fn main() {}
