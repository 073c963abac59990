//! Products split over threads give the same values as on one thread:
//! each element is the same sum in the same order, whichever thread makes
//! it. One test in its own binary, since the thread count is global.

use adjoint_runtime::ops::linalg::matmul_vjp;
use adjoint_runtime::{Rng, Tensor, threads};

#[test]
fn split_products_equal_one_threads_bit_for_bit() {
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
