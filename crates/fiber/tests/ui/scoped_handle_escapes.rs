// A scoped handle cannot leave its scope.
fn main() {
    let v = vec![1, 2, 3];
    let _h = spectrum_fiber::scope(|s| s.spawn(|| v.len()));
}
