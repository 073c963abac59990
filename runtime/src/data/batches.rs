//! Seeded, shuffled mini-batches of example indices.

use crate::tensor::rng::Rng;

/// The example indices of one epoch in batches, shuffled by a seed (the same
/// seed, the same order); the last batch may be smaller.
///
/// ```
/// use adjoint_runtime::data::Batches;
/// let batches: Vec<Vec<usize>> = Batches::new(10, 4, Some(1)).collect();
/// assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
/// let mut all: Vec<usize> = batches.concat();
/// all.sort();
/// assert_eq!(all, (0..10).collect::<Vec<_>>());
/// ```
pub struct Batches {
    order: Vec<usize>,
    size: usize,
    at: usize,
}

impl Batches {
    /// Batches of `size` over `0..n`, shuffled by `seed` (or in order).
    ///
    /// **Panics** if `size` is 0.
    #[track_caller]
    pub fn new(n: usize, size: usize, seed: Option<u64>) -> Batches {
        assert!(size > 0, "Batches::new: the batch size must be positive");
        let mut order: Vec<usize> = (0..n).collect();
        if let Some(seed) = seed {
            Rng::seed(seed).shuffle(&mut order);
        }
        Batches { order, size, at: 0 }
    }

    /// The number of batches.
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.size)
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Iterator for Batches {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        if self.at >= self.order.len() {
            return None;
        }
        let end = (self.at + self.size).min(self.order.len());
        let batch = self.order[self.at..end].to_vec();
        self.at = end;
        Some(batch)
    }
}
