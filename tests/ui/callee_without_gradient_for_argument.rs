use adjoint::differentiable;

#[differentiable(wrt(x))]
fn scale(x: f64, k: f64) -> f64 {
    x * k
}

#[differentiable]
fn f(x: f64, k: f64) -> f64 {
    scale(x, k)
}

fn main() {}
