#![cfg(not(loom))]
//! Guardrails: a task waiting on a lock, semaphore or notify says so in the task dump; two
//! tasks that take two mutexes in opposite orders and deadlock are reported by the runtime's
//! deadlock detector; and (debug builds) taking two mutexes in opposite orders is reported as
//! a lock-order inversion before any deadlock happens.

mod common;

use std::sync::{Arc, Mutex as StdMutex};

use common::{diag_runtime, wait_for, Seen};

use spectrum_chan::sync::{Barrier, Mutex, Notify, Semaphore};
use spectrum_rt::runtime::Diagnostic;

fn runtime(seen: &Seen, deadlocks: bool) -> spectrum_rt::Runtime {
    diag_runtime(seen, deadlocks)
}

#[test]
fn two_tasks_locking_in_opposite_orders_are_reported_as_a_deadlock() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let rt = runtime(&seen, true);
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    let met = Arc::new(Barrier::new(2));
    let t1 = rt.spawn({
        let (a, b, met) = (a.clone(), b.clone(), met.clone());
        async move {
            let _ga = a.lock().await;
            met.wait().await;
            let _gb = b.lock().await;
        }
    });
    let t2 = rt.spawn({
        let (a, b, met) = (a.clone(), b.clone(), met.clone());
        async move {
            let _gb = b.lock().await;
            met.wait().await;
            let _ga = a.lock().await;
        }
    });
    let report = wait_for("a deadlock report", || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|d| matches!(d, Diagnostic::Deadlock { .. }))
            .cloned()
    });
    let Diagnostic::Deadlock { cycle, tasks } = &report else {
        unreachable!()
    };
    assert!(cycle.is_certain(), "{report}");
    assert_eq!(cycle.edges.len(), 2, "{report}");
    let ids: Vec<_> = cycle.tasks().collect();
    assert!(ids.contains(&t1.id()) && ids.contains(&t2.id()), "{report}");
    assert!(report.to_string().contains("lock #"), "{report}");
    assert_eq!(tasks.len(), 2);
    // Both tasks note that they wait on a lock.
    let dump = rt.dump();
    for id in [t1.id(), t2.id()] {
        let t = dump
            .tasks
            .iter()
            .find(|t| t.info.id == id)
            .expect("task in dump");
        assert_eq!(t.info.waiting_on.map(|w| w.kind_name()), Some("lock"));
    }
    // Cancelling one task breaks the cycle: its queued `lock()` gives its place up and its
    // guard goes, so the other task finishes.
    t1.cancel();
    rt.block_on(async {
        assert!(t1.await.is_err());
        t2.await.unwrap();
    });
    assert!(a.try_lock().is_ok() && b.try_lock().is_ok());
}

#[test]
fn waiting_tasks_name_what_they_wait_on() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let rt = runtime(&seen, false);
    let sem = Arc::new(Semaphore::new(0));
    let notify = Arc::new(Notify::new());
    let s = rt.spawn({
        let sem = sem.clone();
        async move {
            let _p = sem.acquire().await.unwrap();
        }
    });
    let n = rt.spawn({
        let notify = notify.clone();
        async move { notify.notified().await }
    });
    wait_for("the wait notes", || {
        let dump = rt.dump();
        let kind = |id| {
            dump.tasks
                .iter()
                .find(|t| t.info.id == id)
                .and_then(|t| t.info.waiting_on)
                .map(|w| w.kind_name())
        };
        (kind(s.id()) == Some("semaphore") && kind(n.id()) == Some("signal")).then_some(())
    });
    sem.add_permits(1);
    notify.notify_one();
    rt.block_on(async {
        s.await.unwrap();
        n.await.unwrap();
    });
}

#[cfg(debug_assertions)]
#[test]
fn opposite_lock_orders_are_reported_before_any_deadlock() {
    spectrum_rt::lockdep::set_enabled(true);
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let rt = runtime(&seen, false);
    let a = Mutex::new(1);
    let b = Mutex::new(2);
    rt.block_on(async {
        {
            let _ga = a.lock().await;
            let _gb = b.lock().await;
        }
        {
            let _gb = b.lock().await;
            let _ga = a.lock().await; // the inversion: no deadlock here, but one is possible
        }
    });
    let report = wait_for("a lock-order report", || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|d| matches!(d, Diagnostic::LockOrderInversion(_)))
            .cloned()
    });
    let text = report.to_string();
    assert!(text.contains("Mutex"), "{text}");
    assert!(
        text.contains("sync_diag.rs"),
        "the report names the call sites: {text}"
    );
}
