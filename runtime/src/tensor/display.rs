//! `Display` and `Debug`: nested brackets like NumPy's, at most 6 values per
//! dimension (first 3, `...`, last 3), then the shape.

use super::Tensor;
use crate::scalar::Float;
use std::fmt;

fn write_dim<T: Float>(
    f: &mut fmt::Formatter,
    data: &[T],
    shape: &[usize],
    indent: usize,
) -> fmt::Result {
    let Some((&n, rest)) = shape.split_first() else {
        return write!(f, "{:.4}", data[0]);
    };
    let step: usize = rest.iter().product();
    let shown: Vec<usize> = if n > 6 {
        (0..3).chain(n - 3..n).collect()
    } else {
        (0..n).collect()
    };
    write!(f, "[")?;
    for (k, &i) in shown.iter().enumerate() {
        if k > 0 {
            if rest.is_empty() {
                write!(f, ", ")?;
            } else {
                write!(f, ",\n{}", " ".repeat(indent + 1))?;
            }
        }
        if n > 6 && k == 3 {
            write!(f, "...")?;
            if rest.is_empty() {
                write!(f, ", ")?;
            } else {
                write!(f, ",\n{}", " ".repeat(indent + 1))?;
            }
        }
        write_dim(f, &data[i * step..(i + 1) * step], rest, indent + 1)?;
    }
    write!(f, "]")
}

/// ```
/// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f32, 2.0, 3.0, 4.0], &[2, 2]);
/// assert_eq!(t.to_string(), "[[1.0000, 2.0000],\n [3.0000, 4.0000]] shape=[2, 2]");
/// ```
impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_empty() {
            write!(f, "[]")?;
        } else {
            write_dim(f, self.as_slice(), self.shape(), 0)?;
        }
        write!(f, " shape={:?}", self.shape())
    }
}

/// ```
/// let t = adjoint_runtime::Tensor::from_vec(vec![1.0_f64], &[1]);
/// assert_eq!(format!("{t:?}"), "Tensor<f64>([1.0000] shape=[1])");
/// ```
impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Tensor<{}>({self})", std::any::type_name::<T>())
    }
}
