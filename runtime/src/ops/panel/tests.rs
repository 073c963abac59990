use super::*;

/// The naive product in f64, for comparison.
fn naive(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    rsb: usize,
) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                s += a[i * sa.0 + p * sa.1] as f64 * b[p * rsb + j] as f64;
            }
            c[i * n + j] = s as f32;
        }
    }
    c
}

/// `C` from one entry point, written (`sc: Some`) or gathered from the
/// visited blocks (`sc: None`, checking that each element comes once).
#[allow(clippy::too_many_arguments)]
fn run(
    entry: Entry,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    rsb: usize,
    sc: Option<(usize, usize)>,
    b_panels: Panels,
) -> Vec<f32> {
    let mut c = vec![f32::NAN; m * n];
    let mut buf = vec![f32::NAN; k * PANEL_MAX];
    let mut ops = Operands {
        k,
        a: a.as_ptr(),
        sa,
        b: b.as_ptr(),
        rsb,
        csb: 1,
        c: c.as_mut_ptr(),
        sc: sc.unwrap_or((n, 1)),
        b_panels: PanelsOfB::InPlace,
    };
    let packed = pack(&ops, n);
    match b_panels {
        Panels::InPlace => {}
        Panels::Copied => ops.b_panels = PanelsOfB::Copied(buf.as_mut_ptr()),
        Panels::Packed => {
            ops.b = packed.as_ptr();
            ops.rsb = PANEL_MAX;
            ops.b_panels = PanelsOfB::Packed;
        }
    }
    let Some(sc) = sc else {
        let mut seen = vec![0u8; m * n];
        let mut visit = |block: Block<'_, f32>| {
            for r in 0..block.rows {
                let (start, run) = block.run(r);
                for (j, &v) in run.iter().enumerate() {
                    seen[start + j] += 1;
                    c[start + j] = v;
                }
            }
        };
        assert!(blocks(entry, &ops, m, n, Visitor::One(&mut visit)));
        assert!(
            seen.iter().all(|&s| s == 1),
            "{m}x{k}x{n}: an element visited other than once"
        );
        return c;
    };
    // SAFETY: the caller checked the CPU's features, and every buffer
    // fits its strides.
    unsafe { entry(&ops, m, n) };
    (0..m * n)
        .map(|e| c[(e / n) * sc.0 + (e % n) * sc.1])
        .collect()
}

/// How a test's tiles read `B`.
#[derive(Clone, Copy, Debug)]
enum Panels {
    InPlace,
    Copied,
    Packed,
}

/// `B` with rows 4 KiB apart, which `gemm` copies panel by panel (and
/// packs whole for visited blocks), gives
/// the naive product written and visited.
#[test]
fn a_b_with_rows_4_kib_apart_is_copied_and_multiplies_the_same() {
    let (m, k, n, rsb) = (30, 9, 70, 1024);
    assert!(packs(k, rsb));
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * rsb).map(|i| (i % 5) as f32 * 0.5).collect();
    let want = naive(m, k, n, &a, (k, 1), &b, rsb);
    let Some(outputs) = every_output(m, k, n, &a, (k, 1), &b, (rsb, 1), &[1]) else {
        return; // neither AVX-512 nor AVX2 here
    };
    for (how, c) in outputs {
        assert_eq!(c, want, "{how}");
    }
}

/// `C` from [`gemm`], written with its panels shared out over each number
/// of `parts`, and visited in blocks, each with a label; `None` where the
/// CPU has neither AVX-512 nor AVX2.
#[allow(clippy::too_many_arguments)]
fn every_output(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    sb: (usize, usize),
    parts: &[usize],
) -> Option<Vec<(String, Vec<f32>)>> {
    let mut outputs = Vec::new();
    for &p in parts {
        let mut c = vec![f32::NAN; m * n];
        if !gemm(m, k, n, a, sa, b, sb, Out::Split(&mut c, (n, 1), p)) {
            return None;
        }
        outputs.push((format!("{m}x{k}x{n} over {p} threads"), c));
    }
    let mut visited = vec![f32::NAN; m * n];
    let mut visit = |block: Block<'_, f32>| {
        let (start, run) = block.run(0);
        visited[start..start + run.len()].copy_from_slice(run);
    };
    assert!(gemm(m, k, n, a, sa, b, sb, Out::Blocks(&mut visit)));
    outputs.push((format!("{m}x{k}x{n} visited"), visited));
    Some(outputs)
}

/// `B` read transposed (its columns contiguous, `sb = (1, csb)`) gives
/// the naive product: whole 16×16 blocks and the edges around them,
/// written, shared out over threads and visited.
#[test]
fn a_b_read_transposed_multiplies_the_same() {
    for (m, k, n) in [(13, 37, 70), (8, 32, 64), (5, 1, 9), (20, 100, 130)] {
        let csb = k + 3;
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let bt: Vec<f32> = (0..n * csb).map(|i| (i % 11) as f32 * 0.25).collect();
        // The same B, row-major, for the naive product.
        let rows: Vec<f32> = (0..k * n).map(|e| bt[(e % n) * csb + e / n]).collect();
        let want = naive(m, k, n, &a, (k, 1), &rows, n);
        let Some(outputs) = every_output(m, k, n, &a, (k, 1), &bt, (1, csb), &[1, 3]) else {
            return; // neither AVX-512 nor AVX2 here
        };
        for (how, c) in outputs {
            assert_eq!(c, want, "{how}");
        }
    }
    // Neither rows nor columns contiguous: left to the platform GEMM.
    let mut c = [0.0f32; 4];
    assert!(!gemm(
        2,
        2,
        2,
        &[0.0; 4],
        (2, 1),
        &[0.0; 9],
        (3, 2),
        Out::Matrix(&mut c, (2, 1))
    ));
}

/// A large `A` read down its columns (a weight gradient's `Xᵀ`), which
/// `gemm` copies to rows first, gives the naive product: written,
/// shared out over threads, and visited.
#[test]
fn a_large_a_read_down_its_columns_multiplies_the_same() {
    let (m, k, n) = (130, 131, 260);
    assert!(copies_a(m, k, n));
    let lda = m + 2;
    let a: Vec<f32> = (0..k * lda).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let want = naive(m, k, n, &a, (1, lda), &b, n);
    let Some(outputs) = every_output(m, k, n, &a, (1, lda), &b, (n, 1), &[1, 2]) else {
        return; // neither AVX-512 nor AVX2 here
    };
    for (how, c) in outputs {
        assert_eq!(c, want, "{how}");
    }
}

/// Blocks made by several threads at once (`Out::SharedBlocks`) cover
/// the naive product, every element once, for more threads than blocks
/// too.
#[test]
fn blocks_made_by_several_threads_cover_the_product_once() {
    use std::sync::Mutex;
    let (m, k, n) = (300, 20, 1100);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let want = naive(m, k, n, &a, (k, 1), &b, n);
    for parts in [1, 2, 3, 64] {
        let got = Mutex::new((vec![f32::NAN; m * n], vec![0u8; m * n]));
        let visit = |block: Block<'_, f32>| {
            let mut got = got.lock().unwrap();
            let (start, run) = block.run(0);
            got.0[start..start + run.len()].copy_from_slice(run);
            got.1[start..start + run.len()]
                .iter_mut()
                .for_each(|s| *s += 1);
        };
        if !gemm(
            m,
            k,
            n,
            &a,
            (k, 1),
            &b,
            (n, 1),
            Out::SharedBlocks(&visit, parts),
        ) {
            return; // neither AVX-512 nor AVX2 here
        }
        let (values, seen) = got.into_inner().unwrap();
        assert!(
            seen.iter().all(|&s| s == 1),
            "{parts} parts: every element once"
        );
        assert_eq!(values, want, "{parts} parts");
    }
}

/// A written product whose panels are shared out over threads gives the
/// naive product, for more threads than panels too, in both layouts of
/// `C`, with `B` copied (rows 4 KiB apart) or read in place.
#[test]
fn panels_shared_out_over_threads_multiply_the_same() {
    for (m, k, n, rsb) in [(30, 9, 200, 1024), (7, 5, 70, 1024), (13, 4, 150, 157)] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * rsb).map(|i| (i % 5) as f32 * 0.5).collect();
        let want = naive(m, k, n, &a, (k, 1), &b, rsb);
        for parts in [1, 2, 3, 8] {
            for sc in [(n, 1), (1, m)] {
                let mut c = vec![f32::NAN; m * n];
                let out = Out::Split(&mut c, sc, parts);
                if !gemm(m, k, n, &a, (k, 1), &b, (rsb, 1), out) {
                    return; // neither AVX-512 nor AVX2 here
                }
                let got: Vec<f32> = (0..m * n)
                    .map(|e| c[(e / n) * sc.0 + (e % n) * sc.1])
                    .collect();
                assert_eq!(got, want, "{m}x{k}x{n}, {parts} parts, C strides {sc:?}");
            }
        }
    }
}

/// Both instruction sets, every tile shape and remainder, both layouts
/// of A, B read in place, copied panel by panel or packed whole, and C
/// written in both layouts or visited, against the naive product.
#[test]
fn every_shape_matches_the_naive_product() {
    let value = |i: usize| ((i * 7919) % 23) as f32 / 11.0 - 1.0;
    let isas: [(bool, Entry); 2] = [
        (
            std::arch::is_x86_feature_detected!("avx512f"),
            products_avx512,
        ),
        (
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"),
            products_avx2,
        ),
    ];
    for (present, entry) in isas {
        if !present {
            continue;
        }
        for m in [1, 2, 3, 5, 7, 13, 25, 64, 300] {
            for n in [1, 7, 10, 16, 17, 33, 48, 63, 64, 65, 130] {
                for k in [0, 1, 9, 40] {
                    let a: Vec<f32> = (0..m * k).map(value).collect();
                    let b: Vec<f32> = (0..k * (n + 3)).map(|i| value(i + 5)).collect();
                    for sa in [(k, 1), (1, m)] {
                        let want = naive(m, k, n, &a, sa, &b, n + 3);
                        for (sc, panels) in [
                            (Some((n, 1)), Panels::InPlace),
                            (Some((n, 1)), Panels::Copied),
                            (Some((n, 1)), Panels::Packed),
                            (Some((1, m)), Panels::InPlace),
                            (Some((1, m)), Panels::Copied),
                            // Visited blocks always read B packed.
                            (None, Panels::InPlace),
                        ] {
                            let got = run(entry, m, k, n, &a, sa, &b, n + 3, sc, panels);
                            for (e, (got, want)) in got.iter().zip(&want).enumerate() {
                                assert!(
                                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                    "{m}x{k}x{n} sa {sa:?} sc {sc:?} {panels:?} \
                                     at {e}: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
