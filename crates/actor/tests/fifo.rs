//! OTP message rule 1: messages from one sender to one actor arrive in the order sent, here
//! under contention (8 senders, 2 workers, a small mailbox so senders keep waiting for room).

use std::collections::HashMap;

use spectrum_actor::{Actor, Builder, Context, Mailbox, SyncHandler};

struct Checker {
    last: HashMap<u32, u64>,
    total: u64,
}
impl Actor for Checker {}

impl SyncHandler<(u32, u64)> for Checker {
    type Reply = ();
    fn handle(&mut self, (sender, seq): (u32, u64), _: &mut Context<Self>) {
        let prev = self.last.insert(sender, seq);
        assert_eq!(
            prev.map_or(0, |p| p + 1),
            seq,
            "sender {sender} out of order"
        );
        self.total += 1;
    }
}

struct Total;
impl SyncHandler<Total> for Checker {
    type Reply = u64;
    fn handle(&mut self, _: Total, _: &mut Context<Self>) -> u64 {
        self.total
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn per_sender_fifo_under_contention() {
    const SENDERS: u32 = 8;
    const EACH: u64 = 20_000;
    let a = Builder::new().mailbox(Mailbox::bounded(16)).spawn(Checker {
        last: HashMap::new(),
        total: 0,
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let a = a.clone();
            spectrum_rt::spawn(async move {
                for i in 0..EACH {
                    if i % 3 == 0 {
                        // Mix in try_tell; on Full fall back to the waiting tell (same order).
                        if let Err(e) = a.try_tell((s, i)) {
                            a.tell(e.into_inner().unwrap()).await.unwrap();
                        }
                    } else {
                        a.tell((s, i)).await.unwrap();
                    }
                }
            })
        })
        .collect();
    // A sender on a plain thread too.
    let t = {
        let a = a.clone();
        std::thread::spawn(move || {
            use spectrum_rt::Wait;
            for i in 0..EACH {
                a.tell((SENDERS, i)).wait().unwrap();
            }
        })
    };
    for s in senders {
        s.await.unwrap();
    }
    t.join().unwrap();
    let total = a.ask(Total).await.unwrap();
    assert_eq!(total, u64::from(SENDERS + 1) * EACH);
    a.stop();
    a.join().await;
}
