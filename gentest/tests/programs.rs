//! Every generated program's `_grad` against central finite differences in
//! f64, at three points each. See the crate docs for the seed and count.

// The programs are machine-written: style lints do not apply to them.
#![allow(
    clippy::all,
    unused_parens,
    unused_mut,
    unused_variables,
    unused_assignments
)]

use adjoint::gradcheck::gradcheck;
use adjoint::prelude::*;
use adjoint_gentest::{Verdict, verdict};

type Program = (
    &'static str,
    &'static str,
    fn(&[f64]) -> f64,
    fn(&[f64]) -> Vec<f64>,
);
type TensorProgram = (
    &'static str,
    &'static str,
    [Vec<usize>; 3],
    fn(&[Tensor<f64>]) -> f64,
    fn(&[Tensor<f64>]) -> Vec<Tensor<f64>>,
);

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

#[test]
fn generated_gradients_agree_with_finite_differences() {
    let progs = programs();
    let (mut agree, mut unstable, mut disagree) = (0, 0, Vec::new());
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 3.0 - 1.5
    };
    for (name, src, f, g) in &progs {
        for _ in 0..3 {
            let x: Vec<f64> = (0..7).map(|_| uniform()).collect();
            let value = f(&x);
            let grad = g(&x);
            if !value.is_finite() || grad.iter().any(|v| !v.is_finite()) {
                disagree.push(format!(
                    "{name} at {x:?}: value {value}, gradient {grad:?}\n{src}"
                ));
                continue;
            }
            match verdict(&|v: &[f64]| f(v), &x, &grad) {
                Verdict::Agrees => agree += 1,
                Verdict::Unstable => unstable += 1,
                Verdict::Disagrees(k, a, b) => disagree.push(format!(
                    "{name} at {x:?}: component {k}: gradient {a}, finite differences {b}\n{src}"
                )),
            }
        }
    }
    println!(
        "{} programs, {} checks: {agree} agree, {unstable} too curved to check, {} disagree",
        progs.len(),
        3 * progs.len(),
        disagree.len()
    );
    assert!(
        disagree.is_empty(),
        "{} disagreements:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
}

#[test]
fn generated_tensor_gradients_agree_with_gradcheck() {
    let progs = tensor_programs();
    let mut rng = Rng::seed(99);
    let (mut agree, mut disagree) = (0, Vec::new());
    for (name, src, shapes, f, g) in &progs {
        let inputs: Vec<Tensor<f64>> = shapes
            .iter()
            .map(|s| Tensor::randn(s, 0.0, 0.8, &mut rng))
            .chain(std::iter::once(Tensor::scalar(0.7)))
            .collect();
        let grads = g(&inputs);
        let check = gradcheck(|t| f(t), &inputs, &grads, 1e-6);
        if check.passed(1e-6) {
            agree += 1;
        } else {
            disagree.push(format!("{name} with shapes {shapes:?}: {check:?}\n{src}"));
        }
    }
    println!(
        "{} tensor programs: {agree} agree with gradcheck, {} disagree",
        progs.len(),
        disagree.len()
    );
    assert!(
        disagree.is_empty(),
        "{} disagreements:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
}
