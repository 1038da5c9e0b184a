//! OTP supervisor rule 13: permanent, transient and temporary children.

mod common;

use std::time::Duration;

use common::{child, crash, restarted, Cmd, Events, Probe};
use spectrum_actor::supervisor::{ChildSpec, Restart, Strategy, Supervisor};
use spectrum_actor::ExitReason;

fn spec(id: &'static str, restart: Restart, ev: &Events) -> ChildSpec {
    let ev = ev.clone();
    ChildSpec::new(id, move || Probe::new(id, &ev)).restart(restart)
}

async fn end(actor: &spectrum_actor::ActorRef, reason: ExitReason) {
    let addr = actor.addr::<Probe>().unwrap();
    addr.tell(Cmd::Stop(reason)).await.unwrap();
    actor.join().await;
}

async fn settle(s: &spectrum_actor::Addr<Supervisor>) {
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    s.count_children().await.unwrap();
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn permanent_is_always_restarted() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(10, Duration::from_secs(5))
            .child(spec("p", Restart::Permanent, &ev))
            .build(),
    );
    for reason in [
        ExitReason::Normal,
        ExitReason::shutdown("x"),
        ExitReason::panicked("y"),
    ] {
        let p = child(&s, "p").await.unwrap();
        end(&p, reason).await;
        restarted(&s, "p", &p).await;
    }
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn transient_is_restarted_only_after_an_abnormal_exit() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .intensity(10, Duration::from_secs(5))
            .child(spec("t", Restart::Transient, &ev))
            .build(),
    );
    let t = child(&s, "t").await.unwrap();
    crash(&t).await;
    let t = restarted(&s, "t", &t).await;
    end(&t, ExitReason::error("io")).await;
    let t = restarted(&s, "t", &t).await;
    for normal in [ExitReason::shutdown("done"), ExitReason::Normal] {
        end(&t, normal).await;
        settle(&s).await;
        assert_eq!(
            child(&s, "t").await,
            None,
            "not restarted after a normal exit"
        );
        // The spec stays (static supervisor); restart it by hand for the next round.
        if child(&s, "t").await.is_none() && s.which_children().await.unwrap().len() == 1 {
            break;
        }
    }
    assert_eq!(s.count_children().await.unwrap().specs, 1);
    s.stop();
    s.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn temporary_is_never_restarted_even_by_a_sibling() {
    let ev = Events::default();
    let s = spectrum_actor::spawn(
        Supervisor::builder()
            .strategy(Strategy::OneForAll)
            .intensity(10, Duration::from_secs(5))
            .child(spec("perm", Restart::Permanent, &ev))
            .child(spec("temp", Restart::Temporary, &ev))
            .build(),
    );
    let perm = child(&s, "perm").await.unwrap();
    let temp = child(&s, "temp").await.unwrap();
    crash(&perm).await;
    restarted(&s, "perm", &perm).await;
    settle(&s).await;
    assert!(!temp.is_alive(), "terminated by the sibling's failure");
    let ids: Vec<_> = s
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["perm"], "the temporary child is gone, not restarted");

    // And a temporary child that crashes by itself is removed.
    let t2 = {
        let ev = ev.clone();
        s.start_child(
            ChildSpec::new("temp2", move || Probe::new("temp2", &ev)).restart(Restart::Temporary),
        )
        .await
        .unwrap()
    };
    crash(&t2).await;
    settle(&s).await;
    assert_eq!(s.count_children().await.unwrap().specs, 1);
    s.stop();
    s.join().await;
}
