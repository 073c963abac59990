// A branch on a value, a call of another differentiable function, and a
// loop whose carried value is read by a nonlinear rule (so it is saved).
#[differentiable]
fn soft(x: f64) -> f64 {
    if x > 0.0 { x.ln_1p() } else { x.exp() - 1.0 }
}

#[differentiable(wrt(x))]
fn repeat(x: f64, n: usize) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y = soft(y) * y;
    }
    y
}
