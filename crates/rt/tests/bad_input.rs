//! Bad input and faults: clear errors or documented behaviour, never UB, a hang or a dead worker.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use spectrum_rt::runtime::{BuildError, MAX_WORKERS};
use spectrum_rt::Runtime;

#[test]
fn zero_and_absurd_configurations_are_refused_with_a_message() {
    let cases: Vec<(spectrum_rt::Builder, &str)> = vec![
        (Runtime::builder().workers(0), "workers must be at least 1"),
        (
            Runtime::builder().workers(MAX_WORKERS + 1),
            "exceeds the limit",
        ),
        (Runtime::builder().workers(usize::MAX), "exceeds the limit"),
        (
            Runtime::builder().max_blocking_threads(0),
            "max_blocking_threads",
        ),
        (
            Runtime::builder().max_blocking_threads(usize::MAX),
            "max_blocking_threads",
        ),
        (Runtime::builder().event_interval(0), "event_interval"),
        (Runtime::builder().thread_stack_size(10), "below 64 KiB"),
    ];
    for (b, msg) in cases {
        match b.build() {
            Err(BuildError::InvalidConfig(m)) => assert!(m.contains(msg), "{m}"),
            other => panic!("expected an invalid-config error for {msg}, got {other:?}"),
        }
    }
    let io: std::io::Error = Runtime::builder().workers(0).build().unwrap_err().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn awaiting_a_handle_twice_panics_with_a_clear_message_and_the_runtime_lives() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let outer = spectrum_rt::spawn(async {
            let mut h = spectrum_rt::spawn(async { 1 });
            assert_eq!((&mut h).await.unwrap(), 1);
            let _ = (&mut h).await;
        });
        let err = outer.await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "task panicked: `JoinHandle` polled after it returned its result"
        );
        assert_eq!(spectrum_rt::spawn(async { 2 }).await.unwrap(), 2);
    });
}

/// A future whose `poll` panics on its second call.
struct PanicOnSecondPoll(bool);
impl Future for PanicOnSecondPoll {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            panic!("second poll");
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_future_panicking_in_poll_after_yielding_is_contained() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let e = spectrum_rt::spawn(PanicOnSecondPoll(false))
            .await
            .unwrap_err();
        assert!(e.is_panic());
    });
}

#[test]
#[should_panic(expected = "needs a Spectrum runtime")]
fn spawning_outside_a_runtime_panics_with_instructions() {
    drop(spectrum_rt::spawn(async {}));
}

#[test]
fn try_current_outside_a_runtime_is_an_error() {
    let e = spectrum_rt::Handle::try_current().unwrap_err();
    assert_eq!(
        e.to_string(),
        "no Spectrum runtime is entered on this thread"
    );
}

#[test]
fn dropping_a_runtime_from_inside_its_own_task_does_not_deadlock() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = std::sync::Arc::new(std::sync::Mutex::new(None));
    let h = holder.clone();
    rt.spawn(async move {
        // Wait until the runtime has been handed to us, then drop it on our own worker.
        loop {
            if let Some(rt) = h.lock().unwrap().take() {
                let rt: Runtime = rt;
                drop(rt);
                break;
            }
            spectrum_rt::yield_now().await;
        }
        let _ = tx.send(());
    })
    .detach();
    *holder.lock().unwrap() = Some(rt);
    rx.recv_timeout(std::time::Duration::from_secs(15))
        .expect("no deadlock");
}
