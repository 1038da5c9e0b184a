//! Panics on threads arrive as `JoinError::Panicked`; in a scope, the first panic cancels the
//! siblings and an unjoined panic is re-raised.
#![cfg(not(loom))]

use std::time::Duration;

use spectrum_promise::thread;
use spectrum_rt::cancel::CauseKind;
use spectrum_rt::JoinError;

#[test]
fn a_spawned_threads_panic_is_a_join_error() {
    let err = thread::spawn(|| -> u32 { panic!("thread boom") })
        .join()
        .unwrap_err();
    match &err {
        JoinError::Panicked(p) => assert_eq!(p.message(), Some("thread boom")),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(err.to_string(), "task panicked: thread boom");
}

#[test]
fn a_scoped_panic_is_a_join_error_and_cancels_the_siblings() {
    thread::scope(|s| {
        let sibling = s.spawn(|| {
            while thread::check().is_ok() {
                std::thread::sleep(Duration::from_millis(1));
            }
            thread::check().unwrap_err()
        });
        let failing = s.spawn(|| -> u32 { panic!("scoped boom") });
        match failing.join() {
            Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("scoped boom")),
            other => panic!("expected a panic, got {other:?}"),
        }
        let cause = sibling.join().unwrap();
        assert_eq!(cause.kind(), CauseKind::ParentCancelled);
        assert!(cause.to_string().contains("scoped boom"), "{cause}");
        assert!(s.token().is_cancelled());
    });
}

#[test]
#[should_panic(expected = "panicked and was not joined")]
fn an_unjoined_panic_is_re_raised_after_every_thread_finished() {
    thread::scope(|s| {
        let _ = s.spawn(|| panic!("nobody joins me"));
    });
}

#[test]
fn a_panicking_body_cancels_the_threads_and_propagates() {
    let (tx, rx) = std::sync::mpsc::channel();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        thread::scope(|s| {
            s.spawn(move || {
                while thread::check().is_ok() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                tx.send(()).unwrap();
            });
            panic!("body failed");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body failed"));
    rx.try_recv()
        .expect("the thread stopped (and was joined) before the panic came out");
}
