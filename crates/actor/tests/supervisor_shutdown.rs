//! OTP supervisor rules 15 and 16: ordered start, reverse-order shutdown, and the per-child
//! shutdown (brutal kill, timeout then kill, infinity); pools shut down concurrently.

mod common;

use std::time::Duration;

use common::{child, probe_spec, Events, Probe};
use spectrum_actor::supervisor::{ChildSpec, Shutdown, Strategy, Supervisor};
use spectrum_actor::ExitReason;

fn lingering(id: &'static str, ev: &Events, linger_ms: u64, shutdown: Shutdown) -> ChildSpec {
    let ev = ev.clone();
    ChildSpec::new(id, move || {
        Probe::new(id, &ev).lingering(Duration::from_millis(linger_ms))
    })
    .shutdown(shutdown)
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn start_in_order_stop_in_reverse() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .child(probe_spec("a", &ev))
            .child(probe_spec("b", &ev))
            .child(probe_spec("c", &ev))
            .build(),
    );
    s.count_children().await.unwrap();
    s.stop();
    assert_eq!(s.join().await, ExitReason::Shutdown(None));
    assert_eq!(
        ev.snapshot(),
        [
            "a started",
            "b started",
            "c started",
            "c stopped shutdown",
            "b stopped shutdown",
            "a stopped shutdown"
        ]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn shutdown_timeout_brutal_kill_and_infinity() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            // Takes 50 ms to stop, allowed 100: stops gracefully.
            .child(lingering(
                "patient",
                &ev,
                50,
                Shutdown::Timeout(Duration::from_millis(100)),
            ))
            // Takes 10 s to stop, allowed 100 ms: killed after 100 ms.
            .child(lingering(
                "slow",
                &ev,
                10_000,
                Shutdown::Timeout(Duration::from_millis(100)),
            ))
            // Killed at once, whatever its stopping hook would do.
            .child(lingering("brutal", &ev, 10_000, Shutdown::BrutalKill))
            // Waited for as long as it takes.
            .child(lingering("forever", &ev, 2_000, Shutdown::Infinity))
            .build(),
    );
    let slow = child(&s, "slow").await.unwrap();
    let brutal = child(&s, "brutal").await.unwrap();
    let t0 = spectrum_rt::time::now();
    s.stop();
    s.join().await;
    // Reverse order: forever (2 s), brutal (0), slow (100 ms, then killed), patient (50 ms).
    assert_eq!(spectrum_rt::time::now() - t0, Duration::from_millis(2_150));
    assert_eq!(brutal.exit_reason(), Some(ExitReason::Killed));
    assert_eq!(slow.exit_reason(), Some(ExitReason::Killed));
    assert_eq!(
        ev.snapshot()[4..],
        ["forever stopped shutdown", "patient stopped shutdown"]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_failing_start_stops_the_started_ones_and_fails_the_supervisor() {
    use spectrum_actor::{Actor, BoxError, Context};
    struct Broken;
    impl Actor for Broken {
        async fn started(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
            Err("cannot open port".into())
        }
    }
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .child(probe_spec("a", &ev))
            .child(probe_spec("b", &ev))
            .child(ChildSpec::new("broken", || Broken))
            .child(probe_spec("never", &ev))
            .build(),
    );
    let r = s.join().await;
    assert!(
        matches!(&r, ExitReason::Error(e) if e.to_string().contains("broken")),
        "{r:?}"
    );
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
async fn pool_children_shut_down_concurrently() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .strategy(Strategy::SimpleOneForOne)
            .build(),
    );
    for _ in 0..10 {
        s.start_child(lingering(
            "w",
            &ev,
            100,
            Shutdown::Timeout(Duration::from_secs(1)),
        ))
        .await
        .unwrap();
    }
    let t0 = spectrum_rt::time::now();
    s.stop();
    s.join().await;
    // Ten 100 ms shutdowns in parallel, not in sequence.
    assert_eq!(spectrum_rt::time::now() - t0, Duration::from_millis(100));
    assert_eq!(common::starting_with(&ev, "w stopped").len(), 10);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn nested_trees_stop_depth_first_in_reverse() {
    let ev = Events::default();
    let (e1, e2) = (ev.clone(), ev.clone());
    let root = spectrum_actor::spawn(
        Supervisor::builder()
            .child(probe_spec("w1", &ev))
            .child(ChildSpec::supervisor("sub", move || {
                Supervisor::builder()
                    .child(probe_spec("s1", &e1))
                    .child(probe_spec("s2", &e1))
                    .build()
            }))
            .child(probe_spec("w2", &e2))
            .build(),
    );
    root.count_children().await.unwrap();
    root.stop();
    root.join().await;
    assert_eq!(
        ev.snapshot(),
        [
            "w1 started",
            "s1 started",
            "s2 started",
            "w2 started",
            "w2 stopped shutdown",
            "s2 stopped shutdown",
            "s1 stopped shutdown",
            "w1 stopped shutdown"
        ]
    );
}
