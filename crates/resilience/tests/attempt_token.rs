//! A pipeline attempt's token is made on first use: an operation that never asks for it costs no
//! token, one that asks gets a child of the caller's token carrying the timeout's deadline, and
//! the timeout cancels that same token when the deadline fires (waking even a waiter on a plain
//! thread, which has no timer of its own). Each call gets a fresh token.

use std::time::Duration;

use spectrum_resilience::{Error, Pipeline, Timeout};
use spectrum_rt::cancel::{CancelToken, CauseKind};
use spectrum_rt::time::{self, sleep};
use spectrum_rt::Wait;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn with_timeout(duration: Duration, grace: Duration) -> Pipeline<u32, ()> {
    Pipeline::builder()
        .timeout(Timeout::builder(duration).grace(grace).build().unwrap())
        .build()
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn an_attempt_that_never_asks_makes_no_token() {
    let p = with_timeout(MS(100), MS(0));
    let parent = CancelToken::new();
    let out = p
        .call_under(&parent, |_attempt| {
            let parent = parent.clone();
            async move {
                sleep(MS(10)).await;
                Ok(parent.num_children() as u32)
            }
        })
        .await;
    assert_eq!(out.unwrap(), 0, "no child token was made");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn an_attempt_that_asks_gets_a_child_with_the_deadline() {
    let p = with_timeout(MS(100), MS(0));
    let parent = CancelToken::new();
    let start = time::now();
    let out = p
        .call_under(&parent, |attempt| {
            let parent = parent.clone();
            async move {
                let token = attempt.token();
                assert_eq!(token.deadline(), Some(start + MS(100)));
                assert!(attempt.token().same_as(token), "made once");
                assert!(!token.is_cancelled());
                Ok(parent.num_children() as u32)
            }
        })
        .await;
    assert_eq!(out.unwrap(), 1);
    assert_eq!(parent.num_children(), 0, "dropped with the call");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_deadline_cancels_the_token_the_operation_holds_even_for_a_plain_thread() {
    let p = with_timeout(MS(50), MS(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let err = p
        .call(|attempt| {
            let tx = tx.clone();
            async move {
                let token = attempt.token().clone();
                // A thread with no runtime has no timer: only the timeout's cancel can wake it.
                std::thread::spawn(move || tx.send(token.cancelled().wait().kind()).unwrap());
                std::future::pending().await
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut(t) if t.forced));
    let kind = rx.recv_timeout(Duration::from_secs(10)).expect("woken");
    assert_eq!(kind, CauseKind::DeadlineExceeded);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_token_first_asked_for_in_the_grace_is_already_cancelled() {
    let p = with_timeout(MS(50), MS(100));
    let err = p
        .call(|attempt| async move {
            sleep(MS(60)).await; // deaf until past the deadline
            let cause = attempt.token().cause().expect("cancelled at the deadline");
            assert_eq!(cause.kind(), CauseKind::DeadlineExceeded);
            Ok(1)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut(t) if !t.forced));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn every_call_gets_a_fresh_token() {
    let p = with_timeout(MS(50), MS(0));
    // A call that made its token and timed out with it cancelled...
    let (tx, rx) = std::sync::mpsc::channel::<CancelToken>();
    let first = p
        .call(|attempt| {
            let tx = tx.clone();
            async move {
                tx.send(attempt.token().clone()).unwrap();
                std::future::pending().await
            }
        })
        .await;
    assert!(matches!(first, Err(Error::TimedOut(t)) if t.forced));
    let cancelled = rx.recv().unwrap();
    assert!(cancelled.is_cancelled());
    // ...then calls that made none, then one that does: its token is new and live.
    for _ in 0..3 {
        p.call(|_| async { Ok(0) }).await.unwrap();
    }
    let start = time::now();
    let fresh = p
        .call(|attempt| async move {
            let t = attempt.into_token();
            Ok(u32::from(!t.is_cancelled()) + 2 * u32::from(t.deadline() == Some(start + MS(50))))
        })
        .await
        .unwrap();
    assert_eq!(fresh, 3, "not cancelled, and this call's deadline");
    // A clone of an attempt kept past its call keeps its own token; later calls get theirs.
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..2 {
        p.call(|attempt| {
            tx.send(attempt.clone()).unwrap();
            async { Ok(0) }
        })
        .await
        .unwrap();
    }
    let (kept, next) = (rx.recv().unwrap(), rx.recv().unwrap());
    assert!(!kept.token().same_as(next.token()));
    assert!(!kept.token().same_as(&cancelled) && !next.token().is_cancelled());
}
