//! Running a loop with the widest vector instructions the CPU has.
//!
//! A default `cargo build --release` targets baseline x86-64 (SSE2, four
//! `f32` lanes). [`widest`] runs a closure inside a function compiled for
//! AVX-512 or AVX2 (chosen at run time, once: std caches the CPU check), so
//! that a loop inlined there vectorizes sixteen or eight lanes wide. The
//! arithmetic is the same IEEE operations at any width (Rust never fuses a
//! multiply and an add on its own), so results do not depend on the CPU.

/// Runs `f`, compiled for AVX-512 or AVX2 where the CPU has them. Mark the
/// closure `#[inline(always)]`: only code inlined into the wrappers below is
/// compiled with their instruction sets.
///
/// ```
/// let xs = vec![1.0_f32; 1000];
/// let total: f32 = adjoint_runtime::simd::widest(#[inline(always)] || xs.iter().sum());
/// assert_eq!(total, 1000.0);
/// ```
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
