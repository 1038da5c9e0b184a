//! Panics inside tasks: caught, delivered, never fatal to a worker.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_rt::runtime::{Diagnostic, UnhandledPanic};
use spectrum_rt::{time, JoinError, Runtime};

#[test]
fn a_panic_is_delivered_and_the_worker_lives_on() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        for i in 0..100 {
            let h = spectrum_rt::spawn(async move { panic!("boom {i}") });
            match h.await {
                Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some(&*format!("boom {i}"))),
                other => panic!("{other:?}"),
            }
        }
        // The single worker still runs tasks.
        assert_eq!(spectrum_rt::spawn(async { 5 }).await.unwrap(), 5);
    });
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop panicked");
    }
}

#[test]
fn a_panic_in_drop_is_caught_both_on_completion_and_on_cancel() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let h = spectrum_rt::spawn(async {
            let _p = PanicOnDrop;
            1
        });
        let err = h.await.unwrap_err();
        assert_eq!(err.to_string(), "task panicked: drop panicked");

        let h = spectrum_rt::spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        time::sleep(Duration::from_millis(2)).await;
        h.cancel();
        assert!(h.await.unwrap_err().is_panic());
        assert_eq!(spectrum_rt::spawn(async { 2 }).await.unwrap(), 2);
    });
}

#[test]
fn resume_panic_rethrows_on_the_joiner() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let err = spectrum_rt::spawn(async { panic!("original") })
                .await
                .unwrap_err();
            err.resume_panic();
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"original"));
}

#[test]
fn unhandled_panic_can_shut_the_runtime_down() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .workers(2)
        .unhandled_panic(UnhandledPanic::ShutdownRuntime)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.to_string()))
        .build()
        .unwrap();
    let reached_end = Arc::new(AtomicBool::new(false));
    let r = reached_end.clone();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            spectrum_rt::task::Builder::new()
                .name("doomed")
                .spawn(async { panic!("nobody is listening") })
                .detach();
            time::sleep(Duration::from_secs(5)).await;
            r.store(true, SeqCst);
        })
    }));
    assert!(
        res.is_err(),
        "block_on panics when the runtime shuts down for a panic"
    );
    assert!(!reached_end.load(SeqCst));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|m| m.contains("\"doomed\"") && m.contains("nobody is listening")),
        "{seen:?}"
    );
    assert!(rt.handle().is_shutdown());
}

#[test]
fn unhandled_panics_are_ignored_by_default() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        spectrum_rt::spawn(async { panic!("ignored") }).detach();
        time::sleep(Duration::from_millis(5)).await;
        assert_eq!(spectrum_rt::spawn(async { 3 }).await.unwrap(), 3);
    });
    let _ = Diagnostic::ThreadSpawnFailed {
        what: "x",
        error: String::new(),
    };
}
