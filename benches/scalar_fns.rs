//! The functions of the scalar benchmarks, each with its hand-derived
//! gradient, shared by `benches/scalar.rs` (criterion) and
//! `examples/bench_scalar.rs` (interleaved medians as JSON).

use adjoint::differentiable;

// ---- 2-D Rosenbrock --------------------------------------------------------

#[differentiable]
pub fn rosen2(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

pub fn rosen2_hand(x: f64, y: f64) -> (f64, (f64, f64)) {
    let a = 1.0 - x;
    let b = y - x * x;
    let f = a * a + 100.0 * b * b;
    (f, (-2.0 * a - 400.0 * x * b, 200.0 * b))
}

// ---- n-D Rosenbrock over a slice -------------------------------------------

#[differentiable]
pub fn rosen_n(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

pub fn rosen_n_hand(x: &[f64]) -> (f64, Vec<f64>) {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut s = 0.0;
    for i in 0..n - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
        g[i] += -400.0 * x[i] * a - 2.0 * b;
        g[i + 1] += 200.0 * a;
    }
    (s, g)
}

// ---- a 49-operation expression of 10 inputs (../shared/peers' `physics`) ----

#[differentiable]
pub fn physics(p: [f64; 10]) -> f64 {
    let (m, k, c, x0, v0, t, g, l, th, om) =
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]);
    let w0 = (k / m).sqrt();
    let s3 = (k * m).sqrt();
    let zeta = c / (2.0 * s3);
    let a = zeta * w0;
    let decay = (-(a * t)).exp();
    let wt = w0 * t;
    let s9 = (v0 + a * x0) / w0;
    let s11 = x0 * wt.cos() + s9 * wt.sin();
    let x = decay * s11;
    let e_spring = 0.5 * (k * x * x);
    let e_pot = m * g * l * (1.0 - th.cos());
    let s17 = l * om;
    let e_kin = 0.5 * (m * (s17 * s17));
    let drag = (c * v0).tanh() * (-(0.1 * t)).exp();
    e_spring + e_pot + e_kin + drag * (th * om).sin() + (-(x * x)).exp() * g
}

pub fn physics_hand(p: [f64; 10]) -> (f64, [f64; 10]) {
    let (m, k, c, x0, v0, t, g, l, th, om) =
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]);
    let s1 = k / m;
    let w0 = s1.sqrt();
    let s2 = k * m;
    let s3 = s2.sqrt();
    let s4 = 2.0 * s3;
    let zeta = c / s4;
    let a = zeta * w0;
    let decay = (-(a * t)).exp();
    let wt = w0 * t;
    let (cw, sw) = (wt.cos(), wt.sin());
    let s9 = (v0 + a * x0) / w0;
    let s11 = x0 * cw + s9 * sw;
    let x = decay * s11;
    let s12 = k * x;
    let sth = th.sin();
    let s14 = 1.0 - th.cos();
    let s15 = m * g;
    let s16 = s15 * l;
    let s17 = l * om;
    let s18 = s17 * s17;
    let s21 = (c * v0).tanh();
    let s23 = (-(0.1 * t)).exp();
    let drag = s21 * s23;
    let s24 = th * om;
    let s25 = s24.sin();
    let s28 = (-(x * x)).exp();
    let f = 0.5 * (s12 * x) + s16 * s14 + 0.5 * (m * s18) + drag * s25 + s28 * g;
    let mut gg = s28;
    let mut xb = -2.0 * x * s28 * g;
    let s24b = s24.cos() * drag;
    let thb = om * s24b + sth * s16;
    let mut omb = th * s24b;
    let s20b = (1.0 - s21 * s21) * (s23 * s25);
    let mut tb = -0.1 * s23 * (s21 * s25);
    let mut cb = v0 * s20b;
    let mut v0b = c * s20b;
    let s17b = s17 * m;
    let mut mb = 0.5 * s18;
    let lb = om * s17b + s15 * s14;
    omb += l * s17b;
    let s15b = l * s14;
    mb += g * s15b;
    gg += m * s15b;
    xb += s12;
    let mut kb = 0.5 * x * x;
    let decayb = s11 * xb;
    let s11b = decay * xb;
    let mut x0b = cw * s11b;
    let cwb = x0 * s11b;
    let s9b = sw * s11b;
    let swb = s9 * s11b;
    let s8b = s9b / w0;
    let mut w0b = -s9 / w0 * s9b;
    v0b += s8b;
    let mut ab = x0 * s8b;
    x0b += a * s8b;
    let wtb = cw * swb - sw * cwb;
    w0b += t * wtb;
    tb += w0 * wtb;
    let s5b = -decay * decayb;
    ab += t * s5b;
    tb += a * s5b;
    let zetab = w0 * ab;
    w0b += zeta * ab;
    cb += zetab / s4;
    let s3b = -2.0 * zeta / s4 * zetab;
    let s2b = s3b / (2.0 * s3);
    kb += m * s2b;
    mb += k * s2b;
    let s1b = w0b / (2.0 * w0);
    kb += s1b / m;
    mb -= s1 / m * s1b;
    (f, [mb, kb, cb, x0b, v0b, tb, gg, lb, thb, omb])
}

pub const PHYSICS_AT: [f64; 10] = [1.3, 2.1, 0.4, 0.7, -0.3, 1.7, 9.81, 0.9, 0.5, 1.1];

/// The hand-written gradients are the reference: check they agree first.
pub fn check_agreement() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    let (v, (dx, dy)) = rosen2_grad(1.3, 0.7);
    let (hv, (hx, hy)) = rosen2_hand(1.3, 0.7);
    assert!(close(v, hv) && close(v, rosen2(1.3, 0.7)) && close(dx, hx) && close(dy, hy));
    let x: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
    let (v, g) = rosen_n_grad(&x);
    let (hv, hg) = rosen_n_hand(&x);
    assert!(close(v, hv) && close(v, rosen_n(&x)) && g.iter().zip(&hg).all(|(a, b)| close(*a, *b)));
    let (v, g) = physics_grad(PHYSICS_AT);
    let (hv, hg) = physics_hand(PHYSICS_AT);
    assert!(close(v, hv) && close(v, physics(PHYSICS_AT)), "{v} vs {hv}");
    for k in 0..10 {
        assert!(
            close(g[k], hg[k]),
            "physics component {k}: {} vs {}",
            g[k],
            hg[k]
        );
    }
}
