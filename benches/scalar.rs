//! `f_grad` against hand-derived gradients (criterion). Run with
//! `cargo bench --bench scalar`; the ratio to quote is the median time of the
//! `adjoint` line over the `hand` line of the same group, measured in one run.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "scalar_fns.rs"]
mod scalar_fns;
use scalar_fns::*;

/// Nanosecond-scale functions are timed over 64 points per iteration, so
/// that the timer and the machine's noise weigh less; times are per 64.
fn points2() -> Vec<(f64, f64)> {
    (0..64)
        .map(|i| ((i as f64 * 0.7).sin() * 1.5, (i as f64 * 0.3).cos()))
        .collect()
}

fn benches(c: &mut Criterion) {
    check_agreement();
    let pts = points2();
    let mut group = c.benchmark_group("rosenbrock_2d_x64");
    group.bench_function("adjoint", |b| {
        b.iter(|| {
            for &(x, y) in black_box(&pts) {
                black_box(rosen2_grad(x, y));
            }
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            for &(x, y) in black_box(&pts) {
                black_box(rosen2_hand(x, y));
            }
        })
    });
    group.finish();

    let x: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut group = c.benchmark_group("rosenbrock_1000");
    group.bench_function("adjoint", |b| b.iter(|| rosen_n_grad(black_box(&x))));
    group.bench_function("hand", |b| b.iter(|| rosen_n_hand(black_box(&x))));
    group.finish();

    let ps: Vec<[f64; 10]> = (0..64)
        .map(|i| PHYSICS_AT.map(|v| v * (1.0 + 0.01 * (i as f64 * 0.9).sin())))
        .collect();
    let mut group = c.benchmark_group("physics_49_ops_x64");
    group.bench_function("adjoint", |b| {
        b.iter(|| {
            for p in black_box(&ps) {
                black_box(physics_grad(*p));
            }
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            for p in black_box(&ps) {
                black_box(physics_hand(*p));
            }
        })
    });
    group.finish();
}

criterion_group!(scalar, benches);
criterion_main!(scalar);
