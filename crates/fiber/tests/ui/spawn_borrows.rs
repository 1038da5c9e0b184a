// A plain `spawn` may outlive the caller: no borrowing (use `scope`).
fn main() {
    let v = vec![1, 2, 3];
    let _ = spectrum_fiber::spawn(|| v.len());
}
