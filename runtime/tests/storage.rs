//! Tensor storage: the buffer pool, deferred values, lazy zeros, and the
//! matrix products that the pool's users call.

use adjoint_runtime::ops::linalg::matmul_vjp;
use adjoint_runtime::{Rng, Tensor};
use approx::assert_abs_diff_eq;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `C = A·B` one multiply-add at a time, the reference for the kernels.
fn naive(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    c
}

/// A row-major `rows × cols` matrix stored transposed (column-major).
fn transposed(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

/// `f32` products in the three layouts a matmul and its rule use (`A·B`,
/// `dY·Bᵀ`, `Aᵀ·dY`) against the naive product in `f64`, for shapes around
/// the unpacked kernel's tiles and panels, narrow and wide.
#[test]
fn products_match_the_naive_product_in_every_layout() {
    let mut rng = Rng::seed(7);
    for &(m, k, n) in &[
        (1, 1, 1),
        (3, 5, 2),
        (4, 7, 10),
        (9, 33, 16),
        (13, 20, 65),
        (66, 784, 10),
        (64, 100, 128),
        // dY·Bᵀ with more than 16K elements of B: matrixmultiply's path.
        (20, 200, 100),
        (5, 0, 3),
    ] {
        let a = Tensor::<f32>::randn(&[m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::<f32>::randn(&[k, n], 0.0, 1.0, &mut rng);
        let dy = Tensor::<f32>::randn(&[m, n], 0.0, 1.0, &mut rng);
        let wide = |t: &Tensor<f32>| t.to_vec().iter().map(|&v| v as f64).collect::<Vec<_>>();
        let (a64, b64, dy64) = (wide(&a), wide(&b), wide(&dy));
        let (da, db) = matmul_vjp(&dy, &a, &b);
        let checks = [
            (a.matmul(&b), naive(m, k, n, &a64, &b64)),
            (da, naive(m, n, k, &dy64, &transposed(&b64, k, n))),
            (db, naive(k, m, n, &transposed(&a64, m, k), &dy64)),
        ];
        for (got, want) in checks {
            assert_eq!(got.len(), want.len());
            for (got, want) in got.to_vec().iter().zip(&want) {
                // f32 sums of up to 784 unit-normal products.
                assert_abs_diff_eq!(*got as f64, *want, epsilon = 1e-3);
            }
        }
    }
}

#[test]
fn adding_into_a_zero_takes_the_gradient_and_copies_before_writing() {
    let g = Tensor::<f32>::ones(&[4096]);
    let mut acc = Tensor::zeros(&[4096]);
    assert!(acc.is_known_zero());
    acc += &g;
    assert!(!acc.is_known_zero());
    acc += &g; // writes: must copy the buffer it shares with `g`
    assert_eq!(acc.to_vec(), vec![2.0; 4096]);
    assert_eq!(g.to_vec(), vec![1.0; 4096]);
    // A zero contribution adds nothing, and a broadcast one is summed back.
    acc += &Tensor::zeros(&[4096]);
    let mut bias = Tensor::<f32>::zeros(&[2]);
    bias += &Tensor::ones(&[3, 2]);
    assert_eq!((acc.to_vec()[0], bias.to_vec()), (2.0, vec![3.0, 3.0]));
}

#[test]
fn a_deferred_tensor_runs_once_when_read_and_never_when_dropped() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = |runs: &Arc<AtomicUsize>| {
        let runs = Arc::clone(runs);
        Tensor::<f32>::deferred(&[3], move || {
            runs.fetch_add(1, Ordering::SeqCst);
            vec![1.0, 2.0, 3.0]
        })
    };
    drop(counted(&runs));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let t = counted(&runs);
    let shared = t.clone();
    assert_eq!(t.to_vec(), [1.0, 2.0, 3.0]);
    assert_eq!(shared.as_slice(), [1.0, 2.0, 3.0]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let mut owned = shared;
    owned.as_mut_slice()[0] = 9.0;
    assert_eq!((t.to_vec()[0], owned.to_vec()[0]), (1.0, 9.0));
}

#[test]
fn matmul_gradients_are_deferred_but_exact() {
    let mut rng = Rng::seed(3);
    let (a, b) = (
        Tensor::<f64>::randn(&[5, 40], 0.0, 1.0, &mut rng),
        Tensor::<f64>::randn(&[40, 30], 0.0, 1.0, &mut rng),
    );
    let dy = Tensor::<f64>::randn(&[5, 30], 0.0, 1.0, &mut rng);
    let (da, db) = matmul_vjp(&dy, &a, &b);
    // dA = dY·Bᵀ, dB = Aᵀ·dY, against the naive product of explicit transposes.
    let want_da = naive(5, 30, 40, dy.as_slice(), b.t().as_slice());
    let want_db = naive(40, 5, 30, a.t().as_slice(), dy.as_slice());
    for (g, w) in da.as_slice().iter().zip(&want_da) {
        assert_abs_diff_eq!(*g, *w, epsilon = 1e-12);
    }
    for (g, w) in db.as_slice().iter().zip(&want_db) {
        assert_abs_diff_eq!(*g, *w, epsilon = 1e-12);
    }
}

#[test]
fn pooled_buffers_are_reused_with_fresh_values() {
    // A buffer freed here is taken back by the next tensor of its length,
    // whose every element is written.
    let x = Tensor::<f32>::full(&[2048], 5.0);
    drop(x.map(|v| v * 2.0));
    let before = adjoint_runtime::tensor::storage::idle_bytes::<f32>();
    assert!(before >= 2048 * 4, "the freed buffer went to the pool");
    let y = x.map(|v| v + 1.0);
    assert_eq!(y.to_vec(), vec![6.0; 2048]);
    assert!(adjoint_runtime::tensor::storage::idle_bytes::<f32>() < before);
}

#[test]
fn the_pool_keeps_more_short_buffers_than_long_ones() {
    use adjoint_runtime::tensor::{buffer::Buffer, storage};
    // Each test runs on a thread of its own, with a pool of its own.
    let kept = |len: usize, count: usize| {
        let before = storage::idle_bytes::<f32>();
        for _ in 0..count {
            storage::give(Buffer::<f32>::zeroed(len));
        }
        (storage::idle_bytes::<f32>() - before) / (len * 4)
    };
    // 64 KiB buffers: up to 1 MiB of them, 16; 1 MiB buffers: four.
    assert_eq!(kept(16384, 20), 16);
    assert_eq!(kept(262_144, 6), 4);
    // Shorter than the pooled minimum: left to the allocator.
    assert_eq!(kept(100, 3), 0);
}

#[test]
fn tensors_stay_send_and_sync() {
    // Deferred values live behind a OnceLock and a Mutex: still shareable.
    fn shareable<X: Send + Sync>() {}
    shareable::<Tensor<f32>>();
    shareable::<Tensor<f64>>();
}

#[test]
fn a_product_over_an_empty_inner_dimension_is_zeros_even_in_a_reused_buffer() {
    // The pool hands out stale buffers; a product must still write every
    // element, here with nothing to sum.
    drop(Tensor::<f32>::full(&[64, 64], 7.0).map(|v| v + 1.0));
    let (a, b) = (
        Tensor::<f32>::zeros(&[64, 0]),
        Tensor::<f32>::zeros(&[0, 64]),
    );
    assert_eq!(a.matmul(&b).to_vec(), vec![0.0; 64 * 64]);
    // The narrow kernel (8 columns), on a buffer long enough to be pooled.
    let (tall, narrow) = (
        Tensor::<f32>::zeros(&[256, 0]),
        Tensor::<f32>::zeros(&[0, 8]),
    );
    drop(Tensor::<f32>::full(&[256, 8], 7.0).map(|v| v + 1.0));
    assert_eq!(tall.matmul(&narrow).to_vec(), vec![0.0; 256 * 8]);
}

#[test]
fn a_deferred_tensor_whose_computation_panicked_does_not_read_as_zeros() {
    let t = Tensor::<f32>::deferred(&[2], || -> Vec<f32> { panic!("the rule failed") });
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.to_vec()));
    assert!(first.is_err());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.to_vec()));
    let payload = again.unwrap_err();
    let message = match payload.downcast_ref::<&str>() {
        Some(text) => text.to_string(),
        None => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(message.contains("panicked at an earlier read"), "{message}");
}

/// A weight gradient from matmul's rule, streamed block by block into
/// Adam (`for_each_block`), updates the weight exactly as the same gradient
/// read as a buffer does, visits every element once, and can still be read
/// afterwards with the same values.
#[test]
fn a_streamed_weight_gradient_updates_adam_exactly_as_a_buffer_does() {
    use adjoint_runtime::optim::{Adam, Optimizer};
    let mut rng = Rng::seed(11);
    // Shapes around the kernel's tiles: 300 rows (several blocks of rows,
    // 6-row tiles and a remainder), 208 columns (three 64-wide panels and
    // a narrow one; a multiple of 16, so it is not computed transposed).
    let x = Tensor::<f32>::randn(&[64, 300], 0.0, 1.0, &mut rng);
    let dy = Tensor::<f32>::randn(&[64, 208], 0.0, 1.0, &mut rng);
    let w = Tensor::<f32>::randn(&[300, 208], 0.0, 1.0, &mut rng);

    let (_, streamed) = matmul_vjp(&dy, &x, &w);
    let (mut seen, mut blocks) = (vec![0u32; 300 * 208], 0);
    streamed.for_each_block(|block| {
        blocks += 1;
        for r in 0..block.rows {
            let (start, run) = block.run(r);
            seen[start..start + run.len()]
                .iter_mut()
                .for_each(|s| *s += 1);
        }
    });
    assert!(seen.iter().all(|&s| s == 1), "every element once");
    // Where the unpacked kernel runs, the gradient came in blocks.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        assert!(
            blocks > 1,
            "streamed in blocks of rows, not made as one buffer"
        );
    }

    let (_, buffered) = matmul_vjp(&dy, &x, &w);
    let buffered = Tensor::from_vec(buffered.to_vec(), &[300, 208]);
    let (mut w_streamed, mut w_buffered) = (w.clone(), w.clone());
    let (mut adam_streamed, mut adam_buffered) = (Adam::new(1e-2), Adam::new(1e-2));
    for _ in 0..3 {
        adam_streamed.step(&mut w_streamed, &streamed);
        adam_buffered.step(&mut w_buffered, &buffered);
    }
    assert_ne!(w_streamed.to_vec(), w.to_vec());
    assert_eq!(w_streamed.to_vec(), w_buffered.to_vec());
    assert_eq!(streamed.to_vec(), buffered.to_vec());
}
