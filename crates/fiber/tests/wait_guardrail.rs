//! `.wait()` inside a fiber is the normal case and reports nothing; `.wait()` inside a plain
//! async task is still the runtime's "blocking inside async" guardrail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_rt::runtime::Diagnostic;
use spectrum_rt::{Runtime, Wait};

fn runtime_with_log() -> (Runtime, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let rt = Runtime::builder()
        .workers(2)
        .on_diagnostic(move |d| {
            if let Diagnostic::BlockingWait { .. } = d {
                sink.lock().unwrap().push(d.to_string());
            }
        })
        .build()
        .unwrap();
    (rt, log)
}

#[test]
fn wait_in_a_fiber_is_not_reported() {
    let (rt, log) = runtime_with_log();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        for _ in 0..10 {
            spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
        }
        spectrum_rt::spawn(async { 5 }).wait().unwrap()
    });
    assert_eq!(h.wait().unwrap(), 5);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[test]
fn wait_in_an_async_task_is_still_reported() {
    let (rt, log) = runtime_with_log();
    let _guard = rt.enter();
    let h = spectrum_rt::spawn(async {
        spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
    });
    h.wait().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].contains("blocking call inside async task"),
        "{}",
        log[0]
    );
}

#[test]
fn an_async_task_polled_between_fiber_resumes_is_still_reported() {
    // The fiber's suspend context is registered only while the fiber runs: a task the same
    // worker polls next must not inherit it.
    let rt_and_log = runtime_with_log();
    let (rt, log) = (Runtime::builder().workers(1).build().unwrap(), rt_and_log.1);
    drop(rt);
    let sink = log.clone();
    let rt = Runtime::builder()
        .workers(1)
        .on_diagnostic(move |d| {
            if let Diagnostic::BlockingWait { .. } = d {
                sink.lock().unwrap().push(d.to_string());
            }
        })
        .build()
        .unwrap();
    let _guard = rt.enter();
    let fiber = spectrum_fiber::spawn(|| {
        for _ in 0..5 {
            spectrum_fiber::yield_now();
        }
    });
    let task = spectrum_rt::spawn(async {
        spectrum_rt::task::yield_now().await;
        async { 1 }.wait()
    });
    assert_eq!(task.wait().unwrap(), 1);
    fiber.wait().unwrap();
    assert_eq!(log.lock().unwrap().len(), 1);
}
