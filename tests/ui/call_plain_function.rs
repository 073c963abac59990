use adjoint::differentiable;

fn helper(x: f64) -> f64 {
    x.sin()
}

#[differentiable]
fn f(x: f64) -> f64 {
    helper(x) * 2.0
}

fn main() {}
