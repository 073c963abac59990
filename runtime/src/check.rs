//! `#[differentiable(check_finite)]`: generated code checks each value and
//! each gradient as it is computed and panics at the first NaN or infinity,
//! naming the operation and its line in the user's source (PyTorch's anomaly
//! mode, pointing at the source). Values that are not floats or tensors are
//! not checked.

use crate::scalar::Float;
use crate::tensor::Tensor;

/// A value to check; see [`CheckFloat`] and [`CheckOther`].
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// Checking floats and tensors.
pub trait CheckFloat {
    /// Panics if the value holds a NaN or an infinity.
    fn check_finite(&self, what: &str, file: &str, line: u32);
}

/// Other values: nothing to check. (Method resolution picks
/// [`CheckFloat`] when it applies, this otherwise.)
pub trait CheckOther {
    /// Does nothing.
    fn check_finite(&self, _what: &str, _file: &str, _line: u32) {}
}

impl<T: ?Sized> CheckOther for &Probe<'_, T> {}

#[cold]
#[track_caller]
fn fail(what: &str, file: &str, line: u32, found: String) -> ! {
    panic!("check_finite: {what} at {file}:{line} is {found}")
}

impl<T: Float> CheckFloat for Probe<'_, T> {
    #[inline]
    fn check_finite(&self, what: &str, file: &str, line: u32) {
        if !self.0.is_finite() {
            fail(what, file, line, format!("{:?}", self.0));
        }
    }
}

impl<T: Float> CheckFloat for Probe<'_, Tensor<T>> {
    fn check_finite(&self, what: &str, file: &str, line: u32) {
        if let Some(k) = self.0.as_slice().iter().position(|v| !v.is_finite()) {
            fail(
                what,
                file,
                line,
                format!(
                    "{:?} at element {k} of a tensor of shape {:?}",
                    self.0.as_slice()[k],
                    self.0.shape()
                ),
            );
        }
    }
}
