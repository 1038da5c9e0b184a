//! A panic inside a fiber is delivered through its `JoinHandle` as `JoinError::Panicked`, like an
//! async task's; it never takes the worker down.

use std::time::Duration;

use spectrum_rt::{JoinError, Runtime, Wait};

#[test]
fn a_panic_arrives_as_join_error_panicked() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| -> u32 { panic!("boom") });
    match h.wait() {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("boom")),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn a_panic_after_suspending_arrives_too() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        spectrum_rt::time::sleep(Duration::from_millis(5)).wait();
        let v: Vec<u8> = Vec::new();
        v[3] // index out of bounds
    });
    let err = h.wait().unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("index out of bounds"), "{err}");
}

#[test]
fn a_non_string_payload_is_kept() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| std::panic::panic_any(42u32));
    match h.wait() {
        Err(JoinError::Panicked(p)) => {
            assert_eq!(p.into_inner().downcast::<u32>().ok().map(|b| *b), Some(42));
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn the_worker_survives_and_runs_later_fibers() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    for i in 0..20 {
        let h = spectrum_fiber::spawn(move || {
            if i % 2 == 0 {
                panic!("even {i}");
            }
            i
        });
        let r = h.wait();
        if i % 2 == 0 {
            assert!(r.unwrap_err().is_panic());
        } else {
            assert_eq!(r.unwrap(), i);
        }
    }
}

#[test]
fn a_panic_caught_inside_the_fiber_stays_there() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        let caught = std::panic::catch_unwind(|| {
            spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
            panic!("inner");
        });
        assert!(caught.is_err());
        // The fiber goes on suspending normally after the caught panic.
        spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
        "recovered"
    });
    assert_eq!(h.wait().unwrap(), "recovered");
}

#[test]
fn destructors_run_when_a_fiber_panics() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = std::sync::mpsc::channel();
    struct Guard(std::sync::mpsc::Sender<&'static str>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.send("dropped");
        }
    }
    let h = spectrum_fiber::spawn(move || {
        let _g = Guard(tx);
        spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
        panic!("with a guard on the stack");
    });
    assert!(h.wait().unwrap_err().is_panic());
    assert_eq!(rx.recv().unwrap(), "dropped");
}
