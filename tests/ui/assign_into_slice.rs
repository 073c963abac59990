use adjoint::differentiable;

#[differentiable]
fn f(x: &[f64], n: usize) -> f64 {
    let mut buf = vec![0.0; n];
    for i in 0..n {
        buf[i] = x[i] * 2.0;
    }
    buf[0]
}

fn main() {}
