//! Named actors (register / whereis, released on exit) and process groups (broadcast).

use spectrum_actor::{group, registry, Actor, Context, RegisterError, SyncHandler};

#[derive(Default)]
struct Counter(u32);
impl Actor for Counter {}
#[derive(Clone)]
struct Tick;
impl SyncHandler<Tick> for Counter {
    type Reply = ();
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        self.0 += 1;
    }
}
struct Get;
impl SyncHandler<Get> for Counter {
    type Reply = u32;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u32 {
        self.0
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn register_whereis_and_release_on_exit() {
    let a = spectrum_actor::spawn(Counter::default());
    let b = spectrum_actor::spawn(Counter::default());
    registry::register("rg-counter", &a.actor_ref()).unwrap();
    assert_eq!(
        registry::register("rg-counter", &b.actor_ref()),
        Err(RegisterError::Taken(a.actor_ref()))
    );
    let found = registry::whereis_addr::<Counter>("rg-counter").unwrap();
    assert_eq!(found.id(), a.id());
    assert!(
        registry::whereis_addr::<Probe>("rg-counter").is_none(),
        "wrong type"
    );
    // Registration keeps the mailbox open even with no Addr left.
    let r = a.actor_ref();
    drop((a, found));
    assert!(r.is_alive());
    registry::whereis_addr::<Counter>("rg-counter")
        .unwrap()
        .tell(Tick)
        .await
        .unwrap();
    r.stop();
    r.join().await;
    assert!(registry::whereis("rg-counter").is_none());
    // The name is free again.
    registry::register("rg-counter", &b.actor_ref()).unwrap();
    assert!(registry::unregister("rg-counter"));
    assert!(!registry::unregister("rg-counter"));
    b.stop();
    b.join().await;
    let dead = b.actor_ref();
    assert_eq!(
        registry::register("rg-x", &dead),
        Err(RegisterError::NoProc)
    );
}

struct Probe;
impl Actor for Probe {}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn groups_broadcast_and_forget_dead_members() {
    let members: Vec<_> = (0..5)
        .map(|_| spectrum_actor::spawn(Counter::default()))
        .collect();
    for m in &members {
        assert!(group::join("rg-group", &m.recipient::<Tick>()));
        assert!(group::join("rg-group", &m.recipient::<Tick>())); // idempotent
    }
    assert_eq!(group::members::<Tick, ()>("rg-group").len(), 5);
    assert_eq!(group::broadcast("rg-group", Tick), 5);
    for m in &members {
        assert_eq!(m.ask(Get).await.unwrap(), 1);
    }
    members[0].stop();
    members[0].join().await;
    assert_eq!(group::members::<Tick, ()>("rg-group").len(), 4);
    assert!(group::leave("rg-group", members[1].id()));
    assert_eq!(group::broadcast("rg-group", Tick), 3);
    for m in &members {
        m.stop();
        m.join().await;
    }
    assert!(group::members::<Tick, ()>("rg-group").is_empty());
}
