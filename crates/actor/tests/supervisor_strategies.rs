//! OTP supervisor rule 12: the four strategies.

mod common;

use std::time::Duration;

use common::{child, crash, probe_spec, restarted, Events, Probe};
use spectrum_actor::supervisor::{ChildSpec, Strategy, Supervisor};

fn sup(strategy: Strategy, ev: &Events) -> Supervisor {
    Supervisor::builder()
        .strategy(strategy)
        .intensity(10, Duration::from_secs(5))
        .child(probe_spec("a", ev))
        .child(probe_spec("b", ev))
        .child(probe_spec("c", ev))
        .build()
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(sup(Strategy::OneForOne, &ev));
    let (a, b, c) = (
        child(&s, "a").await.unwrap(),
        child(&s, "b").await.unwrap(),
        child(&s, "c").await.unwrap(),
    );
    ev.take();
    crash(&b).await;
    let b2 = restarted(&s, "b", &b).await;
    assert_ne!(b, b2);
    assert!(a.is_alive() && c.is_alive());
    assert_eq!(
        ev.snapshot(),
        ["b stopped panicked: b crashed", "b started"]
    );
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn one_for_all_restarts_everyone() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(sup(Strategy::OneForAll, &ev));
    let b = child(&s, "b").await.unwrap();
    ev.take();
    crash(&b).await;
    restarted(&s, "b", &b).await;
    s.count_children().await.unwrap();
    // The others are terminated in reverse order, then all start in order.
    assert_eq!(
        ev.snapshot(),
        [
            "b stopped panicked: b crashed",
            "c stopped shutdown",
            "a stopped shutdown",
            "a started",
            "b started",
            "c started"
        ]
    );
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rest_for_one_restarts_the_failed_and_later_children() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(sup(Strategy::RestForOne, &ev));
    let a = child(&s, "a").await.unwrap();
    let b = child(&s, "b").await.unwrap();
    ev.take();
    crash(&b).await;
    restarted(&s, "b", &b).await;
    s.count_children().await.unwrap();
    assert_eq!(
        ev.snapshot(),
        [
            "b stopped panicked: b crashed",
            "c stopped shutdown",
            "b started",
            "c started"
        ]
    );
    assert!(a.is_alive() && child(&s, "a").await == Some(a));
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn simple_one_for_one_is_a_dynamic_pool() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .strategy(Strategy::SimpleOneForOne)
            .intensity(10, Duration::from_secs(5))
            .build(),
    );
    let template = {
        let ev = ev.clone();
        ChildSpec::new("conn", move || Probe::new("conn", &ev))
    };
    let mut kids = Vec::new();
    for _ in 0..5 {
        kids.push(s.start_child(template.clone()).await.unwrap());
    }
    assert_eq!(s.count_children().await.unwrap().active, 5);
    // Same id five times: a pool identifies children by actor.
    crash(&kids[2]).await;
    for _ in 0..100 {
        if s.count_children().await.unwrap().active == 5 {
            break;
        }
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let now: Vec<_> = s
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.actor)
        .collect();
    assert_eq!(now.len(), 5);
    assert!(!now.contains(&kids[2]), "the crashed one was replaced");
    for k in [0, 1, 3, 4] {
        assert!(
            now.contains(&kids[k]),
            "one for one: the others are untouched"
        );
    }
    assert!(s.terminate_child(kids[0].id()).await.unwrap());
    assert_eq!(s.count_children().await.unwrap().active, 4);
    s.stop();
    s.join().await;
}
