//! Products split over threads give the same values as on one thread:
//! each element is the same sum in the same order, whichever thread makes
//! it. One test in its own binary, since the thread count is global.

use adjoint_runtime::ops::linalg::matmul_vjp;
use adjoint_runtime::optim::{Adam, Optimizer};
use adjoint_runtime::{Rng, Tensor, threads};
use std::sync::Mutex;

/// The thread count is global: the tests here take turns.
static TURN: Mutex<()> = Mutex::new(());

#[test]
fn split_products_equal_one_threads_bit_for_bit() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::seed(3);
    // Weights 1024 wide (rows 4 KiB apart: the threads share out B's
    // panels) and 1000 wide (in place: they share out C's rows).
    for n in [1024, 1000] {
        let x: Tensor = Tensor::randn(&[96, 520], 0.0, 1.0, &mut rng);
        let w: Tensor = Tensor::randn(&[520, n], 0.0, 1.0, &mut rng);
        let dy: Tensor = Tensor::randn(&[96, n], 0.0, 1.0, &mut rng);
        let run = |count: usize| {
            threads::set_count(count);
            let y = x.matmul(&w);
            let (dx, dw) = matmul_vjp(&dy, &x, &w);
            (y.to_vec(), dx.to_vec(), dw.to_vec())
        };
        let one = run(1);
        for count in [2, 3] {
            assert!(run(count) == one, "{count} threads, n = {n}");
        }
    }
    threads::set_count(1);
}

/// A large weight gradient made by the threads together, each applying
/// Adam to its own blocks (`for_each_block_shared`), visits every element
/// once and updates the weight exactly as one thread's streamed blocks do.
#[test]
fn adam_on_blocks_made_by_several_threads_equals_one_thread() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::seed(12);
    // 784 × 1024 weights, rows 4 KiB apart: above the size at which Adam
    // and the product use the threads.
    let x = Tensor::<f32>::randn(&[48, 784], 0.0, 1.0, &mut rng);
    let dy = Tensor::<f32>::randn(&[48, 1024], 0.0, 1.0, &mut rng);
    let w = Tensor::<f32>::randn(&[784, 1024], 0.0, 1.0, &mut rng);
    let (_, grad) = matmul_vjp(&dy, &x, &w);
    let seen: Vec<std::sync::atomic::AtomicU8> = (0..784 * 1024).map(|_| 0.into()).collect();
    grad.for_each_block_shared(3, |block| {
        for r in 0..block.rows {
            let (start, run) = block.run(r);
            assert_eq!(run.len(), block.cols);
            for s in &seen[start..start + run.len()] {
                s.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    assert!(
        seen.iter()
            .all(|s| s.load(std::sync::atomic::Ordering::Relaxed) == 1)
    );

    let run = |count: usize| {
        threads::set_count(count);
        let (mut w, mut adam) = (w.clone(), Adam::new(1e-2));
        for _ in 0..2 {
            let (_, grad) = matmul_vjp(&dy, &x, &w);
            adam.step(&mut w, &grad);
        }
        w.to_vec()
    };
    let one = run(1);
    assert_ne!(one, w.to_vec());
    assert!(run(2) == one, "2 threads");
    threads::set_count(1);
}

/// The pool's workers: a part's panic reaches the caller after every part
/// has stopped, and the pool works afterwards; a call from inside a part,
/// and calls from two threads at once, finish with every part run once.
#[test]
fn parts_run_once_panics_reach_the_caller_and_nested_calls_finish() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    threads::set_count(2);
    let ran = AtomicUsize::new(0);
    let caught = std::panic::catch_unwind(|| {
        threads::for_each_part(0..6, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            assert!(i != 3, "part 3 fails");
        })
    });
    let message = caught.expect_err("the panic reaches the caller");
    let text = message
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| message.downcast_ref::<String>().map(String::as_str));
    assert_eq!(text, Some("part 3 fails"));
    assert_eq!(ran.load(Ordering::Relaxed), 6, "every part ran");

    let sum = AtomicUsize::new(0);
    threads::for_each_part(0..4, |i| {
        threads::for_each_part(0..3, |j| {
            sum.fetch_add(10 * i + j, Ordering::Relaxed);
        })
    });
    assert_eq!(sum.load(Ordering::Relaxed), 3 * (10 * 6) + 4 * 3);

    let sums: Vec<usize> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let sum = AtomicUsize::new(0);
                    for _ in 0..50 {
                        threads::for_each_part(1..=8, |i| {
                            sum.fetch_add(i, Ordering::Relaxed);
                        });
                    }
                    sum.into_inner()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(sums, [50 * 36, 50 * 36]);
    threads::set_count(1);
}
