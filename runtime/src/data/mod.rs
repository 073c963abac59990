//! Data: the MNIST IDX format (plain or gzip) and seeded, shuffled batches.

mod batches;
mod idx;

pub use batches::Batches;
pub use idx::{IdxError, Mnist, read_idx};
