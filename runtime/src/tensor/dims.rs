//! A tensor's shape, stored inline up to four dimensions.
//!
//! A training step makes hundreds of short-lived tensors; with the shape in a
//! `Vec`, each one cost an allocation of its own (180 of the 784-10-10
//! step's 289 allocator calls). Shapes of up to [`INLINE`] dimensions, which
//! is every shape in a dense or convolutional network, live inside the
//! tensor instead.

use std::fmt;
use std::ops::Deref;

/// Dimensions held without an allocation.
const INLINE: usize = 4;

/// The dimensions of a shape, outermost first (read through `Deref` as a
/// `&[usize]`).
#[derive(Clone)]
pub(crate) enum Dims {
    /// Up to [`INLINE`] dimensions; the first `len` of `dims` are used.
    Inline { len: u8, dims: [usize; INLINE] },
    /// More dimensions than fit inline.
    Heap(Box<[usize]>),
}

impl Dims {
    pub(crate) fn new(shape: &[usize]) -> Dims {
        if shape.len() <= INLINE {
            let mut dims = [0; INLINE];
            dims[..shape.len()].copy_from_slice(shape);
            Dims::Inline {
                len: shape.len() as u8,
                dims,
            }
        } else {
            Dims::Heap(shape.into())
        }
    }
}

impl Deref for Dims {
    type Target = [usize];
    #[inline]
    fn deref(&self) -> &[usize] {
        match self {
            Dims::Inline { len, dims } => &dims[..*len as usize],
            Dims::Heap(dims) => dims,
        }
    }
}

impl PartialEq for Dims {
    fn eq(&self, other: &Dims) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::Dims;

    #[test]
    fn inline_and_heap_shapes_read_back_and_compare_by_value() {
        for shape in [&[][..], &[3], &[2, 3, 4, 5], &[1, 2, 3, 4, 5, 6]] {
            let dims = Dims::new(shape);
            assert_eq!(&*dims, shape);
            assert_eq!(dims, Dims::new(shape));
            assert_eq!(format!("{dims:?}"), format!("{shape:?}"));
        }
        assert!(matches!(Dims::new(&[1, 2, 3, 4, 5]), Dims::Heap(_)));
        assert_ne!(Dims::new(&[2, 3]), Dims::new(&[2, 3, 1]));
    }
}
