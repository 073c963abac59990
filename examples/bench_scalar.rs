//! The scalar benchmarks of `benches/scalar.rs`, timed interleaved: each
//! round runs every variant once, so that the load of a shared machine falls
//! on all of them alike. Prints one JSON line with the median time of each
//! variant and the ratio adjoint / hand-written.
//!
//! `cargo run --release --example bench_scalar [-- --rounds N]`

mod cli;
#[path = "../benches/scalar_fns.rs"]
mod scalar_fns;

use scalar_fns::*;
use std::hint::black_box;
use std::time::Instant;

type Variant<'a> = (&'static str, Box<dyn Fn() + 'a>);

// Each variant's loop over its 64 points is a function of its own, never
// inlined into the timing closure: otherwise how LLVM compiles the closure
// around it (which moved between builds of the same code) decides the ratio.
#[inline(never)]
fn rosen2_adjoint_all(pts: &[(f64, f64)]) {
    pts.iter().for_each(|&(a, b)| {
        black_box(rosen2_grad(black_box(a), b));
    })
}

#[inline(never)]
fn rosen2_hand_all(pts: &[(f64, f64)]) {
    pts.iter().for_each(|&(a, b)| {
        black_box(rosen2_hand(black_box(a), b));
    })
}

#[inline(never)]
fn physics_adjoint_all(ps: &[[f64; 10]]) {
    ps.iter().for_each(|p| {
        black_box(physics_grad(black_box(*p)));
    })
}

#[inline(never)]
fn physics_hand_all(ps: &[[f64; 10]]) {
    ps.iter().for_each(|p| {
        black_box(physics_hand(black_box(*p)));
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = cli::flag("--rounds", 301);
    check_agreement();
    let pts: Vec<(f64, f64)> = (0..64)
        .map(|i| ((i as f64 * 0.7).sin() * 1.5, (i as f64 * 0.3).cos()))
        .collect();
    let x: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
    let ps: Vec<[f64; 10]> = (0..64)
        .map(|i| PHYSICS_AT.map(|v| v * (1.0 + 0.01 * (i as f64 * 0.9).sin())))
        .collect();
    // Per call: 64 points for the nanosecond-scale functions.
    let variants: Vec<Variant> = vec![
        (
            "rosenbrock_2d_x64/adjoint",
            Box::new(|| rosen2_adjoint_all(black_box(&pts))),
        ),
        (
            "rosenbrock_2d_x64/hand",
            Box::new(|| rosen2_hand_all(black_box(&pts))),
        ),
        (
            "rosenbrock_1000/adjoint",
            Box::new(|| {
                black_box(rosen_n_grad(black_box(&x)));
            }),
        ),
        (
            "rosenbrock_1000/hand",
            Box::new(|| {
                black_box(rosen_n_hand(black_box(&x)));
            }),
        ),
        (
            "physics_49_ops_x64/adjoint",
            Box::new(|| physics_adjoint_all(black_box(&ps))),
        ),
        (
            "physics_49_ops_x64/hand",
            Box::new(|| physics_hand_all(black_box(&ps))),
        ),
    ];
    let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for (k, (_, f)) in variants.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..20 {
                f();
            }
            samples[k].push(t.elapsed().as_nanos() as f64 / 20.0);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let mut fields = vec![format!("\"rounds\":{rounds}")];
    for (k, (name, _)) in variants.iter().enumerate() {
        fields.push(format!("\"{name}_ns\":{:.1}", medians[k]));
    }
    for pair in 0..variants.len() / 2 {
        let name = variants[2 * pair].0.trim_end_matches("/adjoint");
        fields.push(format!(
            "\"{name}_ratio\":{:.3}",
            medians[2 * pair] / medians[2 * pair + 1]
        ));
    }
    println!("{{{}}}", fields.join(","));
}
