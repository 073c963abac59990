//! How many threads the runtime's large matrix products (and Adam's updates
//! of large leaves) use, and how work is split over them.
//!
//! One by default, so that a program gets threads only when it asks. The
//! count comes from [`set_count`], or else from the `MATMUL_NUM_THREADS`
//! environment variable at the first product (the name matrixmultiply reads,
//! kept so that existing scripts still work). Only products of a few million
//! multiply-adds or more are split: below that, starting threads costs more
//! than it saves.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

mod pool;

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

/// Runs `work` on every part, on this thread and the pool's workers at once;
/// returns when all are done. A panic in any part is raised here, after
/// every part has stopped.
///
/// The workers are started at the first call and then wait for work (a
/// thread started per call cost 40–65 µs here, and its buffer pool started
/// empty each time).
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
    let parts: Vec<Mutex<Option<P>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    if parts.len() <= 1 {
        let part = parts.into_iter().next().map(Mutex::into_inner);
        if let Some(Ok(Some(part))) = part {
            work(part);
        }
        return;
    }
    let run = |i: usize| {
        let part = parts[i].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(part) = part {
            work(part);
        }
    };
    pool::run(parts.len(), &run);
}
