//! Writes `$OUT_DIR/programs.rs`: `ADJOINT_GEN_COUNT` random scalar programs
//! (default 200) from `ADJOINT_GEN_SEED` (default 0), each marked
//! `#[differentiable]`, with a table the test walks. Inputs stay inside each
//! operation's domain by construction (`ln` of `e² + 1`, `asin` of
//! `0.9·tanh(e)`, a quotient's denominator `e² + 1`, ...).

use std::fmt::Write;

/// SplitMix64: a seed is all it takes to rebuild the same programs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const HELPERS: usize = 3;

/// An expression over `vars` (and `xs[idx]` for the given index names).
fn expr(r: &mut Rng, depth: usize, vars: &[String], idx: &[&str]) -> String {
    if depth == 0 || r.below(4) == 0 {
        return match r.below(6) {
            0 => format!("{:.2}_f64", 0.2 + r.below(150) as f64 / 100.0),
            1 => {
                let i = if idx.is_empty() {
                    format!("{}", r.below(4))
                } else {
                    r.pick(idx).to_string()
                };
                format!("xs[{i}]")
            }
            _ => vars[r.below(vars.len())].clone(),
        };
    }
    let d = depth - 1;
    let a = expr(r, d, vars, idx);
    match r.below(26) {
        0 => format!("({a}).sin()"),
        1 => format!("({a}).cos()"),
        2 => format!("({a}).tanh()"),
        3 => format!("({a}).atan()"),
        4 => format!("({a}).tanh().exp()"),
        5 => format!("(({a}) * ({a}) + 1.0).ln()"),
        6 => format!("(({a}) * ({a}) + 0.5).sqrt()"),
        7 => format!("({a}).tanh().powi({})", 2 + r.below(3)),
        8 => format!("(({a}).tanh() * 0.9).asin()"),
        9 => format!("(({a}).tanh() * 0.9).acos()"),
        10 => format!("({a}).tanh().sinh()"),
        11 => format!("(({a}) * ({a}) + 1.0).cbrt()"),
        12 => format!("(-({a}))"),
        13 => format!("(({a}) * ({a}) + 1.0).powf(0.7)"),
        14 => format!("(({a}) * ({a}) + 1.0).log2()"),
        15 => format!("(({a}) * ({a}) + 1.0).recip()"),
        16 => format!("(({a}).tanh() * 0.8).atanh()"),
        _ => {
            let b = expr(r, d, vars, idx);
            match r.below(11) {
                0 | 1 => format!("({a} + {b})"),
                2 => format!("({a} - {b})"),
                3 | 4 => format!("({a} * {b})"),
                5 => format!("({a} / (({b}) * ({b}) + 1.0))"),
                6 => format!("({a}).atan2(({b}) * ({b}) + 0.5)"),
                7 => format!("(({a}) * ({a}) + 1.0).powf(({b}).tanh())"),
                8 => format!("({a}).mul_add({b}, 0.3)"),
                9 => format!("({a}).hypot(({b}) + 2.0)"),
                _ => format!("helper_{}({a}, {b})", r.below(HELPERS)),
            }
        }
    }
}

/// One program's body: statements, then the returned expression.
fn program(r: &mut Rng) -> String {
    let mut vars: Vec<String> = vec!["x0".into(), "x1".into(), "x2".into()];
    let mut body = String::from("    let mut acc = 0.1 * x0;\n");
    vars.push("acc".into());
    let mut returned = false;
    for s in 0..2 + r.below(5) {
        match r.below(9) {
            0 | 1 => {
                let e = expr(r, 3, &vars, &[]);
                let name = format!("v{s}");
                writeln!(body, "    let {name} = ({e}).tanh() * 2.0;").unwrap();
                vars.push(name);
            }
            2 => {
                // Shadowing an earlier value.
                let v = vars[r.below(vars.len())].clone();
                if v != "acc" {
                    let e = expr(r, 2, &vars, &[]);
                    writeln!(body, "    let {v} = ({v} * 0.5 + {e}).tanh();").unwrap();
                }
            }
            3 => {
                let e = expr(r, 2, &vars, &[]);
                writeln!(body, "    acc += ({e}).tanh();").unwrap();
            }
            4 => {
                let (a, b) = (expr(r, 1, &vars, &[]), expr(r, 1, &vars, &[]));
                let (e1, e2) = (expr(r, 2, &vars, &[]), expr(r, 2, &vars, &[]));
                writeln!(body, "    if {a} > {b} {{\n        acc = acc + ({e1}).tanh();\n    }} else {{\n        acc = (acc * ({e2})).tanh();\n    }}").unwrap();
            }
            5 => {
                let e = expr(r, 2, &vars, &["i"]);
                writeln!(
                    body,
                    "    for i in 0..xs.len() {{\n        acc += xs[i] * ({e}).tanh();\n    }}"
                )
                .unwrap();
            }
            6 => {
                let e = expr(r, 2, &vars, &["i"]);
                writeln!(body, "    for i in 0..3 {{\n        acc = (acc * 0.7 + xs[i + 1]).tanh() + ({e}).tanh() * 0.5;\n    }}").unwrap();
            }
            7 => {
                let e = expr(r, 2, &vars, &[]);
                writeln!(body, "    let mut k = 0;\n    while k < 3 {{\n        acc = acc * 0.8 + ({e}).tanh() * 0.3;\n        k += 1;\n    }}").unwrap();
            }
            _ => {
                if !returned {
                    let (a, e) = (expr(r, 1, &vars, &[]), expr(r, 2, &vars, &[]));
                    writeln!(
                        body,
                        "    if {a} > 1.2 {{\n        return acc * 0.5 + ({e}).tanh();\n    }}"
                    )
                    .unwrap();
                    returned = true;
                }
            }
        }
    }
    let last = expr(r, 3, &vars, &[]);
    writeln!(body, "    acc + ({last}).tanh()").unwrap();
    body
}

/// A tensor expression of the full shape `[r, c]` over `a` (full), `b`
/// (a shape that broadcasts to it), `w` (`[c, c]`) and the scalar `s`.
fn texpr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.below(5) == 0 {
        return match r.below(4) {
            0 => "(a * 1.0)".into(),
            1 => "(a + b)".into(),
            2 => "(a * s)".into(),
            _ => "(a - b * 0.5)".into(),
        };
    }
    let d = depth - 1;
    let e = texpr(r, d);
    match r.below(20) {
        0 => format!("({e}).tanh()"),
        1 => format!("({e}).tanh().exp()"),
        2 => format!("(({e}) * ({e}) + 1.0).ln()"),
        3 => format!("(({e}) * ({e}) + 0.5).sqrt()"),
        4 => format!("({e}).sigmoid()"),
        5 => format!("({e}).gelu()"),
        6 => format!("({e}).softplus()"),
        7 => format!("({e}).softmax(1)"),
        8 => format!("({e}).log_softmax(1)"),
        9 => format!("({e}).tanh().powi(2)"),
        10 => format!("(({e}) - ({e}).logsumexp(1, true))"),
        11 => format!("(({e}) - ({e}).mean_axis(0, true))"),
        12 => format!("(({e}) * ({e}).sum_axis(1, true).tanh())"),
        13 => format!("({e}).matmul(w).tanh()"),
        14 => format!("(({e}) + ({e}).max_axis(1, true))"),
        _ => {
            let f = texpr(r, d);
            match r.below(5) {
                0 => format!("({e} + {f})"),
                1 => format!("({e} - {f})"),
                2 => format!("({e} * {f})"),
                3 => format!("({e} / (({f}) * ({f}) + 1.0))"),
                _ => format!("({e} * b)"),
            }
        }
    }
}

/// Tensor programs with random shapes: `(rows, cols, b's shape)`.
fn tensor_programs(r: &mut Rng, count: usize, out: &mut String) {
    let mut table = String::from(
        "/// `(name, source, shapes of a and b, value, gradient)` of every tensor program.\npub fn tensor_programs() -> Vec<TensorProgram> {\n    vec![\n",
    );
    for i in 0..count {
        let (rows, cols) = (1 + r.below(3), 1 + r.below(4));
        let b_shape = match r.below(5) {
            0 => format!("[{rows}, {cols}]"),
            1 => format!("[{cols}]"),
            2 => format!("[{rows}, 1]"),
            3 => format!("[1, {cols}]"),
            _ => "[]".to_string(),
        };
        let e1 = texpr(r, 3);
        let e2 = texpr(r, 2);
        let src = format!(
            "#[differentiable]\nfn tprog_{i}(a: &Tensor<f64>, b: &Tensor<f64>, w: &Tensor<f64>, s: f64) -> f64 {{\n    let e = {e1};\n    let f = {e2};\n    (e.sum() * 0.5).item() + (f * &e).mean().item()\n}}\n"
        );
        out.push_str(&src);
        writeln!(
            out,
            "fn tprog_{i}_value(t: &[Tensor<f64>]) -> f64 {{\n    tprog_{i}(&t[0], &t[1], &t[2], t[3].item())\n}}\n\nfn tprog_{i}_grads(t: &[Tensor<f64>]) -> Vec<Tensor<f64>> {{\n    let (_, (ga, gb, gw, gs)) = tprog_{i}_grad(&t[0], &t[1], &t[2], t[3].item());\n    vec![ga, gb, gw, Tensor::scalar(gs)]\n}}\n"
        )
        .unwrap();
        writeln!(table, "        (\"tprog_{i}\", {src:?}, [vec![{rows}, {cols}], vec!{b_shape}, vec![{cols}, {cols}]], tprog_{i}_value, tprog_{i}_grads),").unwrap();
    }
    table.push_str("    ]\n}\n");
    out.push_str(&table);
}

fn main() {
    println!("cargo:rerun-if-env-changed=ADJOINT_GEN_SEED");
    println!("cargo:rerun-if-env-changed=ADJOINT_GEN_COUNT");
    println!("cargo:rerun-if-env-changed=ADJOINT_GEN_TENSOR_COUNT");
    let seed: u64 = std::env::var("ADJOINT_GEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let count: usize = std::env::var("ADJOINT_GEN_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut r = Rng(seed);
    let mut out =
        format!("// {count} programs generated from seed {seed} by gentest/build.rs.\n\n");
    let params = vec!["a".to_string(), "b".to_string()];
    for h in 0..HELPERS {
        let e = expr(&mut r, 2, &params, &[]).replace("xs[", "[0.3_f64, 0.6, 0.9, 1.2][");
        let e = e.replace("helper_", "inner_helper_");
        writeln!(out, "#[differentiable]\nfn helper_{h}(a: f64, b: f64) -> f64 {{\n    ({e}).tanh() * 1.5\n}}\n").unwrap();
    }
    // Helpers may call these leaves (one level deep).
    for h in 0..HELPERS {
        writeln!(out, "#[differentiable]\nfn inner_helper_{h}(a: f64, b: f64) -> f64 {{\n    (a * {:.1} + b).sin()\n}}\n", 0.5 + h as f64).unwrap();
    }
    let mut table = String::from(
        "/// `(name, source, value, gradient)` of every program, inputs flattened as `[x0, x1, x2, xs[0..4]]`.\npub fn programs() -> Vec<Program> {\n    vec![\n",
    );
    for i in 0..count {
        let body = program(&mut r);
        let src = format!(
            "#[differentiable]\nfn prog_{i}(x0: f64, x1: f64, x2: f64, xs: &[f64]) -> f64 {{\n{body}}}\n"
        );
        out.push_str(&src);
        writeln!(
            out,
            "fn prog_{i}_value(v: &[f64]) -> f64 {{\n    prog_{i}(v[0], v[1], v[2], &v[3..7])\n}}\n\nfn prog_{i}_grad_flat(v: &[f64]) -> Vec<f64> {{\n    let (_, (a, b, c, d)) = prog_{i}_grad(v[0], v[1], v[2], &v[3..7]);\n    let mut g = vec![a, b, c];\n    g.extend(d);\n    g\n}}\n"
        )
        .unwrap();
        writeln!(
            table,
            "        (\"prog_{i}\", {src:?}, prog_{i}_value, prog_{i}_grad_flat),"
        )
        .unwrap();
    }
    table.push_str("    ]\n}\n");
    out.push_str(&table);
    let tensor_count: usize = std::env::var("ADJOINT_GEN_TENSOR_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(count);
    tensor_programs(&mut r, tensor_count, &mut out);
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("programs.rs");
    std::fs::write(path, out).unwrap();
}
