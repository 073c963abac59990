use adjoint::differentiable;

#[differentiable]
fn report(x: f64) {
    println!("{x}");
}

fn main() {}
