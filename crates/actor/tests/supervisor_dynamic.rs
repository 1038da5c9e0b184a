//! OTP supervisor rules 17 and 18, and Akka's restart backoff: dynamic children are lost when
//! the supervisor restarts; auto shutdown on significant children; exponential backoff.

mod common;

use std::time::Duration;

use common::{child, crash, probe_spec, Cmd, Events, Probe};
use spectrum_actor::supervisor::{AutoShutdown, Backoff, ChildSpec, Restart, Supervisor};
use spectrum_actor::{registry, ExitReason};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn dynamic_children_are_lost_when_the_supervisor_restarts() {
    let ev = Events::default();
    let e = ev.clone();
    let root = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(5, Duration::from_secs(5))
            .child(
                ChildSpec::supervisor("sub", move || {
                    Supervisor::builder()
                        .child(probe_spec("static", &e))
                        .build()
                })
                .register("dyn-rule-17-sub"),
            )
            .build(),
    );
    root.count_children().await.unwrap();
    let sub = registry::whereis_addr::<Supervisor>("dyn-rule-17-sub").unwrap();
    sub.start_child(probe_spec("dynamic", &ev)).await.unwrap();
    assert_eq!(sub.count_children().await.unwrap().specs, 2);
    let old = sub.actor_ref();
    drop(sub);
    old.kill(); // the root restarts `sub` from its factory
    old.join().await;
    let sub = loop {
        match registry::whereis_addr::<Supervisor>("dyn-rule-17-sub") {
            Some(s) if s.id() != old.id() => break s,
            _ => spectrum_rt::time::sleep(Duration::from_millis(1)).await,
        }
    };
    let ids: Vec<_> = sub
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["static"]);
    drop(sub);
    root.stop();
    root.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn auto_shutdown_any_and_all_significant() {
    for (auto, ends_after_first) in [
        (AutoShutdown::AnySignificant, true),
        (AutoShutdown::AllSignificant, false),
    ] {
        let ev = Events::default();
        let sig = |id: &'static str| {
            probe_spec(id, &ev)
                .restart(Restart::Transient)
                .significant(true)
        };
        let s = spectrum_actor::spawn(
            Supervisor::builder()
                .auto_shutdown(auto)
                .child(sig("x"))
                .child(sig("y"))
                .child(probe_spec("other", &ev))
                .build(),
        );
        let x = child(&s, "x").await.unwrap();
        x.addr::<Probe>()
            .unwrap()
            .tell(Cmd::Stop(ExitReason::Normal))
            .await
            .unwrap();
        x.join().await;
        spectrum_rt::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(!s.is_alive(), ends_after_first, "{auto:?}");
        if s.is_alive() {
            let y = child(&s, "y").await.unwrap();
            y.addr::<Probe>()
                .unwrap()
                .tell(Cmd::Stop(ExitReason::Normal))
                .await
                .unwrap();
        }
        let r = s.join().await;
        assert!(matches!(r, ExitReason::Shutdown(Some(_))), "{r:?}");
        assert!(ev
            .snapshot()
            .contains(&"other stopped shutdown".to_string()));
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn restarts_back_off_exponentially() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(100, Duration::from_secs(60))
            .child(probe_spec("flaky", &ev).backoff(Backoff::new(
                Duration::from_millis(10),
                Duration::from_millis(40),
            )))
            .build(),
    );
    let mut delays = Vec::new();
    let mut a = child(&s, "flaky").await.unwrap();
    for _ in 0..5 {
        crash(&a).await;
        let t0 = spectrum_rt::time::now();
        a = loop {
            if let Some(n) = child(&s, "flaky").await {
                if n != a {
                    break n;
                }
            }
            spectrum_rt::time::sleep(Duration::from_millis(1)).await;
        };
        delays.push((spectrum_rt::time::now() - t0).as_millis() as u64);
    }
    // 10, 20, 40, 40, 40 ms (capped), give or take the 1 ms polling.
    let expected = [10, 20, 40, 40, 40];
    for (d, e) in delays.iter().zip(expected) {
        assert!((e..=e + 2).contains(d), "{delays:?}");
    }
    s.stop();
    s.join().await;
}
