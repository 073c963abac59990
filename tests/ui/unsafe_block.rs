use adjoint::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let y = unsafe { std::mem::transmute::<u64, f64>(x.to_bits()) };
    y * x
}

fn main() {}
