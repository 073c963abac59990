//! One MLP training step (forward, softmax cross-entropy, backward, Adam) at
//! the sizes of the speed issue, with criterion, at one thread. Run with
//! `cargo bench --bench mlp_step`. `examples/bench_mlp.rs` times the same
//! step as JSON, for the side-by-side runs with the peers
//! (`benches/compare_peers.py`); on a shared machine prefer that one.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "mlp_fns.rs"]
mod mlp_fns;
use mlp_fns::Problem;

fn benches(c: &mut Criterion) {
    adjoint::threads::set_count(1);
    let configs: [(&[usize], usize); 4] = [
        (&[784, 10, 10], 64),
        (&[784, 128, 10], 64),
        (&[784, 128, 10], 128),
        (&[784, 1024, 1024, 10], 256),
    ];
    let mut group = c.benchmark_group("mlp_step");
    for (sizes, batch) in configs {
        let mut p = Problem::new(sizes, batch);
        let id = format!(
            "{}_b{batch}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-")
        );
        if sizes.len() > 3 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("adjoint", id), &(), |b, _| {
            b.iter(|| black_box(p.step()))
        });
    }
    group.finish();
}

criterion_group!(mlp, benches);
criterion_main!(mlp);
