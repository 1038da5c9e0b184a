//! Actor trees are scopes: cancelling the scope stops its actors gracefully, a supervisor's
//! children in reverse order, and the scope waits for it.

mod common;

use std::time::Duration;

use common::{probe_spec, Events, Probe};
use spectrum_actor::supervisor::Supervisor;
use spectrum_actor::{Builder, ExitReason};
use spectrum_rt::cancel::CancelCause;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn cancelling_a_scope_stops_its_tree_in_order() {
    let ev = Events::default();
    let e = ev.clone();
    let out = spectrum_rt::scope::supervised(|s| async move {
        let (sup, _h) = Builder::new()
            .spawn_in(
                &s,
                Supervisor::builder()
                    .child(probe_spec("a", &e))
                    .child(probe_spec("b", &e))
                    .build(),
            )
            .unwrap();
        sup.count_children().await.unwrap();
        s.cancel_with(CancelCause::new("shutting down"));
        std::future::pending::<()>().await;
        Ok::<_, spectrum_rt::scope::BoxError>(())
    })
    .await;
    assert!(out.is_err(), "the scope reports its cancellation");
    // The scope returned only after the tree had stopped, children in reverse order.
    assert_eq!(
        ev.snapshot(),
        [
            "a started",
            "b started",
            "b stopped shutdown",
            "a stopped shutdown"
        ]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_crashing_actor_fails_a_fail_fast_scope() {
    let ev = Events::default();
    let e = ev.clone();
    let out = spectrum_rt::scope::scope(|s| async move {
        let (a, h) = Builder::new().spawn_in(&s, Probe::new("a", &e)).unwrap();
        a.tell(common::Cmd::Panic).await.unwrap();
        let r = h.await;
        assert!(r.is_err());
        Ok::<_, spectrum_rt::scope::BoxError>(())
    })
    .await;
    assert!(out.is_err());
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn run_in_place_and_drop_stops_gracefully() {
    let ev = Events::default();
    let (addr, fut) = Builder::new().run(Probe::new("inline", &ev));
    let task = spectrum_rt::spawn(fut);
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    task.cancel();
    let _ = task.await;
    assert_eq!(addr.join().await, ExitReason::shutdown("task cancelled"));
    assert!(ev
        .snapshot()
        .contains(&"inline stopped shutdown: task cancelled".to_string()));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_run_future_dropped_before_its_first_poll_ends_the_actor_without_hooks() {
    let ev = Events::default();
    let (addr, fut) = Builder::new().run(Probe::new("never", &ev));
    let watcher = addr.actor_ref();
    drop(fut);
    assert_eq!(watcher.join().await, ExitReason::shutdown("task cancelled"));
    assert!(ev.snapshot().is_empty(), "no hook ran: {:?}", ev.snapshot());
    assert!(matches!(
        addr.try_tell(common::Cmd::Panic),
        Err(spectrum_actor::TryTellError::Closed(_))
    ));
}
