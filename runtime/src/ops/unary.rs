//! Elementwise functions and activations. Each forward sits beside its rule
//! `*_vjp(dy, x, y) -> dx`, with `y` the forward's output (several rules are
//! cheaper from `y` than from `x`).

use crate::scalar::Float;
use crate::tensor::Tensor;

/// Defines `Tensor::$name` and `$vjp(dy, x, y)`: `dx = dy · $grad(x, y)`.
macro_rules! unary {
    ($(#[$doc:meta])* $name:ident, $vjp:ident, |$x:ident| $fwd:expr, |$gx:ident, $gy:ident| $grad:expr) => {
        impl<T: Float> Tensor<T> {
            $(#[$doc])*
            pub fn $name(&self) -> Tensor<T> {
                self.map(|$x| $fwd)
            }
        }

        #[doc = concat!("The rule of [`Tensor::", stringify!($name), "`]: `dx = dy · ", stringify!($grad), "`.")]
        #[track_caller]
        pub fn $vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, y: &Tensor<T>) -> Tensor<T> {
            let (d, xs, ys) = (dy.as_slice(), x.as_slice(), y.as_slice());
            assert!(d.len() == xs.len(), concat!(stringify!($vjp), ": gradient of shape {:?} for a value of shape {:?}"), dy.shape(), x.shape());
            let data = d.iter().zip(xs).zip(ys).map(|((&d, &$gx), &$gy)| d * $grad);
            Tensor::from_buffer($crate::tensor::storage::collect(d.len(), data), x.shape())
        }
    };
}

fn half<T: Float>() -> T {
    T::from_f64(0.5)
}

/// `1 / (1 + e⁻ˣ)` of one value (also the fused bias-and-activation's).
pub(crate) fn sigmoid_of<T: Float>(x: T) -> T {
    // Stable on both sides: never exp of a large positive number.
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

unary!(
    /// `eˣ`.
    exp, exp_vjp, |x| x.exp(), |_x, y| y
);
unary!(
    /// `ln x`.
    ln, ln_vjp, |x| x.ln(), |x, _y| T::ONE / x
);
unary!(
    /// `√x`.
    sqrt, sqrt_vjp, |x| x.sqrt(), |_x, y| half::<T>() / y
);
unary!(
    /// `|x|`; its derivative at 0 is 0 (as in JAX and PyTorch).
    abs, abs_vjp, |x| x.abs(), |x, _y| crate::scalar::abs_d(x)
);
unary!(
    /// `1 / (1 + e⁻ˣ)`, computed without overflow.
    sigmoid, sigmoid_vjp, |x| sigmoid_of(x), |_x, y| y * (T::ONE - y)
);
unary!(
    /// `max(x, 0)`; its derivative at 0 is 0 (as in PyTorch).
    relu, relu_vjp, |x| if x > T::ZERO { x } else { T::ZERO }, |x, _y| if x > T::ZERO { T::ONE } else { T::ZERO }
);
unary!(
    /// `tanh x`.
    tanh, tanh_vjp, |x| x.tanh(), |_x, y| T::ONE - y * y
);
unary!(
    /// `ln(1 + eˣ)`, computed without overflow; its derivative is `sigmoid(x)`.
    softplus, softplus_vjp, |x| x.max(T::ZERO) + (-x.abs()).exp().ln_1p(), |x, _y| sigmoid_of(x)
);
unary!(
    /// GELU, the tanh approximation PyTorch uses with `approximate="tanh"`:
    /// `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    gelu, gelu_vjp, |x| gelu(x), |x, _y| gelu_d(x)
);

const GELU_C: f64 = 0.797_884_560_802_865_4; // √(2/π)

fn gelu<T: Float>(x: T) -> T {
    let c = T::from_f64(GELU_C);
    let k = T::from_f64(0.044_715);
    half::<T>() * x * (T::ONE + (c * (x + k * x * x * x)).tanh())
}

fn gelu_d<T: Float>(x: T) -> T {
    let c = T::from_f64(GELU_C);
    let k = T::from_f64(0.044_715);
    let t = (c * (x + k * x * x * x)).tanh();
    let dinner = c * (T::ONE + T::from_f64(3.0) * k * x * x);
    half::<T>() * (T::ONE + t) + half::<T>() * x * (T::ONE - t * t) * dinner
}

impl<T: Float> Tensor<T> {
    /// `x` for `x > 0`, else `slope · x`.
    pub fn leaky_relu(&self, slope: T) -> Tensor<T> {
        self.map(|x| if x > T::ZERO { x } else { slope * x })
    }

    /// `xⁿ` for an integer `n`.
    pub fn powi(&self, n: i32) -> Tensor<T> {
        self.map(|x| x.powi(n))
    }

    /// `xᵉ` for a scalar exponent `e`.
    pub fn powf(&self, e: T) -> Tensor<T> {
        self.map(|x| x.powf(e))
    }
}

/// The rule of [`Tensor::leaky_relu`]: `dx = dy` where `x > 0`, else `dy · slope`.
pub fn leaky_relu_vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, slope: T) -> Tensor<T> {
    dy.zip_map(
        x,
        "leaky_relu_vjp",
        |d, x| if x > T::ZERO { d } else { d * slope },
    )
}

/// The rule of [`Tensor::powi`]: `dx = dy · n xⁿ⁻¹`.
pub fn powi_vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, n: i32) -> Tensor<T> {
    dy.zip_map(x, "powi_vjp", |d, x| d * crate::scalar::powi_d(x, n))
}

/// The rule of [`Tensor::powf`]: `dx = dy · e xᵉ⁻¹`.
pub fn powf_vjp<T: Float>(dy: &Tensor<T>, x: &Tensor<T>, e: T) -> Tensor<T> {
    dy.zip_map(x, "powf_vjp", |d, x| d * crate::scalar::powf_dx(x, e))
}
