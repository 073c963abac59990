use adjoint::differentiable;

#[differentiable]
fn rosen(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

#[differentiable]
fn rosen_n(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

#[differentiable]
fn branchy(x: f64) -> f64 {
    let mut y = x * 2.0;
    if y > 1.0 {
        y = y.sin() * x;
    } else {
        y = y.exp();
    }
    let mut k = 0;
    while y < 10.0 {
        y = y * 1.5 + x;
        k += 1;
    }
    println!("k = {k}");
    y
}

#[test]
fn smoke() {
    let (v, (dx, dy)) = rosen_grad(1.5, 2.0);
    assert_eq!(v, rosen(1.5, 2.0));
    assert!((dx - (-2.0 * (1.0 - 1.5) - 400.0 * 1.5 * (2.0 - 2.25))).abs() < 1e-9);
    assert!((dy - 200.0 * (2.0 - 2.25)).abs() < 1e-9);
    let x = [0.5, 1.2, -0.3, 2.0];
    let (v, g) = rosen_n_grad(&x);
    assert_eq!(v, rosen_n(&x));
    for k in 0..4 {
        let mut xp = x;
        xp[k] += 1e-6;
        let mut xm = x;
        xm[k] -= 1e-6;
        let fd = (rosen_n(&xp) - rosen_n(&xm)) / 2e-6;
        assert!(
            (fd - g[k]).abs() < 1e-4 * (1.0 + fd.abs()),
            "{k}: {fd} vs {}",
            g[k]
        );
    }
    for x0 in [0.1, 0.7, 1.3] {
        let (v, g) = branchy_grad(x0);
        let fd = (branchy(x0 + 1e-7) - branchy(x0 - 1e-7)) / 2e-7;
        assert!(
            (fd - g).abs() < 1e-4 * (1.0 + fd.abs()),
            "{x0}: {fd} vs {g} (v {v})"
        );
    }
}
