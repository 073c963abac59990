//! Bindings, tuples, blocks, branches, loops and early returns, against finite
//! differences and hand-derived formulas.
// These functions are written the way users write them (`x = x * y`,
// index loops, `&Vec`), which is what is tested; some exist only for the
// companions `#[differentiable]` generates from them.
#![allow(
    dead_code,
    clippy::assign_op_pattern,
    clippy::let_and_return,
    clippy::ptr_arg,
    clippy::needless_range_loop
)]

mod common;
use adjoint::differentiable;
use approx::assert_relative_eq;
use common::assert_fd;

#[differentiable]
fn shadowing(x: f64) -> f64 {
    let y = x * x;
    let y = y + x; // shadows
    let mut z = y;
    z = z * 3.0; // reassigns
    let w = {
        let inner = z.sin();
        inner * 2.0
    };
    w + y
}

#[test]
fn let_shadowing_reassignment_and_blocks() {
    // y = x² + x, z = 3y, f = 2 sin(3y) + y; f' = (6 cos(3y) + 1)(2x + 1)
    let x = 0.4;
    let y = x * x + x;
    let (_, g) = shadowing_grad(x);
    assert_relative_eq!(
        g,
        (6.0 * (3.0 * y).cos() + 1.0) * (2.0 * x + 1.0),
        max_relative = 1e-12
    );
    assert_fd(&[g], |q| shadowing(q[0]), &[x]);
}

#[differentiable]
fn tuples(x: f64, y: f64) -> f64 {
    let t = (x * y, x + y);
    let (a, b) = t;
    let (c, (d, _unused)) = (a * b, (t.1 * 2.0, 7));
    c + d + t.0
}

#[test]
fn tuples_and_destructuring() {
    let p = [1.1, -0.7];
    let (_, (dx, dy)) = tuples_grad(p[0], p[1]);
    assert_fd(&[dx, dy], |q| tuples(q[0], q[1]), &p);
}

#[differentiable]
fn branches(x: f64, y: f64) -> f64 {
    let mut acc = x;
    if x > y {
        acc = acc * y;
    } else if x * 2.0 < y {
        acc = acc.exp();
    } else {
        acc += y * y;
    }
    let scale = if acc > 0.0 { 2.0 } else { -1.0 };
    acc * scale
}

#[test]
fn if_else_chains_merge_assigned_variables() {
    for p in [[2.0, 1.0], [0.2, 1.0], [0.8, 1.0], [-3.0, 5.0]] {
        let (_, (dx, dy)) = branches_grad(p[0], p[1]);
        assert_fd(&[dx, dy], |q| branches(q[0], q[1]), &p);
    }
}

#[differentiable]
fn by_case(x: f64, k: usize) -> f64 {
    let mut y = x;
    match k {
        0 => y = y.sin(),
        1 | 2 => y *= x,
        n if n > 10 => y = y * (n as f64),
        _ => {}
    }
    let z = match k % 2 {
        0 => y * 2.0,
        _ => y + x,
    };
    z
}

#[test]
fn match_on_integers_with_guards_and_bindings() {
    // k = 12: y = 12x, z = 24x
    assert_eq!(by_case_grad(0.3, 12).1, 24.0);
    for k in [0, 1, 2, 5, 12] {
        let (_, g) = by_case_grad(0.7, k);
        assert_fd(&[g], |q| by_case(q[0], k), &[0.7]);
    }
}

#[differentiable]
fn rosenbrock_n(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

#[test]
fn for_loop_over_a_slice_with_neighbours() {
    let x = [0.5, 1.2, -0.3, 2.0, 0.9];
    let (v, g) = rosenbrock_n_grad(&x);
    assert_eq!(v, rosenbrock_n(&x));
    assert_fd(&g, rosenbrock_n, &x);
    // Hand-derived: ∂/∂x_i = -400 x_i (x_{i+1} - x_i²) - 2(1 - x_i) + 200 (x_i - x_{i-1}²)
    for i in 0..x.len() {
        let mut want = 0.0;
        if i + 1 < x.len() {
            want += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        }
        if i > 0 {
            want += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
        }
        assert_relative_eq!(g[i], want, max_relative = 1e-12);
    }
}

#[differentiable]
fn power_iteration(x: f64, n: usize) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y = y.sin() * y + x;
    }
    y
}

#[test]
fn loop_carried_values_read_by_nonlinear_rules() {
    for n in [0, 1, 3, 17] {
        // The pullback has one entry per parameter; `n` is an integer, so `()`.
        let (_, pullback) = power_iteration_vjp(0.6, n);
        let (g, ()) = pullback(1.0);
        let (_, direct) = power_iteration_grad(0.6, n);
        assert_eq!(g, direct);
        assert_fd(&[direct], |q| power_iteration(q[0], n), &[0.6]);
    }
}

#[differentiable]
fn newton_sqrt(a: f64) -> f64 {
    let mut x = a;
    let mut steps = 0;
    while (x * x - a).abs() > 1e-12 * a && steps < 100 {
        x = 0.5 * (x + a / x);
        steps += 1;
    }
    x
}

#[test]
fn while_loop_with_a_run_time_iteration_count() {
    // d√a/da = 1 / (2√a), through the iterations of Newton's method
    for a in [2.0, 9.0, 0.3] {
        let (v, g) = newton_sqrt_grad(a);
        assert_relative_eq!(v, a.sqrt(), max_relative = 1e-12);
        assert_relative_eq!(g, 0.5 / a.sqrt(), max_relative = 1e-6);
    }
}

#[differentiable]
fn nested_loops(x: &[f64], m: usize) -> f64 {
    let n = x.len();
    let mut total = 0.0;
    for i in 0..n {
        let mut prod = 1.0;
        let mut j = 0;
        while j < m {
            prod = prod * x[(i + j) % n] + 0.1;
            j += 1;
        }
        total += prod.tanh();
    }
    total
}

#[test]
fn nested_for_and_while_loops() {
    let x = [0.3, -0.8, 1.1, 0.5];
    let (_, g) = nested_loops_grad(&x, 3);
    assert_fd(&g, |q| nested_loops(q, 3), &x);
}

#[differentiable]
fn arrays(x: [f64; 3], w: &[f64; 3], v: &Vec<f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        s += x[i] * w[i] * v[i];
    }
    s
}

#[test]
fn arrays_array_refs_and_vec_refs() {
    // d/dx_i = w_i v_i, and so on for each argument
    let (x, w, v) = ([1.0, 2.0, 3.0], [0.5, -1.0, 2.0], vec![3.0, 1.0, -2.0]);
    let (_, (gx, gw, gv)) = arrays_grad(x, &w, &v);
    assert_eq!(gx, [1.5, -1.0, -4.0]);
    assert_eq!(gw, [3.0, 2.0, -6.0]);
    assert_eq!(gv, vec![0.5, -2.0, 6.0]);
}

#[differentiable]
fn early_return(x: f64, y: f64) -> f64 {
    if x < 0.0 {
        return y * y;
    }
    let z = x * y;
    if z > 10.0 {
        if y > 5.0 {
            return z.sqrt();
        }
        return z;
    }
    z.sin() + x
}

#[test]
fn early_returns_at_any_depth() {
    for p in [[-1.0, 3.0], [3.0, 6.0], [12.0, 1.0], [0.5, 0.5]] {
        let (_, (dx, dy)) = early_return_grad(p[0], p[1]);
        assert_fd(&[dx, dy], |q| early_return(q[0], q[1]), &p);
    }
}

#[differentiable]
fn non_diff_values_flow_through(x: &[f64], threshold: f64) -> f64 {
    let n = x.len();
    let mut count = 0usize;
    let mut s = 0.0;
    let verbose = false;
    for i in 0..n {
        let big = x[i] > threshold;
        if big && i % 2 == 0 {
            count += 1;
            s += x[i] * x[i];
        }
    }
    assert!(count <= n, "count {count} exceeds {n}");
    if verbose {
        println!("{count} of {n} above {threshold}");
    }
    s * (count as f64)
}

#[test]
fn integers_bools_and_macros_pass_through() {
    // Entries 0 and 2 are above 0.5 at even positions: s = x0² + x2², count = 2
    let x = [1.0, 2.0, 3.0];
    let (v, (g, dt)) = non_diff_values_flow_through_grad(&x, 0.5);
    assert_eq!(v, (1.0 + 9.0) * 2.0);
    assert_eq!(g, vec![4.0, 0.0, 12.0]);
    assert_eq!(dt, 0.0);
}

// ---- accumulation loops, which the compiler fuses (see macros/src/fusion.rs) ----

#[differentiable]
fn two_sums(x: &[f64], k: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += k * x[i] * x[i];
    }
    let mut t = 1.0;
    let mut j = 0;
    while j < x.len() {
        t -= (x[j] * k).sin();
        j += 1;
    }
    s.sqrt() * t + x[0] * s
}

#[test]
fn accumulation_loops_in_sequence_with_outer_values() {
    let x = [0.3, -1.1, 0.7, 2.0];
    let (_, (g, dk)) = two_sums_grad(&x, 1.3);
    let mut p = x.to_vec();
    p.push(1.3);
    let mut full = g.clone();
    full.push(dk);
    assert_fd(&full, |q| two_sums(&q[..4], q[4]), &p);
}

#[differentiable]
fn sums_in_branches(x: &[f64], flag: bool) -> f64 {
    let mut total = 0.0;
    if flag {
        for i in 0..x.len() {
            total += x[i].exp();
        }
    } else {
        total = x[0];
    }
    let mut outer = 0.0;
    for i in 0..x.len() {
        let mut inner = 0.0;
        for j in 0..=i {
            inner += x[j] * x[i];
        }
        outer += inner.tanh();
    }
    total * outer
}

#[test]
fn accumulation_loops_inside_branches_and_loops() {
    let x = [0.3, -0.4, 0.8];
    for flag in [true, false] {
        let (_, g) = sums_in_branches_grad(&x, flag);
        assert_fd(&g, |q| sums_in_branches(q, flag), &x);
    }
}

#[test]
fn a_pullback_scales_fused_loops_by_its_cotangent() {
    // rosenbrock_n's only loop is fused; the pullback at 2.5 is 2.5 x the gradient.
    let x = [0.5, 1.2, -0.3];
    let (_, g) = rosenbrock_n_grad(&x);
    let (_, pullback) = rosenbrock_n_vjp(&x);
    let (g2,) = pullback(2.5);
    for k in 0..3 {
        assert_relative_eq!(g2[k], 2.5 * g[k], max_relative = 1e-12);
    }
}

#[differentiable]
fn over_elements(x: &[f64], w: &Vec<f64>) -> f64 {
    let mut s = 0.0;
    for v in x.iter() {
        s += v * v;
    }
    let mut t = 0.0;
    for v in w {
        t += v.sin();
    }
    let mut u = 1.0;
    for v in x {
        u = u * (1.0 + v.abs());
    }
    s * t + u
}

#[test]
fn loops_over_elements_of_slices_and_vecs() {
    let x = [0.4, -1.2, 0.9];
    let w = vec![0.3, 1.1];
    let (_, (gx, gw)) = over_elements_grad(&x, &w);
    assert_fd(&gx, |q| over_elements(q, &w), &x);
    assert_fd(&gw, |q| over_elements(&x, &q.to_vec()), &w);
}

/// How many times `counted` has run, called directly or by its rule.
static COUNTED_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `x³`, counting its calls, with a hand-written rule.
fn counted(x: f64) -> f64 {
    COUNTED_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    x * x * x
}

fn counted_vjp(x: f64) -> (f64, impl FnOnce(f64) -> (f64,)) {
    (counted(x), move |dy: f64| (dy * 3.0 * x * x,))
}

#[differentiable]
fn kept_in_loop(x: f64, n: usize) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y = counted(y) * 0.5 + y;
    }
    y
}

#[test]
fn a_call_in_a_loop_that_borrows_no_local_runs_once_per_iteration() {
    // The forward loop keeps each call's pullback; the reverse loop pops it
    // instead of calling again (it used to run 2n times).
    COUNTED_RUNS.store(0, std::sync::atomic::Ordering::SeqCst);
    let (v, g) = kept_in_loop_grad(0.7, 4);
    assert_eq!(COUNTED_RUNS.load(std::sync::atomic::Ordering::SeqCst), 4);
    // y ← y³/2 + y, so dy'/dy = 1.5 y² + 1, chained over the iterations.
    let (mut y, mut d) = (0.7_f64, 1.0_f64);
    for _ in 0..4 {
        d *= 1.5 * y * y + 1.0;
        y = 0.5 * y * y * y + y;
    }
    assert_relative_eq!(v, y, max_relative = 1e-14);
    assert_relative_eq!(g, d, max_relative = 1e-12);
}
