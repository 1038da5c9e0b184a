//! Cancelling a fiber (dropping its handle, `cancel()`, a deadline) unwinds its stack at its next
//! suspension point, running every destructor, and gives its stack back.

use std::sync::mpsc;
use std::time::Duration;

use spectrum_rt::{Runtime, Wait};

/// Sends its name when dropped.
struct Guard(&'static str, mpsc::Sender<&'static str>);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.1.send(self.0);
    }
}

fn recv(rx: &mpsc::Receiver<&'static str>) -> &'static str {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("a destructor should have run")
}

#[test]
fn dropping_the_handle_unwinds_the_stack() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let (_keep, chan_rx) = spectrum_chan::bounded::<u32>(0);
    let h = spectrum_fiber::spawn(move || {
        let _outer = Guard("outer", tx.clone());
        let inner = || {
            let _inner = Guard("inner", tx.clone());
            started_tx.send(()).unwrap();
            chan_rx.recv().wait() // never completes
        };
        let _ = inner();
        unreachable!("a cancelled fiber does not go on");
    });
    started_rx.recv().unwrap();
    drop(h);
    // Innermost frame first, as any unwinding.
    assert_eq!(recv(&rx), "inner");
    assert_eq!(recv(&rx), "outer");
}

#[test]
fn cancel_reports_cancelled_through_the_handle() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel();
    let h = spectrum_fiber::spawn(move || {
        let _g = Guard("g", tx);
        spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
    });
    std::thread::sleep(Duration::from_millis(20));
    h.cancel();
    let err = h.wait().unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(recv(&rx), "g");
}

#[test]
fn a_fiber_cancelled_before_it_starts_never_runs() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel();
    // Keep the only worker busy (an async task blocking it on purpose, with a std channel) so
    // the fiber cannot start before it is cancelled.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (busy_tx, busy_rx) = mpsc::channel::<()>();
    let busy = spectrum_rt::spawn(async move {
        busy_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    });
    busy_rx.recv().unwrap();
    let g = Guard("captured", tx.clone());
    let ran = tx.clone();
    let h = spectrum_fiber::spawn(move || {
        let _g = g;
        let _ = ran.send("ran");
    });
    h.cancel();
    go_tx.send(()).unwrap();
    assert!(h.wait().unwrap_err().is_cancelled());
    assert_eq!(recv(&rx), "captured");
    assert!(rx.try_recv().is_err(), "the body must not have run");
    busy.wait().unwrap();
}

#[test]
fn a_deadline_cancels_the_fiber() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = rt.block_on(async move {
        let h = spectrum_fiber::spawn(move || {
            let _g = Guard("deadline", tx);
            spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
        });
        // The timeout owns the handle: when it fires, the handle is dropped.
        spectrum_rt::time::timeout(Duration::from_millis(20), h).await
    });
    assert!(out.is_err(), "the deadline should have passed");
    assert_eq!(recv(&rx), "deadline");
}

#[test]
fn a_scope_deadline_cancels_a_fiber_child() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let res = rt.block_on(async move {
        spectrum_rt::scope::Builder::new()
            .timeout(Duration::from_millis(20))
            .run(|s| async move {
                s.spawn(async move {
                    let fiber = spectrum_fiber::spawn(move || {
                        let _g = Guard("scoped", tx);
                        spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
                    });
                    fiber
                        .await
                        .map_err(|e| Box::new(e) as spectrum_rt::scope::BoxError)
                })?;
                Ok::<_, spectrum_rt::scope::BoxError>(())
            })
            .await
    });
    assert!(res.unwrap_err().is_deadline_exceeded());
    assert_eq!(recv(&rx), "scoped");
}

#[test]
fn a_destructor_may_wait_while_the_fiber_unwinds() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel();
    struct Flush(mpsc::Sender<&'static str>);
    impl Drop for Flush {
        fn drop(&mut self) {
            // Unwinding: this `.wait()` blocks the worker instead of suspending.
            spectrum_rt::time::sleep(Duration::from_millis(5)).wait();
            let _ = self.0.send("flushed");
        }
    }
    let h = spectrum_fiber::spawn(move || {
        let _f = Flush(tx);
        spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
    });
    std::thread::sleep(Duration::from_millis(20));
    drop(h);
    assert_eq!(recv(&rx), "flushed");
}

#[test]
fn a_swallowed_cancellation_comes_back_at_the_next_wait() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let h = spectrum_fiber::spawn(move || {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            started_tx.send(()).unwrap();
            spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
        }));
        let payload = caught.unwrap_err();
        let _ = tx.send(if spectrum_fiber::is_cancellation(&*payload) {
            "caught cancellation"
        } else {
            "caught something else"
        });
        // Swallowed: the next wait unwinds again.
        let _g = Guard("second unwind", tx.clone());
        spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
        let _ = tx.send("went on");
    });
    started_rx.recv().unwrap();
    drop(h);
    assert_eq!(recv(&rx), "caught cancellation");
    assert_eq!(recv(&rx), "second unwind");
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
}

#[test]
fn cancelled_fibers_give_their_stacks_back() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let before = spectrum_fiber::stack_stats().mapped;
    for _ in 0..20 {
        let hs: Vec<_> = (0..50)
            .map(|_| {
                spectrum_fiber::spawn(|| {
                    spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2));
        for h in &hs {
            h.cancel();
        }
        for h in hs {
            let _ = h.wait();
        }
    }
    let after = spectrum_fiber::stack_stats().mapped;
    // 1000 fibers were cancelled; stacks were recycled, not leaked (other tests in this binary
    // run at the same time, hence the slack).
    assert!(
        after <= before + 300,
        "mapped stacks grew from {before} to {after}"
    );
}

#[test]
fn shutting_the_runtime_down_unwinds_parked_fibers() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    {
        let _guard = rt.enter();
        for _ in 0..10 {
            let tx = tx.clone();
            spectrum_fiber::spawn(move || {
                let _g = Guard("shutdown", tx);
                spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
            })
            .detach();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(rt);
    for _ in 0..10 {
        assert_eq!(recv(&rx), "shutdown");
    }
}
