//! Classification metrics.

use crate::scalar::Float;
use crate::tensor::Tensor;
use std::fmt;

/// The predicted class of each row of `logits` (`[n, classes]`).
///
/// ```
/// use adjoint_runtime::{Tensor, metrics::argmax_rows};
/// let l = Tensor::from_vec(vec![0.1_f32, 0.9, 0.8, 0.2], &[2, 2]);
/// assert_eq!(argmax_rows(&l), [1, 0]);
/// ```
pub fn argmax_rows<T: Float>(logits: &Tensor<T>) -> Vec<usize> {
    let c = *logits.shape().last().unwrap_or(&1);
    logits
        .as_slice()
        .chunks(c.max(1))
        .map(|row| (1..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }))
        .collect()
}

/// The fraction of predictions equal to the labels.
///
/// **Panics** if the lengths differ.
///
/// ```
/// assert_eq!(adjoint_runtime::metrics::accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]), 0.75);
/// ```
#[track_caller]
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    assert_eq!(
        predicted.len(),
        labels.len(),
        "accuracy: {} predictions for {} labels",
        predicted.len(),
        labels.len()
    );
    if labels.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

/// Counts of (true class, predicted class) pairs; `Display` prints the table
/// with true classes as rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// The matrix for `classes` classes.
    ///
    /// **Panics** if a class is out of range or the lengths differ.
    ///
    /// ```
    /// use adjoint_runtime::metrics::ConfusionMatrix;
    /// let m = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 0], 2);
    /// // true 0 predicted 0, true 1 predicted 1, true 0 predicted 1
    /// assert_eq!(m.counts, [[1, 1], [0, 1]]);
    /// ```
    #[track_caller]
    pub fn new(predicted: &[usize], labels: &[usize], classes: usize) -> ConfusionMatrix {
        assert_eq!(
            predicted.len(),
            labels.len(),
            "ConfusionMatrix: {} predictions for {} labels",
            predicted.len(),
            labels.len()
        );
        let mut counts = vec![vec![0; classes]; classes];
        for (&p, &l) in predicted.iter().zip(labels) {
            assert!(
                p < classes && l < classes,
                "ConfusionMatrix: class {} out of range for {classes} classes",
                p.max(l)
            );
            counts[l][p] += 1;
        }
        ConfusionMatrix { counts }
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let n = self.counts.len();
        write!(f, "true\\pred")?;
        for p in 0..n {
            write!(f, "{p:>6}")?;
        }
        writeln!(f)?;
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "{t:>9}")?;
            for c in row {
                write!(f, "{c:>6}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
