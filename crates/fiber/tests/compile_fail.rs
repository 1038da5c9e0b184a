//! What must not compile: sending `!Send` closures or results across threads, borrowing without
//! a scope, and letting a scoped handle or borrow escape its scope.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
