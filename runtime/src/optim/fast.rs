//! Adam's update of `f32` parameters with AVX-512, without a division.
//!
//! Written plainly, the update makes a square root and a division per
//! element, and both go to the one divider unit, which is then Adam's
//! bottleneck: 0.46 ns per parameter on the Intel machine of BENCHMARKS.md,
//! 11% of the 784-128-10 step. Here the division `step · m / denom` is a
//! multiply by `1/denom`, from the 14-bit `rcp14` estimate refined by one
//! Newton step (`q · (2 − denom · q)`, about 28 bits), so the divider makes
//! only the square root. The moments `m` and `v` are computed exactly as
//! the plain loop computes them, bit for bit; the new parameter can differ
//! from the plain loop's in its last bit or two. Where `denom` is 0 or
//! infinite the estimate is exact and is used as it is, as a division
//! would give.

use super::AdamRule;
use crate::scalar::Float;
use std::any::TypeId;

/// Updates the longest prefix of the elements that this CPU and `T` allow
/// (`f32`, AVX-512F, whole vectors of 16), and returns its length: the
/// caller updates the rest the plain way.
#[inline(always)]
pub(super) fn update<T: Float>(
    rule: &AdamRule<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && std::arch::is_x86_feature_detected!("avx512f") {
        let f = |x: T| x.to_f64() as f32;
        let c = Constants {
            l2: f(rule.l2),
            decay: f(rule.decay),
            cb1: f(rule.cb1),
            cb2: f(rule.cb2),
            one_b1: f(rule.one_b1),
            one_b2: f(rule.one_b2),
            inv_sqrt_bc2: f(rule.inv_sqrt_bc2),
            eps: f(rule.eps),
            step_size: f(rule.step_size),
        };
        // SAFETY: `T` is `f32` (checked just above), so the slices are
        // `f32` slices; the CPU has AVX-512F.
        unsafe {
            let cast = |s: &mut [T]| &mut *(s as *mut [T] as *mut [f32]);
            let g = &*(g as *const [T] as *const [f32]);
            return update_avx512(&c, cast(p), g, cast(m), cast(v));
        }
    }
    let _ = (rule, p, g, m, v);
    0
}

/// [`AdamRule`]'s constants as `f32`.
#[cfg(target_arch = "x86_64")]
struct Constants {
    l2: f32,
    decay: f32,
    cb1: f32,
    cb2: f32,
    one_b1: f32,
    one_b2: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    step_size: f32,
}

/// Whole vectors of 16 elements; returns how many elements it updated.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_avx512(
    c: &Constants,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> usize {
    use std::arch::x86_64::*;
    let n = p.len().min(g.len()).min(m.len()).min(v.len()) / 16 * 16;
    let s = _mm512_set1_ps;
    let (l2, decay, cb1, cb2) = (s(c.l2), s(c.decay), s(c.cb1), s(c.cb2));
    let (one_b1, one_b2, inv_sqrt_bc2) = (s(c.one_b1), s(c.one_b2), s(c.inv_sqrt_bc2));
    let (eps, step_size, two) = (s(c.eps), s(c.step_size), s(2.0));
    let (zero, inf) = (s(0.0), s(f32::INFINITY));
    for i in (0..n).step_by(16) {
        // SAFETY: i + 16 ≤ n, within every slice.
        unsafe {
            let (pp, mp, vp) = (
                p.as_mut_ptr().add(i),
                m.as_mut_ptr().add(i),
                v.as_mut_ptr().add(i),
            );
            let (p0, m0, v0) = (
                _mm512_loadu_ps(pp),
                _mm512_loadu_ps(mp),
                _mm512_loadu_ps(vp),
            );
            let g0 = _mm512_loadu_ps(g.as_ptr().add(i));
            // As the plain loop rounds them: a multiply, then an add.
            let d = _mm512_add_ps(g0, _mm512_mul_ps(l2, p0));
            let m1 = _mm512_add_ps(_mm512_mul_ps(cb1, m0), _mm512_mul_ps(one_b1, d));
            let v1 = _mm512_add_ps(
                _mm512_mul_ps(cb2, v0),
                _mm512_mul_ps(_mm512_mul_ps(one_b2, d), d),
            );
            let denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(v1), inv_sqrt_bc2), eps);
            let estimate = _mm512_rcp14_ps(denom);
            let refined = _mm512_mul_ps(estimate, _mm512_fnmadd_ps(denom, estimate, two));
            let exact = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(denom, zero)
                | _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(denom, inf);
            let q = _mm512_mask_blend_ps(exact, refined, estimate);
            let p1 = _mm512_sub_ps(
                _mm512_mul_ps(p0, decay),
                _mm512_mul_ps(_mm512_mul_ps(step_size, m1), q),
            );
            _mm512_storeu_ps(pp, p1);
            _mm512_storeu_ps(mp, m1);
            _mm512_storeu_ps(vp, v1);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain update of one element, as `AdamRule::update` writes it.
    fn plain(r: &AdamRule<f32>, p: f32, g: f32, m: f32, v: f32) -> (f32, f32, f32) {
        let d = g + r.l2 * p;
        let m1 = r.cb1 * m + r.one_b1 * d;
        let v1 = r.cb2 * v + r.one_b2 * d * d;
        let denom = v1.sqrt() * r.inv_sqrt_bc2 + r.eps;
        (p * r.decay - r.step_size * m1 / denom, m1, v1)
    }

    fn rule(eps: f32) -> AdamRule<f32> {
        AdamRule {
            l2: 0.01,
            decay: 0.999,
            cb1: 0.9,
            cb2: 0.999,
            one_b1: 0.1,
            one_b2: 0.001,
            inv_sqrt_bc2: 1.0 / (1.0f32 - 0.999f32.powi(3)).sqrt(),
            eps,
            step_size: 1e-3 / (1.0 - 0.9f32.powi(3)),
        }
    }

    /// Whole vectors are updated without a division: the moments exactly
    /// as the plain loop makes them, the parameters within 2 ulp of it,
    /// and zero or infinite denominators as a division gives them.
    #[test]
    fn the_update_without_a_division_matches_the_plain_one() {
        let n = 16 * 40;
        let value = |i: usize, s: f32| ((i * 7919 + 13) % 1000) as f32 / 500.0 - 1.0 + s;
        let p: Vec<f32> = (0..n).map(|i| value(i, 0.0)).collect();
        let mut g: Vec<f32> = (0..n)
            .map(|i| value(i * 3, 0.0) * 10f32.powi(i as i32 % 7 - 3))
            .collect();
        let mut m: Vec<f32> = (0..n).map(|i| value(i * 5, 0.0) * 1e-2).collect();
        let mut v: Vec<f32> = (0..n).map(|i| value(i * 11, 1.0) * 1e-4).collect();
        // Edges: no gradient and no history (v = 0, denom = eps), and an
        // infinite second moment (denom = inf: the step is 0).
        (g[0], m[0], v[0]) = (0.0, 0.0, 0.0);
        (g[1], v[1]) = (0.0, f32::INFINITY);
        for eps in [1e-8, 0.0] {
            let r = rule(eps);
            let want: Vec<(f32, f32, f32)> =
                (0..n).map(|i| plain(&r, p[i], g[i], m[i], v[i])).collect();
            let (mut p1, mut m1, mut v1) = (p.clone(), m.clone(), v.clone());
            let done = update(&r, &mut p1, &g, &mut m1, &mut v1);
            if done == 0 {
                return; // no AVX-512 here: the plain loop does it all
            }
            assert_eq!(done, n);
            for i in 0..n {
                let (wp, wm, wv) = want[i];
                assert_eq!(
                    (m1[i].to_bits(), v1[i].to_bits()),
                    (wm.to_bits(), wv.to_bits())
                );
                let same = wp.to_bits() == p1[i].to_bits() || (wp.is_nan() && p1[i].is_nan());
                let ulps = (wp.to_bits() as i64 - p1[i].to_bits() as i64).abs();
                assert!(same || ulps <= 2, "eps {eps}, {i}: {} vs {wp}", p1[i]);
            }
        }
        // A length that is not a multiple of 16 leaves its tail.
        let r = rule(1e-8);
        let (mut p1, mut m1, mut v1) = (p[..37].to_vec(), m[..37].to_vec(), v[..37].to_vec());
        assert_eq!(update(&r, &mut p1, &g[..37], &mut m1, &mut v1), 32);
        assert_eq!(p1[32..], p[32..37]);
    }
}
