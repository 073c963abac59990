//! `Tensor`: an n-dimensional, row-major array of `f32` (the default) or `f64`.
//!
//! Storage is one contiguous buffer behind an `Arc`: tensors are values that
//! differentiable code passes around, saves for the reverse sweep and clones,
//! so a clone only bumps a count (like `torch.Tensor`, unlike `ndarray::Array`).
//! Writing into a shared buffer copies it first (`as_mut_slice`).
//!
//! ```
//! use adjoint_runtime::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! assert_eq!(x.shape(), &[2, 3]);
//! assert_eq!((&x + 1.0).to_vec(), [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
//! ```

pub mod buffer;
#[cfg(feature = "ndarray")]
mod convert;
mod dims;
mod display;
mod error;
pub use error::ShapeError;
pub(crate) use error::or_panic;
pub mod rng;
pub mod shape;
pub mod storage;

use crate::scalar::Float;
use buffer::Buffer;
use dims::Dims;
use std::sync::Arc;
use storage::Data;

/// An n-dimensional, row-major array; see the [module docs](self).
#[derive(Clone)]
pub struct Tensor<T: Float = f32> {
    data: Arc<Data<T>>,
    shape: Dims,
}

impl<T: Float> Tensor<T> {
    /// A tensor holding `data` in row-major order with the given shape. The
    /// values are copied into memory aligned for the vector kernels (see
    /// [`buffer`]); [`Tensor::from_buffer`] takes a [`Buffer`] as it is.
    ///
    /// **Panics** if `data.len()` is not the product of `shape`.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f64, 2.0], &[2, 1]);
    /// assert_eq!(t.shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        or_panic(Tensor::try_from_vec(data, shape))
    }

    /// [`Tensor::from_vec`], returning an error instead of panicking.
    ///
    /// ```
    /// let e = adjoint_runtime::Tensor::<f32>::try_from_vec(vec![0.0; 5], &[2, 3]).unwrap_err();
    /// assert_eq!(e.to_string(), "Tensor::from_vec: 5 values do not fill shape [2, 3] (6 values)");
    /// ```
    pub fn try_from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self, ShapeError> {
        fills("Tensor::from_vec", data.len(), shape)?;
        Ok(Tensor::ready(Buffer::from(data), shape))
    }

    /// A tensor holding the values of `data` in row-major order with the
    /// given shape, without a copy.
    ///
    /// **Panics** if `data.len()` is not the product of `shape`.
    ///
    /// ```
    /// use adjoint_runtime::{Tensor, tensor::buffer::Buffer};
    /// let t = Tensor::from_buffer(Buffer::from_slice(&[1.0_f32, 2.0]), &[1, 2]);
    /// assert_eq!(t.to_vec(), [1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn from_buffer(data: Buffer<T>, shape: &[usize]) -> Self {
        or_panic(fills("Tensor::from_buffer", data.len(), shape));
        Tensor::ready(data, shape)
    }

    /// A tensor of `data`, whose length the caller has checked.
    fn ready(data: Buffer<T>, shape: &[usize]) -> Self {
        Tensor {
            data: Arc::new(Data::Ready(data)),
            shape: Dims::new(shape),
        }
    }

    /// A tensor whose values `f` computes when they are first read, and never
    /// if the tensor is dropped unread (see [`storage`]). Rules use it for
    /// gradients their caller may not need.
    ///
    /// **Panics** at the first read if `f` returns other than
    /// `shape.iter().product()` values.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let t = Tensor::<f32>::deferred(&[2], || vec![1.0, 2.0]);
    /// assert_eq!(t.to_vec(), [1.0, 2.0]);
    /// ```
    pub fn deferred<V: Into<Buffer<T>>>(
        shape: &[usize],
        f: impl FnOnce() -> V + Send + 'static,
    ) -> Self {
        Tensor {
            data: Arc::new(Data::deferred(shape.iter().product(), || f().into(), None)),
            shape: Dims::new(shape),
        }
    }

    /// [`Tensor::deferred`], with a second way to make the same values:
    /// `stream` hands them to a visitor block by block, without a buffer, for
    /// [`Tensor::for_each_block`]. It returns `false`, having visited
    /// nothing, where it cannot; the values are then made by `f`.
    pub(crate) fn deferred_streaming(
        shape: &[usize],
        f: impl FnOnce() -> Buffer<T> + Send + 'static,
        stream: storage::Stream<T>,
    ) -> Self {
        Tensor {
            data: Arc::new(Data::deferred(shape.iter().product(), f, Some(stream))),
            shape: Dims::new(shape),
        }
    }

    /// Calls `visit` on blocks of this tensor's values that together cover
    /// every element once, in an unspecified order. A deferred weight
    /// gradient (from [`matmul_vjp`](crate::ops::linalg::matmul_vjp)) is
    /// computed block by block straight into `visit` and not kept, so a
    /// consumer that needs each value once (Adam's update) reads it while it
    /// is in cache, and no buffer for it is written. Any other tensor is
    /// visited as one block.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32, 2.0, 3.0], &[3]);
    /// let mut sum = 0.0;
    /// t.for_each_block(|block| {
    ///     for r in 0..block.rows {
    ///         sum += block.run(r).1.iter().sum::<f32>();
    ///     }
    /// });
    /// assert_eq!(sum, 6.0);
    /// ```
    pub fn for_each_block(&self, mut visit: impl FnMut(storage::Block<'_, T>)) {
        self.data.stream(storage::Visitor::One(&mut visit));
    }

    /// [`Tensor::for_each_block`] on `threads` threads at once: `visit` is
    /// called concurrently, on blocks that are disjoint and together cover
    /// every element once. A deferred weight gradient is made by the
    /// threads, each making and visiting its own blocks of rows; any other
    /// tensor is visited in one contiguous part per thread.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32; 1000], &[1000]);
    /// let seen = AtomicUsize::new(0);
    /// t.for_each_block_shared(2, |block| {
    ///     seen.fetch_add(block.rows * block.cols, Ordering::Relaxed);
    /// });
    /// assert_eq!(seen.into_inner(), 1000);
    /// ```
    pub fn for_each_block_shared(
        &self,
        threads: usize,
        visit: impl Fn(storage::Block<'_, T>) + Sync,
    ) {
        self.data
            .stream(storage::Visitor::Shared(&visit, threads.max(1)));
    }

    /// True for a tensor made by [`Tensor::zeros`] (whose values are made
    /// only if read): adding into it can take the other operand instead.
    pub fn is_known_zero(&self) -> bool {
        self.data.is_zero()
    }

    /// A tensor of the given shape filled with `value`.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::full(&[2, 2], 7.0_f32);
    /// assert_eq!(t.to_vec(), [7.0; 4]);
    /// ```
    pub fn full(shape: &[usize], value: T) -> Self {
        let mut data = storage::take(shape.iter().product());
        data.fill(value);
        Tensor::ready(data, shape)
    }

    /// Zeros of the given shape.
    ///
    /// ```
    /// assert_eq!(adjoint_runtime::Tensor::<f32>::zeros(&[3]).to_vec(), [0.0; 3]);
    /// ```
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            data: Arc::new(Data::zeros(shape.iter().product())),
            shape: Dims::new(shape),
        }
    }

    /// Ones of the given shape.
    ///
    /// ```
    /// assert_eq!(adjoint_runtime::Tensor::<f64>::ones(&[2]).to_vec(), [1.0; 2]);
    /// ```
    pub fn ones(shape: &[usize]) -> Self {
        Tensor::full(shape, T::ONE)
    }

    /// A 0-dimensional tensor holding one value.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::scalar(2.5_f32);
    /// assert_eq!((t.shape(), t.item()), (&[][..], 2.5));
    /// ```
    pub fn scalar(value: T) -> Self {
        Tensor::ready(Buffer::from_slice(&[value]), &[])
    }

    /// Zeros shaped like `self`.
    pub fn zeros_like(&self) -> Self {
        Tensor::zeros(&self.shape)
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in row-major order.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.data.values()
    }

    /// The elements in row-major order, for writing. The buffer is copied
    /// first if another tensor shares it.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        if Arc::get_mut(&mut self.data).is_none() {
            let copy = storage::collect(self.len(), self.as_slice().iter().copied());
            self.data = Arc::new(Data::Ready(copy));
        }
        Arc::get_mut(&mut self.data)
            .expect("unshared after the copy")
            .values_mut()
    }

    /// The elements in row-major order, as a new `Vec`.
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().to_vec()
    }

    /// The elements as a `Vec` (a copy: a `Vec` cannot own the aligned
    /// buffer, which goes back to the pool).
    pub fn into_vec(self) -> Vec<T> {
        self.to_vec()
    }

    /// The elements' buffer, without a copy when no other tensor shares it.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32, 2.0], &[2]);
    /// assert_eq!(&t.into_buffer()[..], [1.0, 2.0]);
    /// ```
    pub fn into_buffer(self) -> Buffer<T> {
        match Arc::try_unwrap(self.data) {
            Ok(data) => data.into_buffer(),
            Err(shared) => Buffer::from_slice(shared.values()),
        }
    }

    /// The one value of a tensor with one element (any shape).
    ///
    /// **Panics** if the tensor has more or fewer than one element.
    #[track_caller]
    pub fn item(&self) -> T {
        assert!(
            self.data.len() == 1,
            "Tensor::item: a tensor of shape {:?} has {} values, not one",
            self.shape,
            self.data.len()
        );
        self.as_slice()[0]
    }

    /// The same values with another shape of the same size (`reshape`), sharing
    /// the buffer.
    ///
    /// **Panics** if the sizes differ.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::<f32>::zeros(&[2, 3]).reshape(&[3, 2]);
    /// assert_eq!(t.shape(), &[3, 2]);
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        or_panic(self.try_reshape(shape))
    }

    /// [`Tensor::reshape`], returning an error instead of panicking.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Self, ShapeError> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(ShapeError {
                op: "reshape",
                message: format!(
                    "cannot view shape {:?} ({} values) as {shape:?} ({n} values)",
                    self.shape,
                    self.len()
                ),
            });
        }
        Ok(Tensor {
            data: Arc::clone(&self.data),
            shape: Dims::new(shape),
        })
    }

    /// Elementwise `f(x)`.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        let values = storage::collect(self.len(), self.as_slice().iter().map(|&x| f(x)));
        Tensor {
            data: Arc::new(Data::Ready(values)),
            shape: self.shape.clone(),
        }
    }

    /// Elementwise `f(a, b)` of two tensors of the same shape.
    ///
    /// **Panics** if the shapes differ (`op` names the operation).
    #[track_caller]
    pub fn zip_map(&self, other: &Self, op: &str, f: impl Fn(T, T) -> T) -> Self {
        assert!(
            self.shape == other.shape,
            "{op}: shapes {:?} and {:?} differ",
            self.shape,
            other.shape
        );
        let values = storage::collect(
            self.len(),
            self.as_slice()
                .iter()
                .zip(other.as_slice())
                .map(|(&a, &b)| f(a, b)),
        );
        Tensor {
            data: Arc::new(Data::Ready(values)),
            shape: self.shape.clone(),
        }
    }

    /// Converts every element to another float type.
    ///
    /// ```
    /// let t = adjoint_runtime::Tensor::from_vec(vec![1.5_f32], &[1]);
    /// assert_eq!(t.cast::<f64>().to_vec(), [1.5]);
    /// ```
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        let values = self.as_slice().iter().map(|x| U::from_f64(x.to_f64()));
        Tensor::ready(storage::collect(self.len(), values), &self.shape)
    }
}

/// `Ok` if `len` values fill `shape`, else the error `op` reports.
fn fills(op: &'static str, len: usize, shape: &[usize]) -> Result<(), ShapeError> {
    let n: usize = shape.iter().product();
    if len == n {
        return Ok(());
    }
    Err(ShapeError {
        op,
        message: format!("{len} values do not fill shape {shape:?} ({n} values)"),
    })
}

impl<T: Float> PartialEq for Tensor<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.as_slice() == other.as_slice()
    }
}
