//! Every arithmetic operator and float method, against finite differences and,
//! where short, the hand-derived formula.
// These functions are written the way users write them (`x = x * y`,
// index loops, `&Vec`), which is what is tested; some exist only for the
// companions `#[differentiable]` generates from them.
#![allow(
    dead_code,
    clippy::assign_op_pattern,
    clippy::let_and_return,
    clippy::ptr_arg,
    clippy::needless_range_loop
)]

mod common;
use adjoint::differentiable;
use approx::assert_relative_eq;
use common::assert_fd;

#[differentiable]
fn arith(x: f64, y: f64) -> f64 {
    let a = x + y * 2.0;
    let b = x - y / 3.0;
    let c = -a * b / (1.0 + y * y);
    c + std::f64::consts::PI * x - 4.5
}

#[test]
fn arithmetic_operators_and_constants() {
    for p in [[0.3, -1.2], [2.0, 0.5], [-1.5, 3.0]] {
        let (v, (dx, dy)) = arith_grad(p[0], p[1]);
        assert_eq!(v, arith(p[0], p[1]));
        assert_fd(&[dx, dy], |q| arith(q[0], q[1]), &p);
    }
}

#[differentiable]
fn compound(x: f64, y: f64) -> f64 {
    let mut s = x;
    s += y;
    s *= x;
    s -= y * y;
    s /= 1.5 + x * x;
    s
}

#[test]
fn compound_assignment() {
    let p = [0.7, -0.4];
    let (_, (dx, dy)) = compound_grad(p[0], p[1]);
    assert_fd(&[dx, dy], |q| compound(q[0], q[1]), &p);
}

#[differentiable]
fn rem(x: f64, y: f64) -> f64 {
    x % y
}

#[test]
fn remainder() {
    // x % y = x - trunc(x/y)·y: d/dx = 1, d/dy = -trunc(x/y)
    let (_, (dx, dy)) = rem_grad(7.5, 2.0);
    assert_eq!((dx, dy), (1.0, -3.0));
    assert_fd(&[dx, dy], |q| rem(q[0], q[1]), &[7.5, 2.0]);
}

/// One function per unary method, checked at points inside its domain.
macro_rules! unary_methods {
    ($($m:ident at $($p:expr),+;)*) => {$(
        mod $m {
            use super::*;
            #[differentiable]
            fn f(x: f64) -> f64 {
                x.$m() * 1.5
            }
            #[test]
            fn matches_finite_differences() {
                for p in [$($p),+] {
                    let (v, g) = f_grad(p);
                    assert_eq!(v, f(p));
                    assert_fd(&[g], |q| f(q[0]), &[p]);
                }
            }
        }
    )*};
}

unary_methods! {
    exp at -1.0, 0.5, 2.0;
    exp2 at -1.0, 0.5, 2.0;
    exp_m1 at -1.0, 1e-3, 2.0;
    ln at 0.3, 1.0, 5.0;
    ln_1p at -0.5, 1e-3, 3.0;
    log2 at 0.3, 4.0;
    log10 at 0.3, 40.0;
    sqrt at 0.2, 9.0;
    cbrt at -8.0, 0.5, 27.0;
    recip at -2.0, 0.5;
    sin at -1.0, 0.3, 2.5;
    cos at -1.0, 0.3, 2.5;
    tan at -1.0, 0.3, 1.2;
    asin at -0.7, 0.2, 0.9;
    acos at -0.7, 0.2, 0.9;
    atan at -3.0, 0.4, 2.0;
    sinh at -1.0, 0.5, 2.0;
    cosh at -1.0, 0.5, 2.0;
    tanh at -1.0, 0.5, 2.0;
    asinh at -2.0, 0.5, 3.0;
    acosh at 1.5, 3.0;
    atanh at -0.6, 0.1, 0.8;
    abs at -2.0, 0.7;
    fract at 1.25, -2.6;
}

#[differentiable]
fn binary_methods(x: f64, y: f64) -> f64 {
    x.powf(y) + x.atan2(y) + x.hypot(y) * 0.5 + x.log(y) + y.powi(3)
}

#[test]
fn two_argument_methods_in_both_arguments() {
    for p in [[1.3, 2.2], [0.6, 1.7], [2.5, 0.4]] {
        let (_, (dx, dy)) = binary_methods_grad(p[0], p[1]);
        assert_fd(&[dx, dy], |q| binary_methods(q[0], q[1]), &p);
    }
}

#[differentiable]
fn minmax(x: f64, y: f64) -> f64 {
    x.max(y) * 2.0 + x.min(y) * 3.0 + x.mul_add(y, x * x)
}

#[test]
fn max_min_mul_add_in_both_arguments() {
    for p in [[1.3, 0.2], [-0.6, 1.7]] {
        let (_, (dx, dy)) = minmax_grad(p[0], p[1]);
        assert_fd(&[dx, dy], |q| minmax(q[0], q[1]), &p);
    }
}

#[differentiable]
fn clamped(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi) * 3.0
}

#[test]
fn clamp_in_all_three_arguments() {
    for p in [[0.5, 0.0, 1.0], [-0.5, 0.0, 1.0], [1.5, 0.0, 1.0]] {
        let (_, (a, b, c)) = clamped_grad(p[0], p[1], p[2]);
        assert_fd(&[a, b, c], |q| clamped(q[0], q[1], q[2]), &p);
    }
}

#[differentiable]
fn ties(x: f64, y: f64) -> f64 {
    x.max(y) + 10.0 * x.abs() + 100.0 * x.clamp(0.0, y)
}

#[test]
fn documented_choices_at_ties() {
    // At x == y == 0: max splits its gradient (0.5 each, as jnp.maximum);
    // abs'(0) = 0 (as JAX and PyTorch); clamp at a bound passes the gradient
    // to x (as torch.clamp).
    let (_, (dx, dy)) = ties_grad(0.0, 0.0);
    assert_eq!(dx, 0.5 + 0.0 + 100.0);
    assert_eq!(dy, 0.5);
}

#[differentiable]
fn flat(x: f64) -> f64 {
    x.floor() + x.signum() + x.round() * x
}

#[test]
fn piecewise_constant_methods_have_zero_derivative() {
    // d/dx (floor x + signum x + round(x)·x) = round(x)
    let (_, g) = flat_grad(2.3);
    assert_eq!(g, 2.0);
}

#[differentiable]
fn ufcs(x: f64) -> f64 {
    f64::sqrt(x) + f64::max(x, 1.0)
}

#[test]
fn method_called_as_a_path() {
    // d/dx (√x + max(x, 1)) = 1/(2√x) + 1 for x > 1
    let (_, g) = ufcs_grad(4.0);
    assert_relative_eq!(g, 0.25 + 1.0);
}

#[differentiable]
fn casts(x: f64, n: usize) -> f64 {
    let k = n as f64;
    let half = (n / 2) as f64;
    x * k + half * x * x
}

#[test]
fn integer_casts_are_constants() {
    // n = 5: d/dx (5x + 2x²) = 5 + 4x
    let (v, g) = casts_grad(1.5, 5);
    assert_eq!(v, 5.0 * 1.5 + 2.0 * 1.5 * 1.5);
    assert_eq!(g, 5.0 + 4.0 * 1.5);
}

#[differentiable]
fn single(x: f32, y: f32) -> f32 {
    (x * y).sin() + x.exp() / y
}

#[test]
fn f32_functions() {
    let (v, (dx, dy)) = single_grad(0.5, 1.5);
    assert_eq!(v, single(0.5, 1.5));
    // d/dx = y cos(xy) + e^x / y, d/dy = x cos(xy) - e^x / y²
    assert_relative_eq!(
        dx,
        1.5 * (0.75f32).cos() + 0.5f32.exp() / 1.5,
        max_relative = 1e-6
    );
    assert_relative_eq!(
        dy,
        0.5 * (0.75f32).cos() - 0.5f32.exp() / 2.25,
        max_relative = 1e-6
    );
}

#[differentiable]
fn mixed_precision(x: f64) -> f64 {
    let y = x as f32;
    let z = (y * y) as f64;
    z + x
}

#[test]
fn casts_between_float_types_carry_the_gradient() {
    // d/dx (x² + x) = 2x + 1, computed partly in f32
    let (_, g) = mixed_precision_grad(0.75);
    assert_relative_eq!(g, 2.5, max_relative = 1e-6);
}
