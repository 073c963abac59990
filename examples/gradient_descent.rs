//! Plain gradient descent on the Rosenbrock function, with the gradient that
//! `#[differentiable]` writes at compile time.
//!
//! `cargo run --release --example gradient_descent [-- --steps N --lr LR]`

mod cli;

use adjoint::differentiable;

/// f(x, y) = (1 - x)² + 100 (y - x²)², minimum 0 at (1, 1).
#[differentiable]
fn rosenbrock(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

fn main() {
    let steps: usize = cli::flag("--steps", 20_000);
    let lr: f64 = cli::flag("--lr", 1e-3);
    let (mut x, mut y) = (-1.5, 2.0);
    println!("gradient descent on Rosenbrock from ({x}, {y}), lr {lr}, {steps} steps");
    let start = std::time::Instant::now();
    for step in 0..=steps {
        let (f, (dx, dy)) = rosenbrock_grad(x, y);
        if step % (steps / 10).max(1) == 0 {
            println!(
                "step {step:>6}: f = {f:.3e}  x = {x:.6}  y = {y:.6}  |grad| = {:.3e}",
                dx.hypot(dy)
            );
        }
        if step < steps {
            // w ← w − α ∂L/∂w
            x -= lr * dx;
            y -= lr * dy;
        }
    }
    println!(
        "reached ({x:.6}, {y:.6}), f = {:.3e}, distance to the minimum (1, 1) = {:.3e}, in {:.1} ms",
        rosenbrock(x, y),
        (x - 1.0).hypot(y - 1.0),
        start.elapsed().as_secs_f64() * 1e3
    );
}
