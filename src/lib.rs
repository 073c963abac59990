//! The `adjoint` crate: what users depend on. It re-exports the
//! `#[differentiable]` macro (`adjoint-macros`) and the runtime
//! (`adjoint-runtime`). The README below is its documentation; its examples
//! run as doctests.
#![doc = include_str!("../README.md")]

pub use adjoint_macros::{Params, differentiable};
pub use adjoint_runtime::*;

/// What a model file imports: the macros, `Tensor`, `Rng`, the `Params`
/// trait and derive, and the losses.
pub mod prelude {
    pub use adjoint_macros::{Params, differentiable};
    pub use adjoint_runtime::prelude::*;
}

/// The example at the top of the crate documentation, as a doctest with
/// assertions.
///
/// ```
/// use adjoint::differentiable;
///
/// #[differentiable]
/// fn rosenbrock(x: f64, y: f64) -> f64 {
///     (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
/// }
///
/// let (value, (dx, dy)) = rosenbrock_grad(1.5, 2.0);
/// assert_eq!(value, rosenbrock(1.5, 2.0));
/// // d/dx = -2(1 - x) - 400 x (y - x²),  d/dy = 200 (y - x²)
/// assert!((dx - (-2.0 * (1.0 - 1.5) - 400.0 * 1.5 * (2.0 - 2.25))).abs() < 1e-12);
/// assert!((dy - 200.0 * (2.0 - 2.25)).abs() < 1e-12);
/// ```
pub mod example {}
