//! Two actors that ask each other from inside their handlers wait forever (each handler waits
//! for the other's reply, and neither handles another message meanwhile): the runtime's
//! wait-for graph sees the cycle through the asks and reports it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum_actor::{Actor, Addr, Context, Handler};
use spectrum_rt::runtime::Diagnostic;

#[derive(Default)]
struct Peer {
    other: Option<Addr<Peer>>,
}

impl Actor for Peer {}

struct Meet(Addr<Peer>);
impl Handler<Meet> for Peer {
    type Reply = ();
    async fn handle(&mut self, m: Meet, _: &mut Context<Self>) {
        self.other = Some(m.0);
    }
}

/// Asks the other peer to `Ping` back, and waits for its answer.
struct Ping;
impl Handler<Ping> for Peer {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) {
        let other = self.other.clone().expect("met");
        let _ = other.ask(Ping).without_timeout().await;
    }
}

#[test]
fn actors_asking_each_other_are_reported_as_a_deadlock() {
    let seen = Arc::new(Mutex::new(Vec::<Diagnostic>::new()));
    let rt = spectrum_rt::Runtime::builder()
        .workers(2)
        .detect_deadlocks(Some(Duration::from_millis(20)))
        .on_diagnostic({
            let seen = seen.clone();
            move |d| seen.lock().unwrap().push(d.clone())
        })
        .build()
        .unwrap();
    let (a, b) = rt.block_on(async {
        let a = spectrum_actor::Builder::new()
            .name("alice")
            .spawn(Peer::default());
        let b = spectrum_actor::Builder::new()
            .name("bob")
            .spawn(Peer::default());
        a.ask(Meet(b.clone())).await.unwrap();
        b.ask(Meet(a.clone())).await.unwrap();
        a.tell(Ping).await.unwrap();
        (a, b)
    });
    let start = Instant::now();
    let report = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|d| matches!(d, Diagnostic::Deadlock { .. }))
            .cloned();
        if let Some(d) = found {
            break d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no deadlock report"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let Diagnostic::Deadlock { cycle, tasks } = &report else {
        unreachable!()
    };
    assert!(cycle.is_certain(), "{report}");
    assert_eq!(cycle.edges.len(), 2, "{report}");
    let text = report.to_string();
    for addr in [&a, &b] {
        let via = format!("waits on actor #{}", addr.id().as_u64());
        assert!(text.contains(&via), "{via} missing from {text}");
    }
    assert_eq!(tasks.len(), 2);
    assert!(rt.dump().to_string().contains("!! deadlock"));
    a.kill();
    b.kill();
    rt.block_on(async {
        a.join().await;
        b.join().await;
    });
}
