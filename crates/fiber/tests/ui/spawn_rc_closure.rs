// A fiber is built on its worker thread: the closure must be `Send` (use `spawn_local` for
// `!Send` state).
use std::rc::Rc;

fn main() {
    let rc = Rc::new(1);
    let _ = spectrum_fiber::spawn(move || *rc);
}
