use adjoint::differentiable;

#[differentiable]
fn f(x: f64, _out: &mut f64) -> f64 {
    x * 2.0
}

fn main() {}
