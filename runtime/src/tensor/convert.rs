//! Conversions between `Tensor` and `ndarray` arrays (feature `ndarray`).

use super::Tensor;
use crate::scalar::Float;
use ndarray::{ArrayD, IxDyn};

impl<T: Float> Tensor<T> {
    /// A copy as an `ndarray` array of the same shape.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let t = Tensor::from_vec(vec![1.0_f32, 2.0, 3.0, 4.0], &[2, 2]);
    /// let a = t.to_ndarray();
    /// assert_eq!(a[[1, 0]], 3.0);
    /// assert_eq!(Tensor::from(a), t);
    /// ```
    pub fn to_ndarray(&self) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(self.shape()), self.to_vec())
            .expect("a tensor's length is the product of its shape")
    }
}

/// Any `ndarray` array, in any memory layout, read in logical row-major order.
impl<T: Float, D: ndarray::Dimension> From<ndarray::Array<T, D>> for Tensor<T> {
    fn from(a: ndarray::Array<T, D>) -> Tensor<T> {
        Tensor::from(a.view())
    }
}

/// A borrowed `ndarray` view, copied.
impl<T: Float, D: ndarray::Dimension> From<ndarray::ArrayView<'_, T, D>> for Tensor<T> {
    fn from(a: ndarray::ArrayView<'_, T, D>) -> Tensor<T> {
        let data = super::storage::collect(a.len(), a.iter().copied());
        Tensor::from_buffer(data, a.shape())
    }
}
