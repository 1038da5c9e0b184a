//! OTP supervisor rule 14: restart intensity per supervisor, and escalation.

mod common;

use std::time::Duration;

use common::{child, crash, probe_spec, restarted, Events};
use spectrum_actor::supervisor::{ChildSpec, Supervisor};
use spectrum_actor::{Actor, BoxError, Context, ExitReason};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn exceeding_the_intensity_stops_children_then_the_supervisor() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(2, Duration::from_secs(5))
            .child(probe_spec("a", &ev))
            .child(probe_spec("b", &ev))
            .build(),
    );
    let mut a = child(&s, "a").await.unwrap();
    for _ in 0..2 {
        crash(&a).await;
        a = restarted(&s, "a", &a).await;
    }
    ev.take();
    crash(&a).await; // the third restart within 5 s: more than 2
    assert_eq!(
        s.join().await,
        ExitReason::shutdown("reached max restart intensity")
    );
    // b (still running) was terminated before the supervisor ended.
    assert_eq!(
        ev.snapshot(),
        ["a stopped panicked: a crashed", "b stopped shutdown"]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn restarts_outside_the_period_do_not_count() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(1, Duration::from_secs(5))
            .child(probe_spec("a", &ev))
            .build(),
    );
    let mut a = child(&s, "a").await.unwrap();
    for _ in 0..5 {
        crash(&a).await;
        a = restarted(&s, "a", &a).await;
        spectrum_rt::time::sleep(Duration::from_secs(6)).await;
    }
    assert!(s.is_alive());
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_count_is_per_supervisor_not_per_child() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(1, Duration::from_secs(5))
            .child(probe_spec("a", &ev))
            .child(probe_spec("b", &ev))
            .build(),
    );
    let a = child(&s, "a").await.unwrap();
    crash(&a).await;
    restarted(&s, "a", &a).await;
    let b = child(&s, "b").await.unwrap();
    crash(&b).await; // a different child, but the second restart of this supervisor
    assert!(!s.join().await.is_killed());
    assert!(!s.is_alive());
}

/// Escalation: the child supervisor gives up, its parent restarts it (counting in the parent's
/// own intensity), and the parent gives up in turn.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn escalation_goes_up_the_tree() {
    struct CrashLoop;
    impl Actor for CrashLoop {
        async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.send_after(Duration::from_millis(1), Boom);
            Ok(())
        }
    }
    struct Boom;
    impl spectrum_actor::SyncHandler<Boom> for CrashLoop {
        type Reply = ();
        fn handle(&mut self, _: Boom, _: &mut Context<Self>) {
            panic!("crash loop");
        }
    }
    let root = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(2, Duration::from_secs(60))
            .child(ChildSpec::supervisor("mid", || {
                Supervisor::builder()
                    .intensity(3, Duration::from_secs(60))
                    .child(ChildSpec::new("worker", || CrashLoop))
                    .build()
            }))
            .build(),
    );
    let t0 = spectrum_rt::time::now();
    // A worker that crashes 1 ms after every start: mid gives up after 4 crashes, root
    // restarts mid twice, then gives up too. No spinning: it all ends.
    assert_eq!(
        root.join().await,
        ExitReason::shutdown("reached max restart intensity")
    );
    assert!(spectrum_rt::time::now() - t0 < Duration::from_secs(1));
}
