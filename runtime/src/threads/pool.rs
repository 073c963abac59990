//! The workers behind [`super::for_each_part`]: threads started once, that
//! sleep until a call hands them its parts.
//!
//! A call publishes a job (its parts are indices `0..len` of a function it
//! borrows), wakes the workers, and claims parts itself too; each part is
//! claimed once, by whoever gets there first. The call returns only when
//! every part is done, so no worker runs a part after the function it
//! borrows is gone. A second call made while a job runs (from another
//! thread, or from inside a part) runs its parts on its own thread.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// One call's parts.
struct Job {
    /// The call's function, its lifetime erased: valid while `done < len`.
    part: *const (dyn Fn(usize) + Sync),
    len: usize,
    /// The next part to claim.
    next: AtomicUsize,
    /// Parts finished.
    done: AtomicUsize,
    /// The first panic of a part, raised again by the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `part` points to a `Sync` function that the caller keeps alive
// until every part is done (see `run`); the rest is atomics and a mutex.
unsafe impl Send for Job {}
// SAFETY: as for `Send`.
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs parts until none is left.
    fn work(&self, pool: &Pool) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.len {
                return;
            }
            // SAFETY: part i was unclaimed, so `done < len` and the caller
            // is still waiting: the function is alive.
            let run = || unsafe { (*self.part)(i) };
            if let Err(panic) = catch_unwind(AssertUnwindSafe(run)) {
                lock(&self.panic).get_or_insert(panic);
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.len {
                // Under the lock, so that the caller cannot miss it between
                // its check and its wait.
                let _state = lock(&pool.state);
                pool.finished.notify_all();
            }
        }
    }
}

struct State {
    job: Option<Arc<Job>>,
    /// Counts jobs published, so that a worker takes each job once.
    generation: u64,
}

struct Pool {
    state: Mutex<State>,
    /// Workers wait here for a job.
    wake: Condvar,
    /// The caller waits here for its parts.
    finished: Condvar,
    /// A job is running.
    busy: AtomicBool,
    /// Workers started.
    workers: AtomicUsize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// A lock that a panic elsewhere does not poison for us.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `part(0)` .. `part(len - 1)` on this thread and up to
/// [`super::count`] − 1 workers; returns when all are done, raising the
/// first panic of a part.
pub(super) fn run(len: usize, part: &(dyn Fn(usize) + Sync)) {
    let pool = POOL.get_or_init(|| Pool {
        state: Mutex::new(State {
            job: None,
            generation: 0,
        }),
        wake: Condvar::new(),
        finished: Condvar::new(),
        busy: AtomicBool::new(false),
        workers: AtomicUsize::new(0),
    });
    if pool.busy.swap(true, Ordering::Acquire) {
        (0..len).for_each(part);
        return;
    }
    start_workers(pool, super::count().saturating_sub(1));
    // SAFETY: only the lifetime is erased; this function returns only
    // after `done == len`, and no worker calls `part` after that.
    let part: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(part) };
    let job = Arc::new(Job {
        part,
        len,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panic: Mutex::new(None),
    });
    {
        let mut state = lock(&pool.state);
        state.job = Some(Arc::clone(&job));
        state.generation += 1;
    }
    pool.wake.notify_all();
    job.work(pool);
    let mut state = lock(&pool.state);
    while job.done.load(Ordering::Acquire) < len {
        state = pool.finished.wait(state).unwrap_or_else(|e| e.into_inner());
    }
    state.job = None;
    drop(state);
    pool.busy.store(false, Ordering::Release);
    if let Some(panic) = lock(&job.panic).take() {
        resume_unwind(panic);
    }
}

/// Starts workers until there are `n`.
fn start_workers(pool: &'static Pool, n: usize) {
    while pool.workers.load(Ordering::Relaxed) < n {
        pool.workers.fetch_add(1, Ordering::Relaxed);
        let seen = lock(&pool.state).generation;
        std::thread::Builder::new()
            .name("adjoint-worker".into())
            .spawn(move || worker(pool, seen))
            .expect("adjoint: could not start a worker thread");
    }
}

/// A worker: waits for each new job and works on it.
fn worker(pool: &'static Pool, mut seen: u64) {
    loop {
        let job = {
            let mut state = lock(&pool.state);
            while state.generation == seen {
                state = pool.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            seen = state.generation;
            state.job.clone()
        };
        if let Some(job) = job {
            job.work(pool);
        }
    }
}
