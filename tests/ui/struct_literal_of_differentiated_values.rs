use adjoint::differentiable;

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let t = std::ops::Range { start: x, end: y };
    t.start * 2.0
}

fn main() {}
