//! Compile-fail tests: one mistake per file, with reviewed `.stderr`
//! snapshots. Regenerate with `TRYBUILD=overwrite cargo test -p ui-tests
//! --test ui`, then read every changed snapshot.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
