use adjoint::differentiable;

#[differentiable]
fn f(x: f64) -> usize {
    (x * 10.0) as usize
}

fn main() {}
