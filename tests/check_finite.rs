//! `#[differentiable(check_finite)]` reports the first operation whose value
//! or gradient is NaN or infinite, with its line in this file.

use adjoint::prelude::*;

#[differentiable(check_finite)]
fn log_of_shift(x: f64) -> f64 {
    let y = x - 1.0;
    let z = y.ln(); // -inf at x = 1
    z * 2.0
}

#[differentiable(check_finite)]
fn root(x: f64) -> f64 {
    let r = x.sqrt(); // its gradient 0.5/√x is infinite at 0
    r * 3.0
}

#[differentiable(check_finite)]
fn tensor_log(x: &Tensor<f64>) -> f64 {
    let l = x.ln();
    l.sum().item()
}

#[test]
fn finite_values_pass_the_checks() {
    let (v, g) = log_of_shift_grad(3.0);
    assert!((v - 2.0 * 2f64.ln()).abs() < 1e-12 && (g - 1.0).abs() < 1e-12);
}

#[test]
#[should_panic(
    expected = "check_finite: the value of `y.ln(..)` at tests/check_finite.rs:9 is -inf"
)]
fn a_forward_value_names_the_operation_and_line() {
    let _ = log_of_shift_grad(1.0);
}

#[test]
#[should_panic(expected = "check_finite: the gradient of `x` at tests/check_finite.rs:15 is inf")]
fn a_gradient_names_the_value_and_the_operation_line() {
    let _ = root_grad(0.0);
}

#[test]
#[should_panic(
    expected = "check_finite: the value of `x.ln(..)` at tests/check_finite.rs:21 is -inf at element 1 of a tensor of shape [3]"
)]
fn tensors_report_the_element() {
    let _ = tensor_log_grad(&Tensor::from_vec(vec![1.0, 0.0, 2.0], &[3]));
}
