//! `Tensor::matmul` against the kernel it calls (matrixmultiply's sgemm)
//! called directly on preallocated buffers: the ratio is what the tensor
//! layer costs (an output allocation, shape checks). Run with
//! `cargo bench --bench matmul`; both run on one thread.

use adjoint::{Rng, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    adjoint::threads::set_count(1);
    // The MLP shapes of the training benchmarks: batch × inputs × outputs.
    let shapes = [(64, 784, 128), (64, 128, 10), (256, 1024, 1024)];
    let mut group = c.benchmark_group("matmul");
    for (m, k, n) in shapes {
        let mut rng = Rng::seed(1);
        let a: Tensor = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let b: Tensor = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        let id = format!("{m}x{k}x{n}");
        group.bench_with_input(BenchmarkId::new("tensor", &id), &(), |bch, _| {
            bch.iter(|| black_box(&a).matmul(black_box(&b)))
        });
        let mut out = vec![0.0f32; m * n];
        group.bench_with_input(BenchmarkId::new("sgemm", &id), &(), |bch, _| {
            bch.iter(|| {
                let (x, y) = (black_box(a.as_slice()), black_box(b.as_slice()));
                // SAFETY: x is m×k, y is k×n and out is m×n, all row-major and
                // contiguous, so every index the kernel touches is in bounds.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        x.as_ptr(),
                        k as isize,
                        1,
                        y.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(matmul, benches);
criterion_main!(matmul);
