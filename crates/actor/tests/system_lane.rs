//! The system lane: kill > stop > exit/down signals > user messages; user traffic cannot starve
//! it; the per-activation budget yields to other tasks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spectrum_actor::{Actor, Builder, Context, ExitReason, Handler, Mailbox, SyncHandler};

struct Slow {
    handled: Arc<AtomicU32>,
}
impl Actor for Slow {}
struct Msg;
impl Handler<Msg> for Slow {
    type Reply = ();
    async fn handle(&mut self, _: Msg, _: &mut Context<Self>) {
        self.handled.fetch_add(1, Ordering::SeqCst);
        spectrum_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn stop_overtakes_queued_messages() {
    let handled = Arc::new(AtomicU32::new(0));
    let a = spectrum_actor::spawn(Slow {
        handled: handled.clone(),
    });
    for _ in 0..100 {
        a.try_tell(Msg).unwrap();
    }
    spectrum_rt::time::sleep(Duration::from_millis(5)).await; // the first message is in progress
    a.stop();
    assert_eq!(a.join().await, ExitReason::Shutdown(None));
    // The message in progress finished; the 99 queued ones were never handled.
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn kill_interrupts_the_current_handler() {
    let handled = Arc::new(AtomicU32::new(0));
    let a = spectrum_actor::spawn(Slow {
        handled: handled.clone(),
    });
    a.try_tell(Msg).unwrap();
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    a.stop(); // a stop is pending, but kill goes first and does not wait for the handler
    a.kill();
    let t0 = spectrum_rt::time::now();
    assert_eq!(a.join().await, ExitReason::Killed);
    assert!(spectrum_rt::time::now() - t0 < Duration::from_millis(9));
}

/// A flooded actor still sees a stop: user traffic cannot starve the system lane.
struct Busy(u64);
impl Actor for Busy {}
impl SyncHandler<u64> for Busy {
    type Reply = ();
    fn handle(&mut self, n: u64, _: &mut Context<Self>) {
        self.0 += n;
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn flood_cannot_starve_a_stop() {
    let a = Builder::new().mailbox(Mailbox::unbounded()).spawn(Busy(0));
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            spectrum_rt::spawn(async move { while a.tell(1).await.is_ok() {} })
        })
        .collect();
    spectrum_rt::time::sleep(Duration::from_millis(20)).await;
    a.stop();
    assert_eq!(a.join().await, ExitReason::Shutdown(None));
    for f in flooders {
        f.await.unwrap(); // they saw `Closed` and stopped
    }
}

/// The budget: an actor with a deep mailbox yields every `budget` messages, so another task on
/// the same (single) worker gets to run long before the mailbox is drained.
#[spectrum_macros::test(crate = "spectrum_rt")]
async fn budget_yields_the_worker() {
    let a = Builder::new()
        .mailbox(Mailbox::bounded(10_000).budget(16))
        .spawn(Busy(0));
    // Everything below runs on the runtime's one worker (the test body itself runs on the
    // test thread, in parallel with it).
    let a2 = a.clone();
    let left = spectrum_rt::spawn(async move {
        for _ in 0..10_000 {
            a2.try_tell(1).unwrap();
        }
        let r = a2.actor_ref();
        spectrum_rt::spawn(async move { r.mailbox_len() })
            .await
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        left > 9_900,
        "the probe ran only after {} messages",
        10_000 - left
    );
    a.stop();
    a.join().await;
}
