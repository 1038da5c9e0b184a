// The output travels through the `JoinHandle` to whoever joins: it must be `Send`.
use std::rc::Rc;

fn main() {
    let _ = spectrum_fiber::spawn(|| Rc::new(1));
}
