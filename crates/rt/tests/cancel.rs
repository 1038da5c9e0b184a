//! Cancellation of tasks: causes, drop-to-cancel, detach, destructors, shutdown.

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::cancel::{CancelCause, CauseKind};
use spectrum_rt::{time, JoinError, Runtime};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Counts drops of the value it guards.
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn cancel_with_cause_reaches_the_joiner_and_runs_destructors() {
    let rt = rt();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt.block_on(async move {
        let h = spectrum_rt::spawn(async move {
            let _guard = DropCounter(d);
            pending::<()>().await;
        });
        time::sleep(Duration::from_millis(5)).await;
        h.cancel_with(CancelCause::new("user hit stop"));
        match h.await {
            Err(JoinError::Cancelled(c)) => {
                assert_eq!(c.kind(), CauseKind::Custom);
                assert_eq!(c.to_string(), "user hit stop");
            }
            other => panic!("expected cancellation, got {other:?}"),
        }
    });
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn dropping_the_handle_cancels_and_detach_does_not() {
    let rt = rt();
    let drops = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let g = DropCounter(drops.clone());
        let h = spectrum_rt::spawn(async move {
            let _g = g;
            pending::<()>().await;
        });
        drop(h);
        let f = finished.clone();
        spectrum_rt::spawn(async move {
            time::sleep(Duration::from_millis(10)).await;
            f.fetch_add(1, SeqCst);
        })
        .detach();
        time::sleep(Duration::from_millis(50)).await;
    });
    assert_eq!(drops.load(SeqCst), 1, "dropped handle cancelled its task");
    assert_eq!(finished.load(SeqCst), 1, "detached task ran to the end");
}

/// A future that is ready only after `n` polls, waking itself each time.
struct Spin(u32);
impl Future for Spin {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 == 0 {
            return Poll::Ready(7);
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn cancelling_a_running_task_takes_effect_at_its_next_yield() {
    let rt = rt();
    rt.block_on(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let h = spectrum_rt::spawn(async move {
            loop {
                p.fetch_add(1, SeqCst);
                spectrum_rt::yield_now().await;
            }
        });
        while polls.load(SeqCst) < 10 {
            spectrum_rt::yield_now().await;
        }
        h.cancel();
        let err = h.await.unwrap_err();
        assert_eq!(err.cause().unwrap().kind(), CauseKind::Requested);
    });
}

#[test]
fn cancel_after_completion_keeps_the_output() {
    let rt = rt();
    rt.block_on(async {
        let h = spectrum_rt::spawn(Spin(3));
        while !h.is_finished() {
            spectrum_rt::yield_now().await;
        }
        h.cancel();
        assert_eq!(h.await.unwrap(), 7);
    });
}

#[test]
fn abort_handle_cancels_without_owning_the_output() {
    let rt = rt();
    rt.block_on(async {
        let h = spectrum_rt::spawn(pending::<()>());
        let a = h.abort_handle();
        assert_eq!(a.id(), h.id());
        assert!(a.cancel_with(CancelCause::new("abort")));
        assert!(
            !a.cancel_with(CancelCause::new("again")),
            "first cause wins"
        );
        assert_eq!(h.await.unwrap_err().cause().unwrap().to_string(), "abort");
        assert!(a.is_finished());
    });
}

#[test]
fn runtime_drop_cancels_every_task_and_runs_destructors() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let rt = rt();
        for _ in 0..1000 {
            let g = DropCounter(drops.clone());
            rt.spawn(async move {
                let _g = g;
                pending::<()>().await;
            })
            .detach();
        }
        // Some are polled (idle), some may still be queued: both must be dropped.
    }
    assert_eq!(drops.load(SeqCst), 1000);
}

#[test]
fn spawning_after_shutdown_gives_a_cancelled_handle() {
    let rt = rt();
    let handle = rt.handle().clone();
    drop(rt);
    let drops = Arc::new(AtomicUsize::new(0));
    let g = DropCounter(drops.clone());
    let h = handle.spawn(async move {
        let _g = g;
        1
    });
    assert_eq!(drops.load(SeqCst), 1, "the future was dropped at once");
    let err = spectrum_rt::wait::wait(h).unwrap_err();
    assert_eq!(err.cause().unwrap().kind(), CauseKind::Shutdown);
    assert!(handle.is_shutdown());
}

#[test]
fn a_waker_used_after_its_task_finished_is_harmless() {
    let rt = rt();
    let stash: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Default::default();
    let s = stash.clone();
    rt.block_on(async move {
        let h = spectrum_rt::spawn(std::future::poll_fn(move |cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        }));
        h.await.unwrap();
    });
    let w = stash.lock().unwrap().take().unwrap();
    w.wake_by_ref();
    #[allow(clippy::waker_clone_wake)] // exercise wake-by-value on a finished task
    w.clone().wake();
    drop(rt);
    // After the runtime is gone too.
    w.wake();
}
