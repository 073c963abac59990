//! Layers: `Linear` with PyTorch's default initialization and the He/Kaiming
//! and Xavier/Glorot ones, activations as layer choices, and `Mlp`, a stack of
//! `Linear`s. Each is a `#[derive(Params)]` struct with a `#[differentiable]`
//! forward method, written the way a user writes their own layer.

use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::tensor::rng::Rng;
use adjoint_macros::{Params, differentiable};

/// How a `Linear` layer's weights are drawn (fan-in `n_in`, fan-out `n_out`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weights and biases uniform in
    /// `±1/√n_in` (Kaiming-uniform with `a = √5`).
    PyTorch,
    /// He/Kaiming normal for ReLU: `N(0, 2/n_in)`, zero biases.
    HeNormal,
    /// He/Kaiming uniform for ReLU: uniform in `±√(6/n_in)`, zero biases.
    HeUniform,
    /// Xavier/Glorot uniform: uniform in `±√(6/(n_in + n_out))`, zero biases.
    XavierUniform,
    /// Xavier/Glorot normal: `N(0, 2/(n_in + n_out))`, zero biases.
    XavierNormal,
}

/// `y = x·W + b`, with `W: [inputs, outputs]` and `b: [outputs]`.
///
/// ```
/// use adjoint_runtime::{Rng, Tensor, nn::Linear};
/// let layer: Linear = Linear::new(3, 2, &mut Rng::seed(0));
/// let y = layer.forward(&Tensor::ones(&[4, 3]));
/// assert_eq!(y.shape(), &[4, 2]);
/// ```
#[derive(Params, Clone, Debug)]
#[params(crate = "crate")]
pub struct Linear<T: Float = f32> {
    /// The weights, `[inputs, outputs]`.
    pub w: Tensor<T>,
    /// The biases, `[outputs]`.
    pub b: Tensor<T>,
}

impl<T: Float> Linear<T> {
    /// A layer initialized as PyTorch's `nn.Linear` is.
    pub fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        Linear::with_init(inputs, outputs, Init::PyTorch, rng)
    }

    /// A layer with the given initialization.
    pub fn with_init(inputs: usize, outputs: usize, init: Init, rng: &mut Rng) -> Self {
        let (fi, fo) = (inputs as f64, outputs as f64);
        let (w, b) = match init {
            Init::PyTorch => {
                let bound = 1.0 / fi.sqrt();
                (
                    Tensor::rand_uniform(&[inputs, outputs], -bound, bound, rng),
                    Tensor::rand_uniform(&[outputs], -bound, bound, rng),
                )
            }
            Init::HeNormal => (
                Tensor::randn(&[inputs, outputs], 0.0, (2.0 / fi).sqrt(), rng),
                Tensor::zeros(&[outputs]),
            ),
            Init::HeUniform => {
                let bound = (6.0 / fi).sqrt();
                (
                    Tensor::rand_uniform(&[inputs, outputs], -bound, bound, rng),
                    Tensor::zeros(&[outputs]),
                )
            }
            Init::XavierUniform => {
                let bound = (6.0 / (fi + fo)).sqrt();
                (
                    Tensor::rand_uniform(&[inputs, outputs], -bound, bound, rng),
                    Tensor::zeros(&[outputs]),
                )
            }
            Init::XavierNormal => (
                Tensor::randn(&[inputs, outputs], 0.0, (2.0 / (fi + fo)).sqrt(), rng),
                Tensor::zeros(&[outputs]),
            ),
        };
        Linear { w, b }
    }

    /// `x·W + b` for `x: [batch, inputs]`.
    #[differentiable(wrt(self, x), crate = "crate")]
    pub fn forward(&self, x: &Tensor<T>) -> Tensor<T> {
        self.forward_owned(x.clone())
    }

    /// [`Linear::forward`], taking `x` by value (a tensor's clone shares its
    /// buffer, so `h.clone()` costs nothing).
    ///
    /// Why both: in a loop inside a `#[differentiable]` function, a call that
    /// borrows a local (`layer.forward(&h)`) is made again in the reverse
    /// sweep, because its pullback would borrow `h` and cannot outlive the
    /// iteration. This one's pullback owns `h`, so the loop keeps it and the
    /// layer's forward runs once per step. [`Mlp::forward`] calls it.
    ///
    /// ```
    /// use adjoint_runtime::{Rng, Tensor, nn::Linear};
    /// let layer: Linear = Linear::new(3, 2, &mut Rng::seed(0));
    /// let x = Tensor::ones(&[4, 3]);
    /// assert_eq!(layer.forward_owned(x.clone()), layer.forward(&x));
    /// ```
    #[differentiable(wrt(self, x), crate = "crate")]
    pub fn forward_owned(&self, x: Tensor<T>) -> Tensor<T> {
        x.matmul(&self.w) + &self.b
    }

    /// `activation(x·W + b)`, with the bias and the activation in one pass
    /// ([`Tensor::bias_activation`]); `x` by value, as in
    /// [`Linear::forward_owned`]. The reverse sweep keeps only the output
    /// (and `x`, for the weight gradient): `x·W` is freed at once.
    ///
    /// ```
    /// use adjoint_runtime::{Rng, Tensor, nn::{Activation, Linear}};
    /// let layer: Linear = Linear::new(3, 2, &mut Rng::seed(0));
    /// let x = Tensor::ones(&[4, 3]);
    /// assert_eq!(layer.forward_activation(x.clone(), Activation::Relu), layer.forward(&x).relu());
    /// ```
    #[differentiable(wrt(self, x), crate = "crate")]
    pub fn forward_activation(&self, x: Tensor<T>, activation: Activation) -> Tensor<T> {
        x.matmul(&self.w).bias_activation(&self.b, activation)
    }
}

/// The nonlinearity between the layers of an [`Mlp`] (and of
/// [`Linear::forward_activation`]).
pub use crate::ops::activation::Activation;

/// A stack of `Linear` layers with an activation between them (not after the
/// last: its outputs are logits), and optional dropout after each activation.
///
/// ```
/// use adjoint_runtime::{Rng, Tensor, nn::{Activation, Init, Mlp}};
/// let mlp: Mlp = Mlp::new(&[784, 10, 10], Activation::Relu, Init::PyTorch, &mut Rng::seed(0));
/// assert_eq!(adjoint_runtime::Params::num_params(&mlp), 784 * 10 + 10 + 10 * 10 + 10);
/// let logits = mlp.forward(&Tensor::zeros(&[2, 784]), false, 0);
/// assert_eq!(logits.shape(), &[2, 10]);
/// ```
#[derive(Params, Clone, Debug)]
#[params(crate = "crate")]
pub struct Mlp<T: Float = f32> {
    /// The layers, input first.
    pub layers: Vec<Linear<T>>,
    /// The activation between layers.
    #[params(skip)]
    pub activation: Activation,
    /// The dropout rate after each activation (used in training only).
    #[params(skip)]
    pub dropout: T,
}

impl<T: Float> Mlp<T> {
    /// Layers of the given sizes (`[784, 128, 10]`: two layers), no dropout.
    ///
    /// **Panics** with fewer than two sizes.
    #[track_caller]
    pub fn new(sizes: &[usize], activation: Activation, init: Init, rng: &mut Rng) -> Self {
        assert!(
            sizes.len() >= 2,
            "Mlp::new: need at least an input and an output size, got {sizes:?}"
        );
        let layers = sizes
            .windows(2)
            .map(|w| Linear::with_init(w[0], w[1], init, rng))
            .collect();
        Mlp {
            layers,
            activation,
            dropout: T::ZERO,
        }
    }

    /// The logits for `x: [batch, inputs]`. `training` turns dropout on; its
    /// masks come from `seed` (pass a new one each step).
    #[differentiable(wrt(self, x), crate = "crate")]
    pub fn forward(&self, x: &Tensor<T>, training: bool, seed: u64) -> Tensor<T> {
        let n = self.layers.len();
        let mut h = x.clone();
        for i in 0..n {
            let last = i + 1 == n;
            // Arm by arm, as constants: `self.activation` read as a value
            // would count as differentiated (it comes from `self`), and the
            // layer's call would then expect a gradient for it.
            let activation = match self.activation {
                _ if last => Activation::Identity,
                Activation::Relu => Activation::Relu,
                Activation::Sigmoid => Activation::Sigmoid,
                Activation::Tanh => Activation::Tanh,
                Activation::Softmax => Activation::Softmax,
                Activation::Identity => Activation::Identity,
            };
            // One call per layer, by value: the loop keeps its pullback (see
            // `Linear::forward_owned`) instead of recomputing a branch on the
            // activation in the reverse sweep, and the bias and activation
            // make one pass.
            h = self.layers[i].forward_activation(h, activation);
            if !last && training && self.dropout > T::ZERO {
                h = h.dropout(self.dropout, true, seed.wrapping_add(i as u64));
            }
        }
        h
    }
}

/// Inverted dropout as a layer: in training each element is zeroed with
/// probability `rate` (masks from the seed) and the rest scaled by
/// `1 / (1 − rate)`; in evaluation the identity.
///
/// ```
/// use adjoint_runtime::{Tensor, nn::Dropout};
/// let d = Dropout { rate: 0.5 };
/// let x = Tensor::<f32>::ones(&[4]);
/// assert_eq!(d.forward(&x, false, 0), x);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout<T: Float = f32> {
    /// The probability of zeroing an element.
    pub rate: T,
}

impl<T: Float> Dropout<T> {
    /// The layer's output; `training` turns it on, `seed` fixes the mask.
    #[differentiable(wrt(x), crate = "crate")]
    pub fn forward(&self, x: &Tensor<T>, training: bool, seed: u64) -> Tensor<T> {
        x.dropout(self.rate, training, seed)
    }
}
