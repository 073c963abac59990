//! Compile-fail tests: every construct the macro refuses, with the exact
//! error it gives (`tests/ui/*.stderr`, each read and judged by a person).
//! Regenerate with `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn refused_constructs() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
