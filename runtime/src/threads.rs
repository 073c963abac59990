//! How many threads the runtime's large matrix products (and Adam's updates
//! of large leaves) use, and how work is split over them.
//!
//! One by default, so that a program gets threads only when it asks. The
//! count comes from [`set_count`], or else from the `MATMUL_NUM_THREADS`
//! environment variable at the first product (the name matrixmultiply reads,
//! kept so that existing scripts still work). Only products of a few million
//! multiply-adds or more are split: below that, starting threads costs more
//! than it saves.

use std::sync::atomic::{AtomicUsize, Ordering};

/// 0 until the count is known.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// The number of threads large products are split over (at least 1).
///
/// ```
/// adjoint_runtime::threads::set_count(2);
/// assert_eq!(adjoint_runtime::threads::count(), 2);
/// ```
pub fn count() -> usize {
    match COUNT.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("MATMUL_NUM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            COUNT.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Sets the number of threads for large products (0 is taken as 1).
pub fn set_count(n: usize) {
    COUNT.store(n.max(1), Ordering::Relaxed);
}

/// Runs `work` on every part: the first on this thread, the others each on
/// a thread of its own; returns when all are done. (A pool of workers that
/// outlive the call, rayon's, measured no faster on 784-1024-1024-10 at two
/// threads: 69 steps/s either way.)
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let sum = AtomicUsize::new(0);
/// adjoint_runtime::threads::for_each_part(1..=4, |i| {
///     sum.fetch_add(i, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 10);
/// ```
pub fn for_each_part<P: Send>(parts: impl IntoIterator<Item = P>, work: impl Fn(P) + Sync) {
    let work = &work;
    std::thread::scope(|s| {
        let mut parts = parts.into_iter();
        let first = parts.next();
        for part in parts {
            s.spawn(move || work(part));
        }
        if let Some(part) = first {
            work(part);
        }
    });
}
