//! What the attributes must refuse, with the message they give.
#[test]
fn attribute_misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
