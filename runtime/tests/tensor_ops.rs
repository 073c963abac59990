//! Every tensor operation's rule against finite differences in f64
//! (`gradcheck`), on shapes that exercise broadcasting. Each check sums the
//! output weighted by a random tensor `w`, so the incoming gradient `dy = w`
//! differs from element to element.

// `&[x.clone()]` reads better than `slice::from_ref`, and a tensor clone only
// bumps a reference count.
#![allow(clippy::cloned_ref_to_slice_refs)]

use adjoint_runtime::gradcheck::gradcheck;
use adjoint_runtime::ops::{arith, linalg, reduce, unary};
use adjoint_runtime::{Rng, Tensor};

type T = Tensor<f64>;

fn randn(shape: &[usize], seed: u64) -> T {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::seed(seed))
}

/// Σ y·w.
fn weighted(y: &T, w: &T) -> f64 {
    y.as_slice()
        .iter()
        .zip(w.as_slice())
        .map(|(a, b)| a * b)
        .sum()
}

#[track_caller]
fn assert_close(f: impl Fn(&[T]) -> f64, inputs: &[T], grads: &[T]) {
    let check = gradcheck(f, inputs, grads, 1e-6);
    assert!(check.passed(1e-6), "{check:?}");
}

#[track_caller]
fn check_unary(x: T, fwd: impl Fn(&T) -> T, vjp: impl Fn(&T, &T, &T) -> T) {
    let y = fwd(&x);
    let w = randn(y.shape(), 99);
    let dx = vjp(&w, &x, &y);
    assert_close(|xs| weighted(&fwd(&xs[0]), &w), &[x], &[dx]);
}

#[test]
fn elementwise_functions() {
    let x = randn(&[3, 4], 1);
    let pos = x.map(|v| v.abs() + 0.1);
    check_unary(x.clone(), T::exp, unary::exp_vjp);
    check_unary(pos.clone(), T::ln, unary::ln_vjp);
    check_unary(pos.clone(), T::sqrt, unary::sqrt_vjp);
    check_unary(
        x.map(|v| if v.abs() < 0.05 { 0.5 } else { v }),
        T::abs,
        unary::abs_vjp,
    );
    check_unary(x.clone(), T::sigmoid, unary::sigmoid_vjp);
    check_unary(
        x.map(|v| if v.abs() < 0.05 { 0.5 } else { v }),
        T::relu,
        unary::relu_vjp,
    );
    check_unary(x.clone(), T::tanh, unary::tanh_vjp);
    check_unary(x.clone(), T::gelu, unary::gelu_vjp);
    check_unary(x.clone() * 3.0, T::softplus, unary::softplus_vjp);
    let w = randn(&[3, 4], 5);
    let y = x.leaky_relu(0.1);
    let dx = unary::leaky_relu_vjp(&w, &x, 0.1);
    assert_close(
        |xs| weighted(&xs[0].leaky_relu(0.1), &w),
        &[x.clone()],
        &[dx],
    );
    let _ = y;
    let dx = unary::powi_vjp(&w, &x, 3);
    assert_close(|xs| weighted(&xs[0].powi(3), &w), &[x.clone()], &[dx]);
    let dx = unary::powf_vjp(&w, &pos, 1.7);
    assert_close(|xs| weighted(&xs[0].powf(1.7), &w), &[pos], &[dx]);
}

#[test]
fn activations_are_stable_at_large_inputs() {
    let x: T = Tensor::from_vec(vec![-1000.0, 1000.0], &[2]);
    assert_eq!(x.sigmoid().to_vec(), [0.0, 1.0]);
    assert_eq!(x.softplus().to_vec(), [0.0, 1000.0]);
}

/// The four arithmetic operators on every pair of broadcast shapes below.
#[test]
fn arithmetic_with_broadcasting() {
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3], &[3]),
        (&[3], &[2, 3]),
        (&[2, 1, 3], &[4, 1]),
        (&[2, 3], &[]),
        (&[4, 1], &[1, 5]),
    ];
    for (k, (sa, sb)) in pairs.into_iter().enumerate() {
        let a = randn(sa, 10 + k as u64);
        let b = randn(sb, 20 + k as u64).map(|v| if v.abs() < 0.3 { 1.0 } else { v });
        let out_shape = (&a + &b).shape().to_vec();
        let w = randn(&out_shape, 30 + k as u64);
        let (da, db) = arith::add_vjp(&w, a.shape(), b.shape());
        assert_close(
            |t| weighted(&(&t[0] + &t[1]), &w),
            &[a.clone(), b.clone()],
            &[da, db],
        );
        let (da, db) = arith::sub_vjp(&w, a.shape(), b.shape());
        assert_close(
            |t| weighted(&(&t[0] - &t[1]), &w),
            &[a.clone(), b.clone()],
            &[da, db],
        );
        let (da, db) = arith::mul_vjp(&w, &a, &b);
        assert_close(
            |t| weighted(&(&t[0] * &t[1]), &w),
            &[a.clone(), b.clone()],
            &[da, db],
        );
        let y = &a / &b;
        let (da, db) = arith::div_vjp(&w, &a, &b, &y);
        assert_close(|t| weighted(&(&t[0] / &t[1]), &w), &[a, b], &[da, db]);
    }
}

#[test]
fn scalars_on_either_side() {
    let x: T = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    assert_eq!((2.0 * &x).to_vec(), [2.0, 4.0]);
    assert_eq!((&x - 1.0).to_vec(), [0.0, 1.0]);
    assert_eq!((1.0 / &x).to_vec(), [1.0, 0.5]);
    assert_eq!((-&x).to_vec(), [-1.0, -2.0]);
}

#[test]
fn reductions() {
    let x = randn(&[3, 4, 2], 7);
    let w0 = randn(&[], 8);
    assert_close(
        |t| weighted(&t[0].sum(), &w0),
        &[x.clone()],
        &[reduce::sum_vjp(&w0, x.shape())],
    );
    assert_close(
        |t| weighted(&t[0].mean(), &w0),
        &[x.clone()],
        &[reduce::mean_vjp(&w0, x.shape())],
    );
    for axis in 0..3 {
        for keepdim in [false, true] {
            let w = randn(x.sum_axis(axis, keepdim).shape(), 9 + axis as u64);
            let g = reduce::sum_axis_vjp(&w, x.shape(), axis);
            assert_close(
                |t| weighted(&t[0].sum_axis(axis, keepdim), &w),
                &[x.clone()],
                &[g],
            );
            let g = reduce::mean_axis_vjp(&w, x.shape(), axis);
            assert_close(
                |t| weighted(&t[0].mean_axis(axis, keepdim), &w),
                &[x.clone()],
                &[g],
            );
            let g = reduce::max_axis_vjp(&w, &x, axis);
            assert_close(
                |t| weighted(&t[0].max_axis(axis, keepdim), &w),
                &[x.clone()],
                &[g],
            );
            let g = reduce::logsumexp_vjp(&w, &x, axis);
            assert_close(
                |t| weighted(&t[0].logsumexp(axis, keepdim), &w),
                &[x.clone()],
                &[g],
            );
        }
        let w = randn(x.shape(), 12 + axis as u64);
        let y = x.softmax(axis);
        assert_close(
            |t| weighted(&t[0].softmax(axis), &w),
            &[x.clone()],
            &[reduce::softmax_vjp(&w, &y, axis)],
        );
        let y = x.log_softmax(axis);
        assert_close(
            |t| weighted(&t[0].log_softmax(axis), &w),
            &[x.clone()],
            &[reduce::log_softmax_vjp(&w, &y, axis)],
        );
    }
}

#[test]
fn softmax_rows_sum_to_one_even_for_large_logits() {
    let x: T = Tensor::from_vec(vec![1000.0, 1001.0, -1000.0, 0.0], &[2, 2]);
    let p = x.softmax(1);
    assert!(p.as_slice().iter().all(|v| v.is_finite()));
    assert!((p.sum_axis(1, false).as_slice()[0] - 1.0).abs() < 1e-12);
}

#[test]
fn matrix_products() {
    let cases: [(&[usize], &[usize]); 4] = [
        (&[3, 4], &[4, 5]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[2, 3, 4], &[4, 5]),
        (&[3, 4], &[2, 4, 5]),
    ];
    for (k, (sa, sb)) in cases.into_iter().enumerate() {
        let a = randn(sa, 40 + k as u64);
        let b = randn(sb, 50 + k as u64);
        let w = randn(a.matmul(&b).shape(), 60 + k as u64);
        let (da, db) = linalg::matmul_vjp(&w, &a, &b);
        assert_close(|t| weighted(&t[0].matmul(&t[1]), &w), &[a, b], &[da, db]);
    }
    // Against a triple loop.
    let a = randn(&[5, 7], 1);
    let b = randn(&[7, 3], 2);
    let c = a.matmul(&b);
    for i in 0..5 {
        for j in 0..3 {
            let want: f64 = (0..7)
                .map(|p| a.as_slice()[i * 7 + p] * b.as_slice()[p * 3 + j])
                .sum();
            assert!((c.as_slice()[i * 3 + j] - want).abs() < 1e-12);
        }
    }
}

#[test]
fn transposes() {
    let x = randn(&[2, 3, 4], 3);
    assert_eq!(x.transpose(0, 2).shape(), &[4, 3, 2]);
    assert_eq!(x.transpose(0, 2).transpose(0, 2), x);
    let w = randn(&[4, 3, 2], 4);
    assert_close(
        |t| weighted(&t[0].transpose(0, 2), &w),
        &[x.clone()],
        &[linalg::transpose_vjp(&w, 0, 2)],
    );
    let m: T = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(m.t().to_vec(), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast together")]
fn broadcast_errors_name_the_op_and_both_shapes() {
    let _ = &Tensor::<f32>::zeros(&[2, 3]) + &Tensor::<f32>::zeros(&[4]);
}

#[test]
#[should_panic(expected = "matmul: shapes [2, 3] and [2, 3] do not multiply")]
fn matmul_errors_name_both_shapes() {
    let a = Tensor::<f32>::zeros(&[2, 3]);
    let _ = a.matmul(&a);
}

#[test]
#[should_panic(expected = "Tensor::from_vec: 5 values do not fill shape [2, 3] (6 values)")]
fn construction_errors_say_what_does_not_fit() {
    let _ = Tensor::<f32>::from_vec(vec![0.0; 5], &[2, 3]);
}

#[test]
fn display_is_readable() {
    let t = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[10]);
    assert_eq!(
        t.to_string(),
        "[0.0000, 1.0000, 2.0000, ..., 7.0000, 8.0000, 9.0000] shape=[10]"
    );
}

#[test]
fn gather_concat_dropout() {
    use adjoint_runtime::ops::index;
    let table = randn(&[5, 3], 70);
    let idx = [4, 1, 4, 0];
    let w = randn(&[4, 3], 71);
    let g = index::gather_rows_vjp(&w, table.shape(), &idx);
    assert_close(
        |t| weighted(&t[0].gather_rows(&idx), &w),
        &[table.clone()],
        &[g],
    );

    for axis in 0..2 {
        let a = randn(&[2, 3], 72);
        let b = if axis == 0 {
            randn(&[4, 3], 73)
        } else {
            randn(&[2, 5], 73)
        };
        let w = randn(a.concat(&b, axis).shape(), 74);
        let (ga, gb) = index::concat_vjp(&w, a.shape(), b.shape(), axis);
        assert_close(
            |t| weighted(&t[0].concat(&t[1], axis), &w),
            &[a, b],
            &[ga, gb],
        );
    }

    let x = randn(&[6, 4], 75);
    let w = randn(&[6, 4], 76);
    let g = index::dropout_vjp(&w, 0.3, true, 99);
    assert_close(
        |t| weighted(&t[0].dropout(0.3, true, 99), &w),
        &[x.clone()],
        &[g],
    );
    assert_eq!(index::dropout_vjp(&w, 0.3, false, 99), w);
}

#[test]
#[should_panic(expected = "gather_rows: index 7 out of range for a table of shape [5, 3]")]
fn gather_errors_name_the_index_and_shape() {
    let _ = Tensor::<f32>::zeros(&[5, 3]).gather_rows(&[7]);
}

#[test]
#[should_panic(expected = "concat: shapes [2, 3] and [3, 3] do not join along axis 1")]
fn concat_errors_name_both_shapes() {
    let _ = Tensor::<f32>::zeros(&[2, 3]).concat(&Tensor::zeros(&[3, 3]), 1);
}

#[test]
fn ndarray_round_trips_in_any_layout() {
    let a = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64);
    let t = Tensor::from(a.clone());
    assert_eq!(t.to_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    // A transposed (column-major) array is read in logical order.
    let t2 = Tensor::from(a.t().to_owned());
    assert_eq!(t2.shape(), &[3, 2]);
    assert_eq!(t2.to_vec(), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert_eq!(Tensor::from(a.view()), t);
    assert_eq!(
        t.to_ndarray()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap(),
        a
    );
}
