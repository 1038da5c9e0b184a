//! Cooperative cancellation of threads: the handle cancels the token, the thread checks it;
//! tokens flow down from parents and scopes.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use spectrum_promise::thread;
use spectrum_rt::cancel::{CancelCause, CancelToken, CauseKind};

fn spin_until_cancelled() -> Result<u32, CancelCause> {
    let mut rounds = 0;
    loop {
        thread::check()?;
        rounds += 1;
        std::thread::sleep(Duration::from_millis(1));
        if rounds > 10_000 {
            return Ok(rounds);
        }
    }
}

#[test]
fn cancel_reaches_the_threads_check_with_its_cause() {
    let h = thread::spawn(spin_until_cancelled);
    std::thread::sleep(Duration::from_millis(5));
    h.cancel_with(CancelCause::new("shutting down"));
    let cause = h.join().unwrap().unwrap_err();
    assert_eq!(cause.to_string(), "shutting down");
}

#[test]
fn dropping_the_handle_cancels_the_token() {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || tx.send(spin_until_cancelled()).unwrap());
    let token = h.token().clone();
    std::thread::sleep(Duration::from_millis(5));
    drop(h);
    let cause = rx.recv().unwrap().unwrap_err();
    assert_eq!(cause.kind(), CauseKind::HandleDropped);
    assert!(token.is_cancelled());
}

#[test]
fn a_joined_thread_is_not_cancelled() {
    let h = thread::spawn(|| 1);
    let token = h.token().clone();
    assert_eq!(h.join().unwrap(), 1);
    assert!(!token.is_cancelled());
}

#[test]
fn sleep_returns_early_when_cancelled() {
    let h = thread::spawn(|| {
        let start = Instant::now();
        let r = thread::sleep(Duration::from_secs(30));
        (r, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(10));
    h.cancel();
    let (r, slept) = h.join().unwrap();
    assert_eq!(r.unwrap_err().kind(), CauseKind::Requested);
    assert!(slept < Duration::from_secs(5), "slept {slept:?}");
}

#[test]
fn sleep_without_cancellation_sleeps() {
    let h = thread::spawn(|| {
        let start = Instant::now();
        (thread::sleep(Duration::from_millis(20)), start.elapsed())
    });
    let (r, slept) = h.join().unwrap();
    assert!(r.is_ok());
    assert!(slept >= Duration::from_millis(20));
}

#[test]
fn cancellation_flows_down_to_threads_spawned_by_threads() {
    let parent = thread::spawn(|| {
        let child = thread::spawn(spin_until_cancelled);
        let r = spin_until_cancelled();
        (r, child.join().unwrap())
    });
    std::thread::sleep(Duration::from_millis(10));
    parent.cancel();
    let (mine, childs) = parent.join().unwrap();
    assert_eq!(mine.unwrap_err().kind(), CauseKind::Requested);
    assert_eq!(childs.unwrap_err().kind(), CauseKind::ParentCancelled);
}

#[test]
fn cancelling_a_child_leaves_the_parent_alone() {
    let parent = thread::spawn(|| {
        let child = thread::spawn(spin_until_cancelled);
        std::thread::sleep(Duration::from_millis(5));
        child.cancel();
        let childs = child.join().unwrap();
        (childs.is_err(), thread::is_cancelled())
    });
    assert_eq!(parent.join().unwrap(), (true, false));
}

#[test]
fn a_builder_token_with_a_deadline_cancels_by_itself() {
    let deadline = CancelToken::with_timeout(Duration::from_millis(10));
    let h = thread::Builder::new()
        .token(&deadline)
        .spawn(spin_until_cancelled);
    assert_eq!(
        h.join().unwrap().unwrap_err().kind(),
        CauseKind::DeadlineExceeded
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_thread_spawned_in_an_async_scope_is_cancelled_with_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    let res = spectrum_rt::scope::scope(|s| async move {
        let h = thread::spawn(move || tx.send(spin_until_cancelled()).unwrap());
        h.detach();
        s.cancel_with(CancelCause::new("scope is done"));
        Ok::<_, spectrum_rt::scope::BoxError>(())
    })
    .await;
    let _ = res;
    let cause = rx.recv().unwrap().unwrap_err();
    assert_eq!(cause.kind(), CauseKind::ParentCancelled);
}
