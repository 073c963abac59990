use std::arch::x86_64::*;
use std::time::Instant;
#[target_feature(enable = "avx512f")]
unsafe fn run(n: usize) -> f32 {
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let x = _mm512_set1_ps(1.0000001);
    let y = _mm512_set1_ps(0.9999999);
    for _ in 0..n {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(x, *a, y);
        }
    }
    let mut s = _mm512_setzero_ps();
    for a in acc {
        s = _mm512_add_ps(s, a);
    }
    _mm512_reduce_add_ps(s)
}
fn main() {
    for _ in 0..5 {
        let n = 50_000_000;
        let t = Instant::now();
        let r = unsafe { run(n) };
        let s = t.elapsed().as_secs_f64();
        println!("{:.1} GFLOP/s ({r})", (n * 12 * 32) as f64 / s / 1e9);
    }
}
