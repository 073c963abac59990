//! Expansion snapshots: each `tests/expand/NAME.rs` holds functions marked
//! `#[differentiable]`; their expansion, formatted by prettyplease, must equal
//! `tests/expand/NAME.expanded.rs`, so that every change to generated code
//! shows in review. `UPDATE_SNAPSHOTS=1 cargo test -p adjoint-macros` rewrites
//! them (read the diff before committing).

use std::path::Path;

/// Expands every `#[differentiable]` item of a file, as the attribute would.
fn expand_file(src: &str) -> String {
    let file: syn::File = syn::parse_str(src).expect("snapshot input parses");
    let mut out = proc_macro2::TokenStream::new();
    for item in file.items {
        let (attr, rest) = split_attr(item);
        match attr {
            Some(args) => out.extend(crate::expand_attribute(args, rest)),
            None => out.extend(rest),
        }
    }
    let formatted: syn::File = syn::parse2(out).expect("expansion parses as a file");
    prettyplease::unparse(&formatted)
}

/// Removes the `#[differentiable(..)]` attribute from an item, returning its
/// arguments and the item.
fn split_attr(mut item: syn::Item) -> (Option<proc_macro2::TokenStream>, proc_macro2::TokenStream) {
    let attrs = match &mut item {
        syn::Item::Fn(f) => &mut f.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        _ => return (None, quote::quote!(#item)),
    };
    let pos = attrs
        .iter()
        .position(|a| a.path().is_ident("differentiable"));
    let args = pos.map(|p| {
        let a = attrs.remove(p);
        match a.meta {
            syn::Meta::List(l) => l.tokens,
            _ => proc_macro2::TokenStream::new(),
        }
    });
    (args, quote::quote!(#item))
}

#[test]
fn expansions_match_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/expand exists")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rs") || name.ends_with(".expanded.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let got = expand_file(&src);
        let snap = path.with_extension("expanded.rs");
        if update || !snap.exists() {
            std::fs::write(&snap, &got).unwrap();
        } else {
            let want = std::fs::read_to_string(&snap).unwrap();
            assert!(
                want == got,
                "expansion of {name} changed; rerun with UPDATE_SNAPSHOTS=1 and review the diff.\n--- got ---\n{got}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected at least 3 snapshot inputs, found {checked}"
    );
}
