// Scoped fibers run on other threads: what they capture must be `Send`.
use std::rc::Rc;

fn main() {
    let rc = Rc::new(1);
    spectrum_fiber::scope(|s| {
        s.spawn(|| *rc);
    });
}
