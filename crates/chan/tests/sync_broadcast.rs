#![cfg(not(loom))]
//! The broadcast channel: every receiver sees every value in order, exact lag reporting, close
//! and drain, sends without receivers, cancel safety, threads blocking with `.wait()`, panics in
//! `clone`, bad capacities, the stream adapter, and a stress run with random cancellation.

mod common;

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{poll_once, poll_with, CountingWaker, MaybeCancel, Rng};
use futures::StreamExt;
use spectrum_chan::sync::broadcast::{
    self, try_channel, CapacityError, Lagged, RecvError, SendError, TryRecvError, MAX_CAPACITY,
};
use spectrum_rt::{Runtime, Wait};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

#[test]
fn every_receiver_sees_every_value_in_order() {
    const N: u32 = 2_000;
    let rt = runtime(2);
    // Capacity N: nobody can lag, so every receiver must see all N values, in order.
    let (tx, rx) = broadcast::channel::<u32>(N as usize);
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    for i in 0..6 {
        let mut rx = rx.resubscribe();
        if i % 2 == 0 {
            tasks.push(rt.spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv().await {
                    got.push(v);
                }
                got
            }));
        } else {
            threads.push(std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv().wait() {
                    got.push(v);
                }
                got
            }));
        }
    }
    drop(rx);
    assert_eq!(tx.receiver_count(), 6);
    for v in 0..N {
        assert_eq!(tx.send(v), Ok(6));
        if v % 97 == 0 {
            std::thread::yield_now();
        }
    }
    drop(tx);
    let want: Vec<u32> = (0..N).collect();
    for t in tasks {
        assert_eq!(rt.block_on(t).unwrap(), want);
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), want);
    }
}

#[test]
fn capacity_rounds_up_to_a_power_of_two() {
    for (asked, got) in [(1, 1), (2, 2), (3, 4), (5, 8), (16, 16), (17, 32)] {
        let (tx, rx) = broadcast::channel::<u8>(asked);
        assert_eq!(
            (tx.capacity(), rx.capacity()),
            (got, got),
            "capacity({asked})"
        );
    }
}

#[test]
fn lag_is_reported_once_with_the_exact_count_then_the_oldest_retained_value_follows() {
    let (tx, mut rx) = broadcast::channel(4);
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(6)));
    assert_eq!(rx.len(), 4);
    for i in 6..10 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

    // A second lag after partial reading, through the future this time.
    for i in 10..13 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.recv().wait(), Ok(10));
    for i in 13..20 {
        tx.send(i).unwrap();
    }
    // Unread: 11..20 (9 values), retained: 16..20.
    assert_eq!(rx.recv().wait(), Err(RecvError::Lagged(5)));
    for i in 16..20 {
        assert_eq!(rx.recv().wait(), Ok(i));
    }
}

#[test]
fn lag_of_a_receiver_exactly_one_capacity_behind_is_no_lag() {
    let (tx, mut rx) = broadcast::channel(4);
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    for i in 0..4 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    for i in 4..9 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn closed_only_after_the_last_sender_and_after_draining() {
    let (tx, mut rx) = broadcast::channel(8);
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    drop(tx);
    assert!(!rx.is_closed());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx2.send(2).unwrap();
    tx2.send(3).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.recv().wait(), Ok(2));
    assert_eq!(rx.recv().wait(), Ok(3));
    assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
    assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_lagged_receiver_of_a_closed_channel_gets_lagged_then_the_rest_then_closed() {
    let (tx, mut rx) = broadcast::channel(2);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(rx.recv().wait(), Err(RecvError::Lagged(3)));
    assert_eq!(rx.recv().wait(), Ok(3));
    assert_eq!(rx.recv().wait(), Ok(4));
    assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
}

#[test]
fn a_parked_receiver_is_woken_by_the_close() {
    let (tx, mut rx) = broadcast::channel::<u8>(1);
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(rx.recv());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        drop(tx);
        assert_eq!(wakes.wakes(), 1);
        assert_eq!(
            poll_with(f.as_mut(), &waker),
            Poll::Ready(Err(RecvError::Closed))
        );
    }
}

#[test]
fn send_without_receivers_gives_the_value_back_and_stores_nothing() {
    let (tx, rx) = broadcast::channel(4);
    drop(rx);
    assert_eq!(tx.receiver_count(), 0);
    assert!(tx.is_closed());
    assert_eq!(
        tx.send(String::from("lost")),
        Err(SendError(String::from("lost")))
    );
    let e = tx.send(String::from("back")).unwrap_err();
    assert_eq!(e.into_inner(), "back");
    assert_eq!(e_display(), "the broadcast channel has no receivers");
    let mut rx = tx.subscribe();
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "nothing was stored"
    );
    assert_eq!(tx.send(String::from("seen")), Ok(1));
    assert_eq!(rx.try_recv().as_deref(), Ok("seen"));

    fn e_display() -> String {
        SendError(0u8).to_string()
    }
}

#[test]
fn sender_new_starts_without_receivers() {
    let tx = broadcast::Sender::<u8>::new(2);
    assert_eq!(tx.send(1), Err(SendError(1)));
    let mut rx = tx.subscribe();
    assert_eq!(tx.send(2), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn subscribers_see_only_later_values_and_resubscribe_starts_at_the_tail() {
    let (tx, mut rx1) = broadcast::channel(8);
    tx.send(1).unwrap();
    let mut rx2 = tx.subscribe();
    tx.send(2).unwrap();
    let mut rx3 = rx1.resubscribe();
    tx.send(3).unwrap();
    assert_eq!(tx.receiver_count(), 3);
    assert_eq!(rx3.receiver_count(), 3);
    let drain = |rx: &mut broadcast::Receiver<i32>| {
        std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>()
    };
    assert_eq!(drain(&mut rx1), [1, 2, 3]);
    assert_eq!(drain(&mut rx2), [2, 3]);
    assert_eq!(drain(&mut rx3), [3]);
    assert!(rx1.same_channel(&rx3));
    assert!(tx.same_channel(&tx.clone()));
    let (other, _r) = broadcast::channel::<i32>(1);
    assert!(!tx.same_channel(&other));
}

#[test]
fn lengths_follow_tokio() {
    let (tx, mut rx1) = broadcast::channel(4);
    let mut rx2 = tx.subscribe();
    assert!(tx.is_empty() && rx1.is_empty());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!((tx.len(), rx1.len(), rx2.len()), (2, 2, 2));
    rx1.try_recv().unwrap();
    // Value 1 is still wanted by rx2.
    assert_eq!((tx.len(), rx1.len(), rx2.len()), (2, 1, 2));
    rx2.try_recv().unwrap();
    assert_eq!(tx.len(), 1);
    rx1.try_recv().unwrap();
    rx2.try_recv().unwrap();
    assert!(tx.is_empty() && rx1.is_empty() && rx2.is_empty());
    // A receiver going away no longer holds values back.
    tx.send(3).unwrap();
    assert_eq!(tx.len(), 1);
    rx1.try_recv().unwrap();
    assert_eq!(tx.len(), 1);
    drop(rx2);
    assert_eq!(tx.len(), 0);
    // Overwritten values do not count.
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    assert_eq!((tx.len(), rx1.len()), (4, 10));
}

#[test]
fn a_value_is_dropped_once_every_receiver_has_read_it() {
    let (tx, mut rx1) = broadcast::channel(4);
    let mut rx2 = tx.subscribe();
    let v = Arc::new(());
    tx.send(v.clone()).unwrap();
    assert_eq!(Arc::strong_count(&v), 2);
    drop(rx1.try_recv().unwrap());
    assert_eq!(Arc::strong_count(&v), 2, "rx2 has not read it");
    drop(rx2.try_recv().unwrap());
    assert_eq!(Arc::strong_count(&v), 1, "the last reader dropped it");

    // A receiver dropped without reading releases its share too.
    tx.send(v.clone()).unwrap();
    drop(rx1.try_recv().unwrap());
    drop(rx2);
    assert_eq!(Arc::strong_count(&v), 1);

    // And the channel drops what it still holds.
    tx.send(v.clone()).unwrap();
    drop((tx, rx1));
    assert_eq!(Arc::strong_count(&v), 1);
}

#[test]
fn a_thread_blocks_in_wait_until_a_value_arrives() {
    let (tx, mut rx) = broadcast::channel(1);
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        let v = rx.recv().wait();
        (v, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    tx.send(7).unwrap();
    let (v, waited) = t.join().unwrap();
    assert_eq!(v, Ok(7));
    assert!(
        waited >= Duration::from_millis(40),
        "it waited ({waited:?})"
    );
}

#[test]
fn dropping_a_pending_recv_loses_nothing() {
    let (tx, mut rx) = broadcast::channel(4);
    let mut other = tx.subscribe();
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(rx.recv());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        tx.send(1).unwrap();
        assert_eq!(wakes.wakes(), 1);
        // Dropped after it was woken, before it returned the value.
    }
    {
        let mut f = pin!(rx.recv());
        assert!(poll_once(f.as_mut()).is_ready());
    }
    // Dropped while still parked; the next recv gets the next value, and the parked node is
    // gone from the queue (the send below would otherwise touch freed memory).
    {
        let mut f = pin!(rx.recv());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
    }
    tx.send(2).unwrap();
    assert_eq!(wakes.wakes(), 1, "the dropped future was unlinked");
    assert_eq!(rx.try_recv(), Ok(2));
    // The other receiver saw both.
    assert_eq!(other.try_recv(), Ok(1));
    assert_eq!(other.try_recv(), Ok(2));
}

#[test]
fn recv_under_a_timeout_in_a_task_loses_nothing() {
    let rt = runtime(2);
    let (tx, mut rx) = broadcast::channel(16);
    let got = rt.block_on(async move {
        let mut got = Vec::new();
        let mut timeouts = 0;
        let sender = spectrum_rt::spawn(async move {
            for i in 0..20 {
                spectrum_rt::time::sleep(Duration::from_millis(2)).await;
                tx.send(i).unwrap();
            }
        });
        loop {
            let recv = rx.recv();
            let timer = spectrum_rt::time::sleep(Duration::from_micros(500));
            match futures::future::select(pin!(recv), pin!(timer)).await {
                futures::future::Either::Left((Ok(v), _)) => got.push(v),
                futures::future::Either::Left((Err(RecvError::Closed), _)) => break,
                futures::future::Either::Left((Err(e), _)) => panic!("{e}"),
                futures::future::Either::Right(_) => timeouts += 1,
            }
        }
        sender.await.unwrap();
        assert!(timeouts > 0, "the timeout cancelled some receives");
        got
    });
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

#[test]
fn sender_closed_resolves_when_the_last_receiver_goes() {
    let (tx, rx1) = broadcast::channel::<u8>(1);
    let rx2 = rx1.resubscribe();
    let (wakes, waker) = CountingWaker::new();
    let mut f = pin!(tx.closed());
    assert!(poll_with(f.as_mut(), &waker).is_pending());
    drop(rx1);
    assert!(poll_with(f.as_mut(), &waker).is_pending());
    assert_eq!(wakes.wakes(), 0);
    drop(rx2);
    assert_eq!(wakes.wakes(), 1);
    assert!(poll_with(f.as_mut(), &waker).is_ready());
    // Already closed: ready at once; from a thread too.
    assert!(poll_once(pin!(tx.closed())).is_ready());
    tx.closed().wait();
}

#[derive(Debug)]
struct PanickyClone {
    armed: Arc<AtomicBool>,
    v: u32,
}

impl Clone for PanickyClone {
    fn clone(&self) -> Self {
        if self.armed.swap(false, SeqCst) {
            panic!("clone panicked");
        }
        PanickyClone {
            armed: self.armed.clone(),
            v: self.v,
        }
    }
}

#[test]
fn a_panicking_clone_does_not_wedge_the_channel() {
    let armed = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = broadcast::channel(2);
    let v = |v| PanickyClone {
        armed: armed.clone(),
        v,
    };
    tx.send(v(1)).unwrap();
    armed.store(true, SeqCst);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.try_recv()));
    assert!(r.is_err(), "the clone panicked");
    // The sender can still overwrite that slot (the panicking reader left it) ...
    for i in 2..=3 {
        tx.send(v(i)).unwrap();
    }
    // ... and the receiver goes on: value 1 was overwritten since.
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Lagged(1));
    assert_eq!(rx.try_recv().unwrap().v, 2);
    // A panic while the value is still there: the same value comes again afterwards.
    armed.store(true, SeqCst);
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv().wait())).is_err());
    assert_eq!(rx.recv().wait().unwrap().v, 3);
}

#[test]
fn bad_capacities_give_clear_errors() {
    assert_eq!(try_channel::<u8>(0).unwrap_err(), CapacityError::Zero);
    assert_eq!(
        try_channel::<u8>(MAX_CAPACITY + 1).unwrap_err(),
        CapacityError::TooLarge(MAX_CAPACITY + 1)
    );
    assert_eq!(
        try_channel::<u8>(usize::MAX).unwrap_err(),
        CapacityError::TooLarge(usize::MAX)
    );
    assert_eq!(
        CapacityError::Zero.to_string(),
        "broadcast channel capacity must be at least 1"
    );
    let zero = std::panic::catch_unwind(|| broadcast::channel::<u8>(0)).unwrap_err();
    let msg = zero.downcast_ref::<String>().unwrap();
    assert_eq!(
        msg,
        "broadcast::channel(0): broadcast channel capacity must be at least 1"
    );
    let huge = std::panic::catch_unwind(|| broadcast::channel::<u8>(usize::MAX)).unwrap_err();
    let msg = huge.downcast_ref::<String>().unwrap();
    assert!(msg.contains("exceeds MAX_CAPACITY"), "{msg}");
}

#[test]
fn the_stream_yields_values_and_lags_and_ends_at_the_close() {
    let (tx, rx) = broadcast::channel(2);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    drop(tx);
    let items: Vec<_> = futures::executor::block_on(rx.into_stream().collect());
    assert_eq!(items, [Err(Lagged(3)), Ok(3), Ok(4)]);
}

#[test]
fn a_task_waiting_on_recv_names_a_signal_in_the_dump() {
    let rt = runtime(1);
    let (tx, mut rx) = broadcast::channel::<u8>(1);
    let t = rt.spawn(async move { rx.recv().await });
    let start = Instant::now();
    loop {
        let dump = rt.dump();
        let kind = dump
            .tasks
            .iter()
            .find(|x| x.info.id == t.id())
            .and_then(|x| x.info.waiting_on)
            .map(|w| w.kind_name());
        if kind == Some("signal") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no wait note: {kind:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    tx.send(3).unwrap();
    assert_eq!(rt.block_on(t).unwrap(), Ok(3));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<broadcast::Sender<u8>>();
    check::<broadcast::Receiver<u8>>();
    fn send<T: Send>(_: &T) {}
    let (_tx, mut rx) = broadcast::channel::<u8>(1);
    send(&rx.recv());
}

/// The values a stress receiver saw: per-sender sequences strictly increasing, and
/// `received + lagged == sent`.
#[derive(Default)]
struct Seen {
    received: u64,
    lagged: u64,
    last: Vec<Option<u32>>,
}

impl Seen {
    fn new(senders: usize) -> Seen {
        Seen {
            last: vec![None; senders],
            ..Seen::default()
        }
    }

    fn record(&mut self, r: Result<(u8, u32), RecvError>) -> bool {
        match r {
            Ok((s, seq)) => {
                let last = &mut self.last[s as usize];
                assert!(
                    last.is_none_or(|l| seq > l),
                    "sender {s}: {seq} after {last:?}"
                );
                *last = Some(seq);
                self.received += 1;
                true
            }
            Err(RecvError::Lagged(n)) => {
                assert!(n > 0);
                self.lagged += n;
                true
            }
            Err(RecvError::Closed) => false,
        }
    }
}

#[test]
fn stress_many_threads_and_tasks_random_cancellation_exact_accounting() {
    const SENDERS: usize = 3;
    const PER_SENDER: u32 = 20_000;
    let total = SENDERS as u64 * PER_SENDER as u64;
    let rt = runtime(2);
    // (capacity, how senders pace themselves): a small ring and no pacing make receivers lag
    // most of the time; a large one and paced senders make them receive most values and park
    // often (the waiter path).
    let rounds = [(8, 0), (256, 8), (4096, 128)];
    for (round, (cap, pace)) in rounds.into_iter().enumerate() {
        // Every receiver subscribes before the first send, so each must account for every
        // value: received or reported lost.
        let (tx, rx) = broadcast::channel::<(u8, u32)>(cap);
        let cancelled = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let mut threads = Vec::new();
        for i in 0..8u64 {
            let mut rx = rx.resubscribe();
            let cancelled = cancelled.clone();
            let seed = 0x9E37_79B9_7F4A_7C15 ^ ((i + 1) * 7919) ^ round as u64;
            if i % 2 == 0 {
                tasks.push(rt.spawn(async move {
                    let mut seen = Seen::new(SENDERS);
                    let mut rng = Rng(seed);
                    loop {
                        let fut = MaybeCancel {
                            f: Box::pin(rx.recv()),
                            rng: Rng(rng.next() | 1),
                        };
                        match fut.await {
                            Some(r) => {
                                if !seen.record(r) {
                                    break;
                                }
                            }
                            None => {
                                cancelled.fetch_add(1, SeqCst);
                            }
                        }
                        if rng.next() % 64 == 0 {
                            spectrum_rt::yield_now().await;
                        }
                    }
                    seen
                }));
            } else {
                threads.push(std::thread::spawn(move || {
                    let mut seen = Seen::new(SENDERS);
                    let mut rng = Rng(seed);
                    loop {
                        let r = if rng.next() % 4 == 0 {
                            // Poll once and drop it if pending (registered, then unlinked).
                            let mut f = Box::pin(rx.recv());
                            match poll_once(f.as_mut()) {
                                Poll::Ready(r) => r,
                                Poll::Pending => {
                                    cancelled.fetch_add(1, SeqCst);
                                    continue;
                                }
                            }
                        } else {
                            rx.recv().wait()
                        };
                        if !seen.record(r) {
                            break;
                        }
                    }
                    seen
                }));
            }
        }
        drop(rx);
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for seq in 0..PER_SENDER {
                        assert_eq!(tx.send((s as u8, seq)).map(|_| ()), Ok(()));
                        match pace {
                            0 => {}
                            8 if seq % 8 == 0 => std::thread::yield_now(),
                            128 if seq % 128 == 0 => std::thread::sleep(Duration::from_micros(50)),
                            _ => {}
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.join().unwrap();
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(rt.block_on(t).unwrap());
        }
        for t in threads {
            all.push(t.join().unwrap());
        }
        for seen in &all {
            assert_eq!(
                seen.received + seen.lagged,
                total,
                "nothing lost or doubled"
            );
        }
        assert!(cancelled.load(SeqCst) > 0, "some receives were cancelled");
        if round == 0 {
            assert!(
                all.iter().any(|s| s.lagged > 0),
                "the small ring made receivers lag"
            );
        }
    }
}
