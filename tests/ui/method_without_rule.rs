use adjoint::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    x.to_radians() + 1.0
}

fn main() {}
