// A scoped fiber may only borrow what outlives the scope.
fn main() {
    spectrum_fiber::scope(|s| {
        let inner = vec![1, 2, 3];
        s.spawn(|| inner.len());
    });
}
