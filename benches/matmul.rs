//! `Tensor::matmul` (and the weight and input gradients of matmul's rule) against
//! matrixmultiply's sgemm called directly on preallocated buffers, for the
//! products of the MLP benchmarks. `Tensor` uses adjoint's unpacked kernel
//! (`ops::panel`) for these layouts, so the ratio is that kernel against the
//! packing GEMM, plus what the tensor layer costs (an output buffer from the
//! pool, shape checks). Run with `cargo bench --bench matmul`; one thread.

use adjoint::ops::linalg::matmul_vjp;
use adjoint::{Rng, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// `C = A·B` through matrixmultiply, `A`'s `(i, p)` at `a[i·sa.0 + p·sa.1]`.
fn sgemm(m: usize, k: usize, n: usize, a: &[f32], sa: (usize, usize), b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: A is an m×k matrix inside `a` for either stride pair used
    // here ((k, 1) or (1, m)), B is k×n and C is m×n, both row-major, so
    // every index the kernel touches is in bounds.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa.0 as isize,
            sa.1 as isize,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn benches(c: &mut Criterion) {
    adjoint::threads::set_count(1);
    let mut group = c.benchmark_group("matmul");
    // Layers' forward products X·W: batch × inputs × outputs.
    for (m, k, n) in [
        (64, 784, 128),
        (64, 784, 10),
        (64, 128, 10),
        (256, 1024, 1024),
    ] {
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
                sgemm(
                    m,
                    k,
                    n,
                    black_box(a.as_slice()),
                    (k, 1),
                    b.as_slice(),
                    &mut out,
                )
            })
        });
    }
    // Weight gradients dW = Xᵀ·dY: inputs × batch × outputs, X stored
    // batch × inputs (row-major), so Xᵀ is read transposed.
    for (m, k, n) in [(784, 64, 128), (784, 64, 10), (1024, 256, 1024)] {
        let mut rng = Rng::seed(2);
        let x: Tensor = Tensor::randn(&[k, m], 0.0, 1.0, &mut rng);
        let w: Tensor = Tensor::zeros(&[m, n]);
        let dy: Tensor = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        let id = format!("T{m}x{k}x{n}");
        group.bench_with_input(BenchmarkId::new("tensor", &id), &(), |bch, _| {
            bch.iter(|| {
                let (_, dw) = matmul_vjp(black_box(&dy), black_box(&x), &w);
                black_box(dw.as_slice()[0])
            })
        });
        let mut out = vec![0.0f32; m * n];
        group.bench_with_input(BenchmarkId::new("sgemm", &id), &(), |bch, _| {
            bch.iter(|| {
                sgemm(
                    m,
                    k,
                    n,
                    black_box(x.as_slice()),
                    (1, m),
                    dy.as_slice(),
                    &mut out,
                )
            })
        });
    }
    // Input gradients dX = dY·Wᵀ: batch × outputs × inputs, W stored
    // inputs × outputs, so Wᵀ is read down its columns (copied transposed,
    // panel by panel, or whole where small).
    for (m, k, n) in [(64, 10, 128), (256, 1024, 1024)] {
        let mut rng = Rng::seed(3);
        let x: Tensor = Tensor::zeros(&[m, n]);
        let w: Tensor = Tensor::randn(&[n, k], 0.0, 1.0, &mut rng);
        let dy: Tensor = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let id = format!("dX{m}x{k}x{n}");
        group.bench_with_input(BenchmarkId::new("tensor", &id), &(), |bch, _| {
            bch.iter(|| {
                let (dx, _) = matmul_vjp(black_box(&dy), &x, black_box(&w));
                black_box(dx.as_slice()[0])
            })
        });
        let mut out = vec![0.0f32; m * n];
        group.bench_with_input(BenchmarkId::new("sgemm", &id), &(), |bch, _| {
            bch.iter(|| {
                // B = Wᵀ: (p, j) at w[j·k + p].
                matrixmultiply_bt(m, k, n, black_box(dy.as_slice()), w.as_slice(), &mut out)
            })
        });
    }
    group.finish();
}

/// `C = A·Bᵀ` through matrixmultiply, `A: m×k` and `B: n×k` row-major.
fn matrixmultiply_bt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: A is m×k and B n×k row-major, C m×n: every index the kernel
    // touches is in bounds.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

criterion_group!(matmul, benches);
criterion_main!(matmul);
