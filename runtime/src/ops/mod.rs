//! Differentiable tensor operations. Each file keeps an operation's forward
//! code and its derivative rule (`*_vjp`: the gradient of each input given the
//! output's gradient `dy`) side by side, with the formula in a comment.

pub mod activation;
pub mod arith;
pub mod index;
pub mod linalg;
pub mod loss;
pub mod panel;
pub mod reduce;
pub mod unary;
