//! `ShapeError`: what the `try_` variants of shape-checked operations return
//! instead of panicking (the panicking ones print the same message).

use std::fmt;

/// A shape that does not fit an operation: the operation's name and the
/// shapes involved, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// The operation (`matmul`, `add`, ...).
    pub op: &'static str,
    /// What does not fit, naming the shapes.
    pub message: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for ShapeError {}

/// Unwraps a shape check, panicking with its message at the caller.
#[track_caller]
pub(crate) fn or_panic<T>(r: Result<T, ShapeError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}
