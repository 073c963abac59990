//! The macro's front end on real Rust: every function of a corpus of source
//! files is given to `#[differentiable]`, and each must either expand or
//! yield spanned errors — never panic. Inputs are also mutated (a token
//! dropped, duplicated or swapped) and retried when they still parse.
//!
//! CI runs it over this repository's own sources; over the local cargo
//! registry (thousands of crates' functions) it runs on demand:
//! `cargo test -p adjoint-macros corpus_registry -- --ignored --nocapture`.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use std::path::{Path, PathBuf};

#[derive(Default, Debug)]
struct Counts {
    files: usize,
    functions: usize,
    expanded: usize,
    refused: usize,
    mutated: usize,
    panics: Vec<String>,
}

impl Counts {
    /// Prints the counts under `label` and fails on any panic.
    fn report(&self, label: &str) {
        println!(
            "{label}: {} files, {} functions, {} mutated variants: {} expanded, {} refused with errors, {} panics",
            self.files,
            self.functions,
            self.mutated,
            self.expanded,
            self.refused,
            self.panics.len()
        );
        assert!(
            self.panics.is_empty(),
            "the macro panicked on:\n{}",
            self.panics.join("\n")
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("target")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every function of a file: free functions, methods, in nested modules.
fn functions(items: &[syn::Item], out: &mut Vec<TokenStream>) {
    for item in items {
        match item {
            syn::Item::Fn(f) => out.push(quote!(#f)),
            syn::Item::Impl(i) => {
                for it in &i.items {
                    if let syn::ImplItem::Fn(f) = it {
                        out.push(quote!(#f));
                    }
                }
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    functions(items, out);
                }
            }
            _ => {}
        }
    }
}

/// Expands one function, catching a panic.
fn expand_one(f: &TokenStream, counts: &mut Counts, what: &str) {
    let f2 = f.clone();
    match std::panic::catch_unwind(move || crate::expand_attribute(TokenStream::new(), f2)) {
        Ok(out) => {
            if out.to_string().contains("compile_error") {
                counts.refused += 1;
            } else {
                counts.expanded += 1;
            }
        }
        Err(_) => counts.panics.push(format!(
            "{what}: {}",
            f.to_string().chars().take(200).collect::<String>()
        )),
    }
}

/// A copy of `f` with one token (at any depth) dropped, duplicated or
/// swapped with its neighbour, chosen by `k`.
fn mutate(f: &TokenStream, k: usize) -> TokenStream {
    fn walk(ts: TokenStream, k: &mut usize, kind: usize) -> TokenStream {
        let tokens: Vec<TokenTree> = ts.into_iter().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let t = tokens[i].clone();
            if *k == 0 {
                *k = usize::MAX;
                match kind {
                    0 => {}
                    1 => {
                        out.push(t.clone());
                        out.push(t);
                    }
                    _ => {
                        if let Some(next) = tokens.get(i + 1) {
                            out.push(next.clone());
                            out.push(t);
                            i += 1;
                        } else {
                            out.push(t);
                        }
                    }
                }
            } else {
                *k = k.saturating_sub(1);
                match t {
                    TokenTree::Group(g) => {
                        let mut ng =
                            proc_macro2::Group::new(g.delimiter(), walk(g.stream(), k, kind));
                        ng.set_span(g.span());
                        out.push(TokenTree::Group(ng));
                    }
                    t => out.push(t),
                }
            }
            i += 1;
        }
        out.into_iter().collect()
    }
    let mut pos = k / 3;
    walk(f.clone(), &mut pos, k % 3)
}

fn run(dirs: &[PathBuf], max_files: usize, mutations_per_fn: usize) -> Counts {
    let mut files = Vec::new();
    for d in dirs {
        rust_files(d, &mut files);
    }
    files.sort();
    files.truncate(max_files);
    let mut counts = Counts::default();
    // Quiet panics' default messages: they are counted, not printed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for path in &files {
        let Ok(src) = std::fs::read_to_string(path) else {
            continue;
        };
        let Ok(file) = syn::parse_file(&src) else {
            continue;
        };
        counts.files += 1;
        let mut fns = Vec::new();
        functions(&file.items, &mut fns);
        for (n, f) in fns.iter().enumerate() {
            counts.functions += 1;
            expand_one(f, &mut counts, &path.display().to_string());
            for m in 0..mutations_per_fn {
                let g = mutate(
                    f,
                    (n * 7919 + m * 104729) % (3 * f.to_string().len().max(1)),
                );
                if syn::parse2::<syn::ItemFn>(g.clone()).is_ok() {
                    counts.mutated += 1;
                    expand_one(&g, &mut counts, &format!("{} (mutated)", path.display()));
                }
            }
        }
    }
    std::panic::set_hook(hook);
    counts
}

#[test]
fn corpus_own_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let dirs: Vec<PathBuf> = [
        "macros/src",
        "runtime/src",
        "src",
        "tests",
        "examples",
        "benches",
        "gentest",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    let c = run(&dirs, usize::MAX, 3);
    c.report("own sources");
    assert!(c.functions > 300, "the corpus has functions");
}

#[test]
#[ignore = "minutes over the whole local cargo registry; run on demand"]
fn corpus_registry() {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let c = run(&[home.join("registry/src")], usize::MAX, 1);
    c.report("cargo registry");
}
