//! `Buffer`: a tensor's elements, in memory aligned to 64 bytes.
//!
//! The matrix kernel (`ops::panel`) loads whole 64-byte vectors of `B`'s
//! rows. From a buffer that starts in the middle of a cache line, every one
//! of those loads spans two lines, and the kernel ran 11% slower for it
//! (a 12×32 tile in L1: 182 GFLOP/s aligned, 163 at a 16-byte offset).
//! A `Vec<f32>` is only as aligned as the allocator makes it (16 bytes with
//! glibc), and it cannot be given more: it frees its memory with `f32`'s
//! layout. So a buffer is a `Vec` of 64-byte lines, read as a slice of
//! elements. PyTorch aligns its CPU tensors to 64 bytes for the same reason.

use crate::scalar::Float;
use std::fmt;
use std::ops::{Deref, DerefMut};

/// Elements per line: 64 bytes of `f32`, 128 of `f64`.
const LINE: usize = 16;

/// One line of elements, 64-byte aligned. Its size is a multiple of its
/// alignment for `f32` and `f64`, so consecutive lines leave no gaps.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line<T>([T; LINE]);

/// A tensor's elements in row-major order, in memory aligned to 64 bytes;
/// read and written as a slice through `Deref`.
///
/// ```
/// use adjoint_runtime::tensor::buffer::Buffer;
/// let mut b = Buffer::from(vec![1.0_f32, 2.0, 3.0]);
/// b[0] = 5.0;
/// assert_eq!(&b[..], [5.0, 2.0, 3.0]);
/// assert_eq!(b.as_ptr() as usize % 64, 0);
/// ```
#[derive(Clone, Default)]
pub struct Buffer<T> {
    lines: Vec<Line<T>>,
    len: usize,
}

impl<T: Float> Buffer<T> {
    /// `len` zeros.
    ///
    /// ```
    /// let b = adjoint_runtime::tensor::buffer::Buffer::<f64>::zeroed(3);
    /// assert_eq!(&b[..], [0.0; 3]);
    /// ```
    pub fn zeroed(len: usize) -> Self {
        Buffer {
            lines: vec![Line([T::ZERO; LINE]); len.div_ceil(LINE)],
            len,
        }
    }

    /// A copy of `values`.
    ///
    /// ```
    /// let b = adjoint_runtime::tensor::buffer::Buffer::from_slice(&[1.0_f32, 2.0]);
    /// assert_eq!(b.len(), 2);
    /// ```
    pub fn from_slice(values: &[T]) -> Self {
        let mut b = Buffer::zeroed(values.len());
        b.copy_from_slice(values);
        b
    }

    /// The elements as a `Vec` (a copy).
    pub fn into_vec(self) -> Vec<T> {
        self.to_vec()
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: the lines are initialized, contiguous and without padding
        // between them (`Line` is `repr(C)` and its size is 64 or 128
        // bytes, a multiple of its alignment), and hold at least `len`
        // elements (`len.div_ceil(LINE)` lines).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T> DerefMut for Buffer<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the view unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Float> From<Vec<T>> for Buffer<T> {
    /// Copies the values into aligned memory.
    fn from(v: Vec<T>) -> Self {
        Buffer::from_slice(&v)
    }
}

impl<T: Float> From<&[T]> for Buffer<T> {
    fn from(v: &[T]) -> Self {
        Buffer::from_slice(v)
    }
}

impl<T: fmt::Debug> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Buffer<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_is_aligned_and_round_trips() {
        for len in [0, 1, 15, 16, 17, 100, 1000] {
            let v: Vec<f64> = (0..len).map(|i| i as f64 * 0.5).collect();
            let b = Buffer::from(v.clone());
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0, "len {len}");
            assert_eq!(b.clone().into_vec(), v);
            let z = Buffer::<f32>::zeroed(len);
            assert_eq!(z.as_ptr() as usize % 64, 0);
            assert!(z.iter().all(|&x| x == 0.0));
        }
    }
}
