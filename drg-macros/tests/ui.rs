//! Compile tests of `drg_model!`: every use case compiles (`pass/`), and every mistake in `ui/`
//! fails with the error recorded in its `.stderr` snapshot (regenerate with `TRYBUILD=overwrite`
//! and review the diff).

#[test]
fn compile_tests() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
