use adjoint::differentiable;

#[differentiable]
fn f(x: f64, k: Option<f64>) -> f64 {
    if let Some(v) = k { x * v } else { x }
}

fn main() {}
