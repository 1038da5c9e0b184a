//! Timeout: cooperative first (the token fires with its cause), forced after the grace (the
//! future is dropped before the call returns), never longer than duration + grace.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use spectrum_resilience::Timeout;
use spectrum_rt::cancel::CauseKind;
use spectrum_rt::time::{self, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn an_operation_in_time_passes_through_without_touching_its_token() {
    let t = Timeout::new(MS(100)).unwrap();
    let out = t
        .run(|token| async move {
            sleep(MS(99)).await;
            assert!(!token.is_cancelled());
            assert!(token.deadline().is_some());
            7
        })
        .await;
    assert_eq!(out.unwrap(), 7);
    assert_eq!(t.metrics().counter("completed"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_operation_sees_the_cause_and_stops_cooperatively_within_the_grace() {
    let t = Timeout::builder(MS(100)).grace(MS(50)).build().unwrap();
    let start = time::now();
    let err = t
        .run(|token| async move {
            let cause = token.cancelled().await;
            assert_eq!(cause.kind(), CauseKind::DeadlineExceeded);
            sleep(MS(20)).await; // cleanup
            format!("stopped: {cause}")
        })
        .await
        .unwrap_err();
    assert!(!err.forced);
    assert_eq!(err.late.as_deref(), Some("stopped: deadline exceeded"));
    assert_eq!(time::now() - start, MS(120));
    assert_eq!(t.metrics().counter("timed_out_cooperative"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn an_operation_that_ignores_its_token_is_dropped_after_the_grace() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Timeout::builder(MS(100)).grace(MS(50)).build().unwrap();
    let start = time::now();
    let d = drops.clone();
    let err = t
        .run(|_token| async move {
            let _guard = DropCount(d);
            sleep(Duration::from_secs(3600)).await;
        })
        .await
        .unwrap_err();
    assert!(err.forced);
    assert_eq!(drops.load(SeqCst), 1, "dropped before the call returned");
    assert_eq!(time::now() - start, MS(150), "duration + grace, no more");
    assert_eq!(
        err.to_string(),
        "operation timed out after 100ms and was dropped when its grace period ran out"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn zero_grace_drops_at_the_deadline_but_the_token_still_fires_first() {
    let t = Timeout::new(MS(10)).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let err = t
        .run(|token| async move {
            struct Check(spectrum_rt::cancel::CancelToken, Arc<AtomicUsize>);
            impl Drop for Check {
                fn drop(&mut self) {
                    if self.0.is_cancelled() {
                        self.1.fetch_add(1, SeqCst);
                    }
                }
            }
            let _c = Check(token, s);
            std::future::pending::<()>().await
        })
        .await
        .unwrap_err();
    assert!(err.forced);
    assert_eq!(seen.load(SeqCst), 1, "the destructor saw a cancelled token");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_token_inherits_the_enclosing_scope() {
    let t = Timeout::new(Duration::from_secs(60)).unwrap();
    let parent = spectrum_rt::cancel::CancelToken::new();
    let p = parent.clone();
    let canceller = spectrum_rt::spawn(async move {
        sleep(MS(5)).await;
        p.cancel();
    });
    let out = t
        .run_under(
            &parent,
            |token| async move { token.cancelled().await.kind() },
        )
        .await;
    assert_eq!(out.unwrap(), CauseKind::ParentCancelled);
    canceller.await.unwrap();
}
