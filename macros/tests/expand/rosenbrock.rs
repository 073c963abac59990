// The origin's example: every operation becomes one `let`, and the pullback
// applies the chain rule to them in reverse.
#[differentiable]
fn rosenbrock(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}
