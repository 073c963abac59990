//! Steps per second of one MLP training step — forward, mean softmax
//! cross-entropy, backward, Adam — the same math as
//! `../shared/peers/mlp_step.py`: He-normal weights, zero biases, one fixed
//! random batch, Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-8.
//! Prints one JSON line: the median of `--repeats` timings after a warm-up,
//! and GFLOP/s with FLOPs per step = 3 · 2 · batch · Σ(in · out), and memory
//! next to the issue's budget `budget_mb` (see `budget_mb`): `heap_peak_mb`,
//! the most bytes the heap held at once during one step (counted by this
//! example's allocator, so it leaves out code and the allocator's free
//! memory), and `step_peak_mb`, the peak resident size less what the
//! process held before the model existed.
//!
//! ```sh
//! cargo run --release --example bench_mlp -- --sizes 784,128,10 --batch 64 --threads 1 --steps 200
//! ```

mod cli;
#[path = "../benches/mlp_fns.rs"]
mod mlp_fns;

use mlp_fns::Problem;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting what passes through it: calls, bytes
/// live now, and the most bytes ever live at once (the heap's high-water
/// mark, which unlike the resident size leaves out code and the
/// allocator's retained free memory).
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(bytes: usize) {
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
        PEAK.fetch_max(live, Relaxed);
    }
}

// SAFETY: every call is passed to `System` unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Counting::grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Counting::grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Relaxed);
        Counting::grew(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// This process's CPU seconds (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A memory figure of this process in MB from `/proc/self/status`: `VmHWM`
/// (the peak resident size) or `VmRSS` (the resident size now).
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// The issue's memory budget for one step, in MB of `f32`s: the parameters,
/// their gradients and Adam's two moments (4 · params), the activations the
/// reverse sweep keeps (the input batch, which the first layer's weight
/// gradient reads, and each layer's output before and after its
/// activation), and one batch of scratch (the input batch's size again).
fn budget_mb(sizes: &[usize], batch: usize) -> f64 {
    let params: usize = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let outputs: usize = sizes[1..].iter().map(|&out| 2 * batch * out).sum();
    let activations = batch * sizes[0] + outputs;
    let scratch = batch * sizes[0];
    (4 * params + activations + scratch) as f64 * 4.0 / (1024.0 * 1024.0)
}

fn main() {
    let sizes: Vec<usize> = cli::flag("--sizes", "784,128,10".to_string())
        .split(',')
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| fail("--sizes takes numbers like 784,128,10"))
        })
        .collect();
    let (batch, threads, steps, repeats): (usize, usize, usize, usize) = (
        cli::flag("--batch", 64),
        cli::flag("--threads", 1),
        cli::flag("--steps", 200),
        cli::flag("--repeats", 7),
    );
    if sizes.len() < 2 || batch == 0 || threads == 0 || steps == 0 || repeats == 0 {
        fail("need at least two sizes and positive --batch, --threads, --steps, --repeats");
    }
    // Large products split over this many threads; with 1, everything runs
    // on the calling thread.
    adjoint::threads::set_count(threads);

    // What the process holds before the model and data exist (code,
    // libraries, the allocator's arenas): not the step's.
    let rss_before = status_mb("VmRSS:").unwrap_or(f64::NAN);
    let mut problem = Problem::new(&sizes, batch);
    let loss_first = problem.step();
    for _ in 0..steps.min(50) {
        problem.step();
    }
    let loss_after_warmup = problem.step();
    // One more step, counted: its allocator calls, and the heap's peak.
    let (allocs_before, live_before) = (ALLOCS.load(Relaxed), LIVE.load(Relaxed));
    PEAK.store(live_before, Relaxed);
    problem.step();
    let allocs_per_step = ALLOCS.load(Relaxed) - allocs_before;
    let heap_peak_mb = PEAK.load(Relaxed) as f64 / (1024.0 * 1024.0);
    let (c0, w0) = (cpu_seconds(), Instant::now());
    let mut rates = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..steps {
            problem.step();
        }
        rates.push(steps as f64 / t.elapsed().as_secs_f64());
    }
    let cpu_util = match (c0, cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / w0.elapsed().as_secs_f64(),
        _ => f64::NAN,
    };
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let flops: usize = 6 * batch * sizes.windows(2).map(|w| w[0] * w[1]).sum::<usize>();
    println!(
        "{{\"framework\":\"adjoint\",\"sizes\":{sizes:?},\"batch\":{batch},\"threads\":{threads},\"steps_per_s\":{median:.1},\"gflops\":{:.2},\"min_steps_per_s\":{:.1},\"max_steps_per_s\":{:.1},\"loss_first\":{loss_first:.6},\"loss_after_warmup\":{loss_after_warmup:.6},\"cpu_util\":{cpu_util:.3},\"peak_rss_mb\":{:.1},\"step_peak_mb\":{:.2},\"budget_mb\":{:.2},\"heap_peak_mb\":{heap_peak_mb:.2},\"allocs_per_step\":{allocs_per_step}}}",
        median * flops as f64 / 1e9,
        rates[0],
        rates[rates.len() - 1],
        status_mb("VmHWM:").unwrap_or(f64::NAN),
        status_mb("VmHWM:").unwrap_or(f64::NAN) - rss_before,
        budget_mb(&sizes, batch),
    );
}
