//! Composition: calls between differentiable functions, methods, `impl` blocks,
//! explicit `wrt`, tuple outputs.
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
fn h(x: f64) -> f64 {
    x.sin() * x
}

#[differentiable]
fn g(x: f64, y: f64) -> f64 {
    h(x * y) + y
}

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    g(x, y) * g(y, x) + h(x)
}

#[test]
fn chains_of_calls() {
    // h'(u) = sin u + u cos u
    let hp = |u: f64| u.sin() + u * u.cos();
    let (_, dh) = h_grad(0.8);
    assert_relative_eq!(dh, hp(0.8));
    let (_, (gx, gy)) = g_grad(0.8, 1.3);
    assert_relative_eq!(gx, hp(0.8 * 1.3) * 1.3, max_relative = 1e-12);
    assert_relative_eq!(gy, hp(0.8 * 1.3) * 0.8 + 1.0, max_relative = 1e-12);
    let p = [0.8, 1.3];
    let (_, (fx, fy)) = f_grad(p[0], p[1]);
    assert_fd(&[fx, fy], |q| f(q[0], q[1]), &p);
}

#[differentiable]
fn polar(r: f64, theta: f64) -> (f64, f64) {
    (r * theta.cos(), r * theta.sin())
}

#[differentiable]
fn radius_of(r: f64, theta: f64) -> f64 {
    let (x, y) = polar(r, theta);
    (x * x + y * y).sqrt()
}

#[test]
fn tuple_outputs_get_a_vjp_and_compose() {
    // |polar(r, θ)| = r: gradient (1, 0)
    let (_, (dr, dt)) = radius_of_grad(2.0, 0.7);
    assert_relative_eq!(dr, 1.0, max_relative = 1e-12);
    assert!(dt.abs() < 1e-12);
    // The pullback of a tuple output takes a tuple cotangent.
    let ((x, y), pullback) = polar_vjp(2.0, 0.7);
    assert_eq!((x, y), polar(2.0, 0.7));
    let (dr, dt) = pullback((1.0, 0.0)); // d x / d(r, θ) = (cos θ, -r sin θ)
    assert_relative_eq!(dr, 0.7f64.cos());
    assert_relative_eq!(dt, -2.0 * 0.7f64.sin());
}

#[differentiable]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..a.len() {
        s += a[i] * b[i];
    }
    s
}

#[differentiable]
fn quadratic_form(x: &[f64]) -> f64 {
    dot(x, x) + x[0] * dot(x, x)
}

#[test]
fn slices_passed_to_other_differentiable_functions() {
    // f = (1 + x0)|x|²: ∂f/∂x_i = 2(1 + x0)x_i + [i = 0]|x|²
    let x = [0.5, -1.0, 2.0];
    let (_, gx) = quadratic_form_grad(&x);
    let n2 = 0.25 + 1.0 + 4.0;
    assert_relative_eq!(gx[0], 2.0 * 1.5 * 0.5 + n2);
    assert_relative_eq!(gx[1], -(2.0 * 1.5));
    assert_relative_eq!(gx[2], 2.0 * 1.5 * 2.0);
}

#[differentiable(wrt(y))]
fn only_y(x: f64, y: f64) -> f64 {
    x * y * y
}

#[differentiable(wrt(x, z))]
fn two_of_three(x: f64, y: f64, z: f64) -> f64 {
    x * y + z.exp()
}

#[test]
fn explicit_wrt() {
    // A single wrt argument: the gradient alone, not a 1-tuple.
    let (_, dy): (f64, f64) = only_y_grad(3.0, 2.0);
    assert_eq!(dy, 12.0);
    let (_, (dx, dz)) = two_of_three_grad(1.0, 5.0, 0.0);
    assert_eq!((dx, dz), (5.0, 1.0));
    // The pullback has `()` for the parameters left out.
    let (_, pullback) = two_of_three_vjp(1.0, 5.0, 0.0);
    let (gx, (), gz) = pullback(2.0);
    assert_eq!((gx, gz), (10.0, 2.0));
}

struct Spring {
    k: f64,
    rest: f64,
}

impl Spring {
    #[differentiable]
    fn energy(&self, x: f64) -> f64 {
        let d = x - self.rest;
        0.5 * self.k * d * d
    }

    #[differentiable]
    fn total(&self, x: f64, y: f64) -> f64 {
        self.energy(x) + self.energy(y) * 2.0
    }
}

#[test]
fn methods_get_method_companions() {
    let s = Spring { k: 3.0, rest: 1.0 };
    // E'(x) = k (x - rest)
    let (e, de) = s.energy_grad(2.5);
    assert_eq!(e, s.energy(2.5));
    assert_eq!(de, 4.5);
    let (_, (dx, dy)) = s.total_grad(2.5, 0.0);
    assert_eq!((dx, dy), (4.5, -6.0));
}

struct Pendulum {
    g: f64,
    length: f64,
}

#[differentiable]
impl Pendulum {
    fn new(length: f64) -> Self {
        Pendulum { g: 9.81, length }
    }

    fn potential(&self, theta: f64) -> f64 {
        self.g * self.length * (1.0 - theta.cos())
    }

    fn kinetic(&self, omega: f64) -> f64 {
        0.5 * (self.length * omega).powi(2)
    }

    fn energy(&self, theta: f64, omega: f64) -> f64 {
        self.potential(theta) + self.kinetic(omega)
    }
}

#[test]
fn an_impl_block_marks_every_method() {
    let p = Pendulum::new(2.0);
    let (_, (dt, dw)) = p.energy_grad(0.3, 1.5);
    // ∂E/∂θ = g L sin θ, ∂E/∂ω = L² ω
    assert_relative_eq!(dt, 9.81 * 2.0 * 0.3f64.sin(), max_relative = 1e-12);
    assert_relative_eq!(dw, 4.0 * 1.5, max_relative = 1e-12);
    assert_relative_eq!(p.potential_grad(0.3).1, dt, max_relative = 1e-12);
}

/// A runtime path of one's own, as adjoint's crates use `crate = "crate"`.
mod my_runtime {
    pub use adjoint::*;
}

#[differentiable(crate = "crate::my_runtime")]
fn through_own_path(x: &[f64]) -> f64 {
    x[0] * x[1]
}

#[differentiable]
fn text_and_chars_are_not_differentiated(x: f64, label: &str, sep: char, flags: &[bool]) -> f64 {
    if label.len() > 2 && sep == ',' && flags[0] {
        x * x
    } else {
        x
    }
}

#[test]
fn crate_path_override_and_default_wrt() {
    let (_, g) = through_own_path_grad(&[2.0, 3.0]);
    assert_eq!(g, vec![3.0, 2.0]);
    // Only `x` is differentiated by default: the gradient is the bare f64.
    let (_, g): (f64, f64) = text_and_chars_are_not_differentiated_grad(1.5, "abc", ',', &[true]);
    assert_eq!(g, 3.0);
}
