//! Bounded mailboxes: `tell` waits for room, `try_tell` gives the message back, and the overflow
//! policies (fail, drop newest, drop oldest, dead letters); unbounded by explicit choice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spectrum_actor::dead_letters::{self, DeadLetterReason};
use spectrum_actor::{
    Actor, Builder, Context, Handler, Mailbox, Overflow, SyncHandler, TellError, TryTellError,
};

/// Handles nothing until the gate opens; then records what it got.
struct Gated {
    open: Arc<AtomicBool>,
    got: Vec<u32>,
}
impl Actor for Gated {}
impl Handler<u32> for Gated {
    type Reply = ();
    async fn handle(&mut self, n: u32, _: &mut Context<Self>) {
        while !self.open.load(Ordering::SeqCst) {
            spectrum_rt::time::sleep(Duration::from_millis(1)).await;
        }
        self.got.push(n);
    }
}
struct Got;
impl SyncHandler<Got> for Gated {
    type Reply = Vec<u32>;
    fn handle(&mut self, _: Got, _: &mut Context<Self>) -> Vec<u32> {
        std::mem::take(&mut self.got)
    }
}

fn gated(mailbox: Mailbox) -> (spectrum_actor::Addr<Gated>, Arc<AtomicBool>) {
    let open = Arc::new(AtomicBool::new(false));
    let a = Builder::new().mailbox(mailbox).spawn(Gated {
        open: open.clone(),
        got: Vec::new(),
    });
    (a, open)
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn tell_waits_for_room() {
    let (a, open) = gated(Mailbox::bounded(4));
    for i in 0..4 {
        a.tell(i).await.unwrap(); // accepted: 4 = capacity (the first is being handled)
    }
    assert_eq!(a.mailbox_len(), 4);
    assert!(matches!(a.try_tell(99), Err(TryTellError::Full(99))));
    let a2 = a.clone();
    let blocked = spectrum_rt::spawn(async move { a2.tell(4).await });
    spectrum_rt::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !blocked.is_finished(),
        "the fifth tell waits while the mailbox is full"
    );
    open.store(true, Ordering::SeqCst);
    blocked.await.unwrap().unwrap();
    assert_eq!(a.ask(Got).await.unwrap(), [0, 1, 2, 3, 4]);
    a.stop();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_cancelled_waiting_tell_passes_its_turn_on() {
    let (a, open) = gated(Mailbox::bounded(1));
    a.tell(0).await.unwrap();
    let (a1, a2) = (a.clone(), a.clone());
    let first = spectrum_rt::spawn(async move { a1.tell(1).await });
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    let second = spectrum_rt::spawn(async move { a2.tell(2).await });
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    first.cancel();
    assert!(first.await.is_err());
    open.store(true, Ordering::SeqCst);
    second.await.unwrap().unwrap();
    assert_eq!(a.ask(Got).await.unwrap(), [0, 2]);
    a.stop();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn overflow_fail_gives_the_message_back() {
    let (a, open) = gated(Mailbox::bounded(1).overflow(Overflow::Fail));
    a.tell(1).await.unwrap();
    assert!(matches!(a.tell(2).await, Err(TellError::Full(2))));
    open.store(true, Ordering::SeqCst);
    a.stop();
    a.join().await;
    assert!(matches!(a.tell(3).await, Err(TellError::Closed(3))));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn overflow_drop_newest_and_oldest() {
    let (a, open) = gated(Mailbox::bounded(3).overflow(Overflow::DropNewest).budget(1));
    a.tell(0).await.unwrap();
    spectrum_rt::time::sleep(Duration::from_millis(1)).await; // 0 is in the actor's hands
    for i in 1..6 {
        a.tell(i).await.unwrap(); // 1, 2 fit; 3, 4, 5 are dropped
    }
    assert_eq!(a.dropped(), 3);
    open.store(true, Ordering::SeqCst);
    // An ask is never dropped silently: under a drop policy a full mailbox fails it.
    assert!(a.ask(Got).await.unwrap_err().is_full());
    a.stop();
    a.join().await;

    let (b, open) = gated(Mailbox::bounded(3).overflow(Overflow::DropOldest).budget(1));
    b.tell(0).await.unwrap();
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    for i in 1..6 {
        b.tell(i).await.unwrap();
    }
    assert_eq!(b.dropped(), 3);
    open.store(true, Ordering::SeqCst);
    spectrum_rt::time::sleep(Duration::from_millis(10)).await;
    // 0 was already taken by the actor; 1, 2, 3 were dropped as the oldest queued.
    assert_eq!(b.ask(Got).await.unwrap(), [0, 4, 5]);
    b.stop();
    b.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn overflow_dead_letter() {
    let letters = dead_letters::subscribe(16);
    let (a, open) = gated(Mailbox::bounded(1).overflow(Overflow::DeadLetter));
    a.tell(1).await.unwrap();
    a.tell(2).await.unwrap(); // full: to the dead-letter office
    let l = loop {
        let l = letters.recv().await;
        if l.to == a.id() {
            break l;
        }
    };
    assert_eq!(l.reason, DeadLetterReason::MailboxFull);
    assert_eq!(l.message.downcast_ref::<u32>(), Some(&2));
    open.store(true, Ordering::SeqCst);
    a.stop();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn unbounded_never_waits() {
    let (a, open) = gated(Mailbox::unbounded());
    assert_eq!(a.capacity(), None);
    for i in 0..10_000 {
        a.try_tell(i).unwrap();
    }
    open.store(true, Ordering::SeqCst);
    a.stop();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn default_capacity_is_documented() {
    let (a, open) = gated(Mailbox::default());
    assert_eq!(a.capacity(), Some(spectrum_actor::DEFAULT_CAPACITY));
    open.store(true, Ordering::SeqCst);
    a.stop();
    a.join().await;
}
