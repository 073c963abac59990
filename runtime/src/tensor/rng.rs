//! A small seeded random number generator (xoshiro256++, seeded through
//! SplitMix64), so that initializations, shuffles and dropout masks are the
//! same for the same seed on every machine and every version of adjoint — a
//! promise the `rand` crate does not make across its releases.

use super::Tensor;
use crate::scalar::Float;

/// A seeded random number generator.
///
/// ```
/// use adjoint_runtime::Rng;
/// let (mut a, mut b) = (Rng::seed(7), Rng::seed(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn seed(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            // SplitMix64: spreads any seed, 0 included, over the state.
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits (xoshiro256++).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    ///
    /// ```
    /// let u = adjoint_runtime::Rng::seed(1).uniform();
    /// assert!((0.0..1.0).contains(&u));
    /// ```
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n`.
    ///
    /// **Panics** if `n` is 0.
    #[track_caller]
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below: empty range");
        // Lemire's multiply-shift; the bias is below 2^-64 · n.
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<X>(&mut self, items: &mut [X]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Values drawn from the normal distribution `N(mean, std²)`.
    ///
    /// ```
    /// use adjoint_runtime::{Rng, Tensor};
    /// let t: Tensor = Tensor::randn(&[1000], 0.0, 2.0, &mut Rng::seed(3));
    /// let mean = t.as_slice().iter().sum::<f32>() / 1000.0;
    /// assert!(mean.abs() < 0.2);
    /// ```
    pub fn randn(shape: &[usize], mean: f64, std: f64, rng: &mut Rng) -> Self {
        let n = shape.iter().product();
        let values = (0..n).map(|_| T::from_f64(mean + std * rng.normal()));
        Tensor::from_buffer(super::storage::collect(n, values), shape)
    }

    /// Values drawn uniformly from `[low, high)`.
    ///
    /// ```
    /// use adjoint_runtime::{Rng, Tensor};
    /// let t: Tensor<f64> = Tensor::rand_uniform(&[100], -1.0, 1.0, &mut Rng::seed(3));
    /// assert!(t.as_slice().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut Rng) -> Self {
        let n = shape.iter().product();
        let values = (0..n).map(|_| T::from_f64(low + (high - low) * rng.uniform()));
        Tensor::from_buffer(super::storage::collect(n, values), shape)
    }
}
