//! A fiber that never suspends holds its worker like any long poll: the runtime's watchdog
//! reports it, under the fiber's name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_rt::runtime::{BlockingPolicy, Diagnostic};
use spectrum_rt::{Runtime, Wait};

#[test]
fn a_fiber_that_never_suspends_is_reported_by_name() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .workers(1)
        .blocking_policy(BlockingPolicy::Report)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    let _guard = rt.enter();
    let busy = spectrum_fiber::Builder::new()
        .name("busy")
        .spawn(|| {
            // Sync code that reaches no `.wait()`: no suspension point for 60 ms.
            std::thread::sleep(Duration::from_millis(60));
            7
        })
        .unwrap();
    assert_eq!(busy.wait().unwrap(), 7);
    // A fiber that suspends often is not reported, however long it lives.
    let polite = spectrum_fiber::Builder::new()
        .name("polite")
        .spawn(|| {
            for _ in 0..200 {
                std::thread::sleep(Duration::from_micros(100));
                spectrum_fiber::yield_now();
            }
        })
        .unwrap();
    polite.wait().unwrap();
    let reported: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|d| match d {
            Diagnostic::LongPoll { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [Some("busy".to_owned())], "{reported:?}");
}
