//! Row gathering (embedding lookup), concatenation and dropout.

use crate::scalar::Float;
use crate::tensor::Tensor;
use crate::tensor::rng::Rng;
use crate::tensor::storage;

impl<T: Float> Tensor<T> {
    /// Rows of a 2-D table picked by index: `[rows, d]` → `[indices.len(), d]`
    /// (an embedding lookup; PyTorch `table[indices]`).
    ///
    /// **Panics** if the tensor is not 2-D or an index is out of range.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let table = Tensor::from_vec(vec![0.0_f32, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2]);
    /// assert_eq!(table.gather_rows(&[2, 0]).to_vec(), [20.0, 21.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn gather_rows(&self, indices: &[usize]) -> Tensor<T> {
        let [rows, d] = *self.shape() else {
            panic!(
                "gather_rows: expected a 2-D table, got shape {:?}",
                self.shape()
            );
        };
        let xs = self.as_slice();
        let mut out = storage::take(indices.len() * d);
        for (r, &i) in indices.iter().enumerate() {
            assert!(
                i < rows,
                "gather_rows: index {i} out of range for a table of shape {:?}",
                self.shape()
            );
            out[r * d..(r + 1) * d].copy_from_slice(&xs[i * d..(i + 1) * d]);
        }
        Tensor::from_buffer(out, &[indices.len(), d])
    }

    /// `self` and `other` joined along `axis` (all other dimensions equal).
    ///
    /// **Panics** naming both shapes if they do not fit.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 3]);
    /// assert_eq!(a.concat(&Tensor::ones(&[2, 1]), 1).shape(), &[2, 4]);
    /// ```
    #[track_caller]
    pub fn concat(&self, other: &Tensor<T>, axis: usize) -> Tensor<T> {
        crate::tensor::or_panic(self.try_concat(other, axis))
    }

    /// [`Tensor::concat`], returning an error instead of panicking.
    pub fn try_concat(
        &self,
        other: &Tensor<T>,
        axis: usize,
    ) -> Result<Tensor<T>, crate::tensor::ShapeError> {
        let (a, b) = (self.shape(), other.shape());
        let fits =
            a.len() == b.len() && axis < a.len() && (0..a.len()).all(|d| d == axis || a[d] == b[d]);
        if !fits {
            return Err(crate::tensor::ShapeError {
                op: "concat",
                message: format!("shapes {a:?} and {b:?} do not join along axis {axis}"),
            });
        }
        let outer: usize = a[..axis].iter().product();
        let (ca, cb) = (
            a[axis..].iter().product::<usize>(),
            b[axis..].iter().product::<usize>(),
        );
        let (xa, xb) = (self.as_slice(), other.as_slice());
        let mut out = storage::take(xa.len() + xb.len());
        for o in 0..outer {
            let row = &mut out[o * (ca + cb)..(o + 1) * (ca + cb)];
            row[..ca].copy_from_slice(&xa[o * ca..(o + 1) * ca]);
            row[ca..].copy_from_slice(&xb[o * cb..(o + 1) * cb]);
        }
        let mut shape = a.to_vec();
        shape[axis] += b[axis];
        Ok(Tensor::from_buffer(out, &shape))
    }

    /// Inverted dropout: in training, each element is zeroed with
    /// probability `rate` and the others scaled by `1 / (1 − rate)`; outside
    /// training, the identity. The mask comes from `seed` alone (the same
    /// seed, the same mask), so differentiable code needs no mutable state:
    /// pass a fresh seed each step, e.g. from [`Rng::next_u64`].
    ///
    /// **Panics** if `rate` is not in `[0, 1)`.
    ///
    /// ```
    /// use adjoint_runtime::Tensor;
    /// let x = Tensor::<f32>::ones(&[1000]);
    /// let y = x.dropout(0.5, true, 7);
    /// let kept = y.as_slice().iter().filter(|&&v| v == 2.0).count();
    /// assert!((400..600).contains(&kept));
    /// assert_eq!(x.dropout(0.5, false, 7), x);
    /// ```
    #[track_caller]
    pub fn dropout(&self, rate: T, training: bool, seed: u64) -> Tensor<T> {
        if !training {
            return self.clone();
        }
        let mask = dropout_mask(self.len(), rate, seed);
        let data = self.as_slice().iter().zip(&mask).map(|(&x, &m)| x * m);
        Tensor::from_buffer(storage::collect(self.len(), data), self.shape())
    }
}

/// The scale of each element under dropout: `0` or `1 / (1 − rate)`.
#[track_caller]
fn dropout_mask<T: Float>(n: usize, rate: T, seed: u64) -> Vec<T> {
    let r = rate.to_f64();
    assert!(
        (0.0..1.0).contains(&r),
        "dropout: rate {r} is not in [0, 1)"
    );
    let keep = T::from_f64(1.0 / (1.0 - r));
    let mut rng = Rng::seed(seed);
    (0..n)
        .map(|_| if rng.uniform() < r { T::ZERO } else { keep })
        .collect()
}

/// The rule of [`Tensor::gather_rows`]: each gathered row's gradient is
/// added back to its row of the table (rows gathered twice get both).
pub fn gather_rows_vjp<T: Float>(
    dy: &Tensor<T>,
    table_shape: &[usize],
    indices: &[usize],
) -> Tensor<T> {
    let d = table_shape[1];
    let mut out = storage::take_zeroed(table_shape.iter().product());
    for (r, &i) in indices.iter().enumerate() {
        for (o, &g) in out[i * d..(i + 1) * d]
            .iter_mut()
            .zip(&dy.as_slice()[r * d..(r + 1) * d])
        {
            *o += g;
        }
    }
    Tensor::from_buffer(out, table_shape)
}

/// The rule of [`Tensor::concat`]: the gradient split back at the join.
pub fn concat_vjp<T: Float>(
    dy: &Tensor<T>,
    a_shape: &[usize],
    b_shape: &[usize],
    axis: usize,
) -> (Tensor<T>, Tensor<T>) {
    let outer: usize = a_shape[..axis].iter().product();
    let (ca, cb) = (
        a_shape[axis..].iter().product::<usize>(),
        b_shape[axis..].iter().product::<usize>(),
    );
    let d = dy.as_slice();
    let (mut ga, mut gb) = (storage::take(outer * ca), storage::take(outer * cb));
    for o in 0..outer {
        let row = &d[o * (ca + cb)..(o + 1) * (ca + cb)];
        ga[o * ca..(o + 1) * ca].copy_from_slice(&row[..ca]);
        gb[o * cb..(o + 1) * cb].copy_from_slice(&row[ca..]);
    }
    (
        Tensor::from_buffer(ga, a_shape),
        Tensor::from_buffer(gb, b_shape),
    )
}

/// The rule of [`Tensor::dropout`]: the same mask (from the same seed)
/// applied to the gradient.
pub fn dropout_vjp<T: Float>(dy: &Tensor<T>, rate: T, training: bool, seed: u64) -> Tensor<T> {
    if !training {
        return dy.clone();
    }
    let mask = dropout_mask(dy.len(), rate, seed);
    let data = dy.as_slice().iter().zip(&mask).map(|(&g, &m)| g * m);
    Tensor::from_buffer(storage::collect(dy.len(), data), dy.shape())
}
