#![cfg(not(loom))]
//! Go's channel rules (`shared/reference/go-channel-rules.md`), one test per rule, plus ports of
//! the classic tests of Go's `runtime/chan_test.go` (TestSelfSelect, TestMultiConsumer,
//! TestPseudoRandomSend, TestSelectFairness, TestNonblockRecvRace, TestSelectStress).
//!
//! Where Spectrum differs on purpose (no panics), the test checks Spectrum's documented rule.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::poll_once;

use spectrum_chan::{
    after, bounded, never, select, tick, RecvError, SendError, TryRecvError, TrySendError,
};
use spectrum_rt::Runtime;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Rule 1: an unbuffered send completes only when a receiver takes the value.
#[test]
fn rule01_unbuffered_send_waits_for_a_receiver() {
    let (tx, rx) = bounded::<u32>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let t = thread::spawn(move || {
        tx.send(7).wait().unwrap();
        d.store(1, SeqCst);
    });
    thread::sleep(Duration::from_millis(50));
    assert_eq!(done.load(SeqCst), 0, "send completed with no receiver");
    assert_eq!(rx.len(), 0, "a rendezvous channel never buffers");
    assert_eq!(rx.recv().wait(), Ok(7));
    t.join().unwrap();
    assert_eq!(done.load(SeqCst), 1);
}

/// Rule 2: sends complete while fewer than n values are buffered; then they block until space
/// frees.
#[test]
fn rule02_buffered_send_blocks_only_when_full() {
    let (tx, rx) = bounded::<u32>(3);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    let t = thread::spawn(move || {
        let start = Instant::now();
        tx.send(3).wait().unwrap();
        start.elapsed()
    });
    thread::sleep(Duration::from_millis(50));
    assert_eq!(rx.try_recv(), Ok(0));
    let waited = t.join().unwrap();
    assert!(waited >= Duration::from_millis(40), "{waited:?}");
    assert_eq!(
        (0..3).map(|_| rx.try_recv().unwrap()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// Rule 3: FIFO for values, for blocked senders and for blocked receivers.
#[test]
fn rule03_fifo_values_senders_and_receivers() {
    // Values.
    let (tx, rx) = bounded(100);
    for i in 0..100 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(
        (0..100).map(|_| rx.try_recv().unwrap()).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );

    // Blocked senders are served in the order they blocked (each future polled once parks it).
    let (tx, rx) = bounded::<u32>(0);
    let mut sends: Vec<_> = (0..5).map(|i| Box::pin(tx.send(i))).collect();
    for f in &mut sends {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    let got: Vec<u32> = (0..5).map(|_| rx.try_recv().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    for f in &mut sends {
        assert_eq!(poll_once(f.as_mut()), Poll::Ready(Ok(())));
    }

    // Blocked receivers are served in the order they blocked.
    let mut recvs: Vec<_> = (0..5).map(|_| Box::pin(rx.recv())).collect();
    for f in &mut recvs {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    for v in 0..5 {
        tx.try_send(v).unwrap();
    }
    for (i, f) in recvs.iter_mut().enumerate() {
        assert_eq!(poll_once(f.as_mut()), Poll::Ready(Ok(i as u32)));
    }
}

/// Rule 4: after close, receivers drain the buffer, then get `Closed` at once.
#[test]
fn rule04_close_drains_then_reports_closed() {
    let (tx, rx) = bounded(4);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(tx.close());
    assert!(rx.is_closed());
    assert_eq!(rx.recv().wait(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

/// Rule 5 (Spectrum): a send on a closed channel returns the value in the error.
#[test]
fn rule05_send_on_closed_returns_the_value() {
    let (tx, rx) = bounded(4);
    rx.close();
    assert_eq!(
        tx.send(String::from("v")).wait(),
        Err(SendError(String::from("v")))
    );
    assert_eq!(
        tx.try_send(5.to_string()),
        Err(TrySendError::Closed("5".into()))
    );
    // A sender blocked when the close happens gets its value back too.
    let (tx, rx) = bounded::<String>(0);
    let t = thread::spawn(move || tx.send("blocked".into()).wait());
    thread::sleep(Duration::from_millis(20));
    rx.close();
    assert_eq!(t.join().unwrap(), Err(SendError("blocked".into())));
}

/// Rule 6 (Spectrum): closing twice is a no-op that reports it was already closed.
#[test]
fn rule06_close_twice_reports_already_closed() {
    let (tx, rx) = bounded::<()>(1);
    assert!(tx.close());
    assert!(!tx.close());
    assert!(!rx.close());
}

/// Rule 7: a receive from a closed, drained channel never blocks.
#[test]
fn rule07_closed_drained_receive_never_blocks() {
    let (tx, rx) = bounded::<u8>(0);
    drop(tx);
    let start = Instant::now();
    for _ in 0..1000 {
        assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Rule 8: a nil channel's case is never ready: a disabled case (`None`, a false guard, or
/// `never()`) is never chosen.
#[test]
fn rule08_disabled_cases_are_never_ready() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let none: Option<spectrum_chan::Receiver<u32>> = None;
    for _ in 0..50 {
        let got = select! {
            wait;
            recv(none) -> _ => "nil",
            recv(rx) -> _ if false => "guarded",
            default => "default",
        };
        assert_eq!(got, "default");
    }
    let rt = rt();
    rt.block_on(async {
        let n = never::<u32>();
        let got = select! {
            recv(n) -> _ => "never",
            timeout(Duration::from_millis(20)) => "timeout",
        };
        assert_eq!(got, "timeout");
    });
    assert_eq!(rx.try_recv(), Ok(1), "the guarded case consumed nothing");
}

/// Rule 9: channel operands, send values and guards are evaluated once, in source order.
#[test]
fn rule09_operands_evaluated_once_in_source_order() {
    fn noted<T>(log: &std::cell::RefCell<Vec<&'static str>>, what: &'static str, v: T) -> T {
        log.borrow_mut().push(what);
        v
    }
    let log = std::cell::RefCell::new(Vec::new());
    let (tx1, rx1) = bounded::<u32>(1);
    let (tx2, _rx2) = bounded::<u32>(1);
    let r = select! {
        wait;
        recv(noted(&log, "rx1", &rx1)) -> _ => 1,
        send(noted(&log, "tx2", &tx2), noted(&log, "value", 5)) -> _ if noted(&log, "guard", true) => 2,
        default => 0,
    };
    assert_eq!(r, 2);
    assert_eq!(*log.borrow(), ["rx1", "tx2", "value", "guard"]);
    drop(tx1);
}

/// Rule 10: among ready cases the choice is uniformly random (Go: 49,834 / 50,166 over 100k).
#[test]
fn rule10_ready_cases_chosen_uniformly() {
    let (tx1, rx1) = bounded::<()>(1);
    let (tx2, rx2) = bounded::<()>(1);
    let (tx3, rx3) = bounded::<()>(1);
    let mut counts = [0u32; 3];
    const N: u32 = 30_000;
    for _ in 0..N {
        let _ = tx1.try_send(());
        let _ = tx2.try_send(());
        let _ = tx3.try_send(());
        let i = select! {
            wait;
            recv(rx1) -> _ => 0,
            recv(rx2) -> _ => 1,
            recv(rx3) -> _ => 2,
        };
        counts[i] += 1;
    }
    // Each expects N/3 = 10,000; 6 standard deviations (~490) as the tolerance.
    for c in counts {
        assert!((9_500..=10_500).contains(&c), "{counts:?}");
    }
}

/// Rule 10 (Spectrum's `biased;`): source order among ready cases.
#[test]
fn rule10b_biased_keeps_source_order() {
    let (tx1, rx1) = bounded::<()>(1);
    let (tx2, rx2) = bounded::<()>(1);
    for _ in 0..100 {
        let _ = tx1.try_send(());
        let _ = tx2.try_send(());
        let i = select! { biased; wait; recv(rx1) -> _ => 0, recv(rx2) -> _ => 1 };
        assert_eq!(i, 0);
    }
}

/// Rule 11: with no ready case, `default` runs; without one, select blocks until a case can
/// proceed.
#[test]
fn rule11_default_or_block() {
    let (tx, rx) = bounded::<u32>(1);
    assert_eq!(select! { wait; recv(rx) -> _ => 1, default => 0 }, 0);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        tx.send(9).wait().unwrap();
    });
    let start = Instant::now();
    let v = select! { wait; recv(rx) -> v => v.unwrap() };
    assert_eq!(v, 9);
    assert!(start.elapsed() >= Duration::from_millis(20));
    t.join().unwrap();
}

/// Rule 12: `select {}` blocks forever.
#[test]
fn rule12_empty_select_blocks_forever() {
    let rt = rt();
    rt.block_on(async {
        let r = spectrum_rt::time::timeout(Duration::from_millis(30), async {
            select! {};
        })
        .await;
        assert!(r.is_err(), "an empty select completed");
    });
}

/// Rule 13: exactly one case proceeds; the others have no effect.
#[test]
fn rule13_exactly_one_case_proceeds() {
    for _ in 0..200 {
        let (tx1, rx1) = bounded::<u32>(1);
        let (tx2, rx2) = bounded::<u32>(1);
        let (tx3, rx3) = bounded::<u32>(1);
        tx1.try_send(1).unwrap();
        tx2.try_send(2).unwrap();
        let won = select! {
            wait;
            recv(rx1) -> _ => 1,
            recv(rx2) -> _ => 2,
            send(tx3, 3) -> _ => 3,
        };
        // Exactly one operation happened: one value received (2 -> 1) or one sent (2 -> 3).
        let left = (rx1.len(), rx2.len(), rx3.len());
        let expected = match won {
            1 => (0, 1, 0),
            2 => (1, 0, 0),
            _ => (1, 1, 1),
        };
        assert_eq!(
            left, expected,
            "case {won} won but the others changed the channels"
        );
        let _ = (tx1, tx2);
    }
}

/// Rule 14: a send case and a receive case may name the same channel; a select never matches
/// with itself (Go's TestSelfSelect).
#[test]
fn rule14_self_select() {
    for cap in [0usize, 1] {
        let (tx, rx) = bounded::<usize>(cap);
        let threads: Vec<_> = (0..2)
            .map(|p| {
                let (tx, rx) = (tx.clone(), rx.clone());
                thread::spawn(move || {
                    for i in 0..500 {
                        if p == 0 || i % 2 == 0 {
                            select! {
                                wait;
                                send(tx, p) -> r => r.unwrap(),
                                recv(rx) -> v => {
                                    if cap == 0 && v.unwrap() == p {
                                        panic!("self receive on an unbuffered channel");
                                    }
                                }
                            }
                        } else {
                            select! {
                                wait;
                                recv(rx) -> v => {
                                    if cap == 0 && v.unwrap() == p {
                                        panic!("self receive on an unbuffered channel");
                                    }
                                }
                                send(tx, p) -> r => r.unwrap(),
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// Rule 15: `after(d)` and `tick(d)` are channels, so timeouts are ordinary cases.
#[test]
fn rule15_timers_are_channels() {
    let rt = rt();
    rt.block_on(async {
        let (_tx, rx) = bounded::<u32>(1);
        let start = Instant::now();
        let got = select! {
            recv(rx) -> _ => "value",
            recv(after(Duration::from_millis(30))) -> t => { t.unwrap(); "after" }
        };
        assert_eq!(got, "after");
        assert!(start.elapsed() >= Duration::from_millis(30));

        // `after` delivers once and then is never ready again (it does not close).
        let a = after(Duration::from_millis(1));
        assert!(a.recv().await.is_ok());
        let again = select! {
            recv(a) -> _ => "again",
            timeout(Duration::from_millis(20)) => "quiet",
        };
        assert_eq!(again, "quiet");

        let t = tick(Duration::from_millis(10));
        let start = Instant::now();
        for _ in 0..3 {
            t.recv().await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
    });
}

/// Go's TestMultiConsumer: many consumers, every value received exactly once.
#[test]
fn go_multi_consumer() {
    const N: usize = 10_000;
    let (tx, rx) = bounded::<usize>(8);
    let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            let seen = seen.clone();
            thread::spawn(move || {
                while let Ok(v) = rx.recv().wait() {
                    assert!(seen.lock().unwrap().insert(v), "{v} received twice");
                }
            })
        })
        .collect();
    for i in 0..N {
        tx.send(i).wait().unwrap();
    }
    drop(tx);
    for c in consumers {
        c.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), N);
}

/// Go's TestPseudoRandomSend: a select with two send cases of different values on one
/// unbuffered channel sends both values over many rounds.
#[test]
fn go_pseudo_random_send() {
    const N: usize = 1000;
    let (tx, rx) = bounded::<u8>(0);
    let t = thread::spawn(move || {
        (0..N)
            .map(|_| rx.recv().wait().unwrap())
            .collect::<Vec<_>>()
    });
    for _ in 0..N {
        select! { wait; send(tx, 0) -> r => r.unwrap(), send(tx, 1) -> r => r.unwrap() }
    }
    let got = t.join().unwrap();
    let ones = got.iter().filter(|&&v| v == 1).count();
    assert!(ones > N / 10 && ones < N * 9 / 10, "{ones} of {N}");
}

/// Go's TestSelectFairness (blocking variant): two cases that become ready together are picked
/// about equally.
#[test]
fn go_select_fairness_with_blocked_select() {
    let rt = rt();
    let (tx1, rx1) = bounded::<u8>(1);
    let (tx2, rx2) = bounded::<u8>(1);
    let mut counts = [0u32; 2];
    for _ in 0..2000 {
        tx1.try_send(0).unwrap();
        tx2.try_send(1).unwrap();
        let i = rt.block_on(async {
            select! { recv(rx1) -> v => v.unwrap(), recv(rx2) -> v => v.unwrap() }
        });
        counts[i as usize] += 1;
        // Empty the other one.
        let _ = rx1.try_recv();
        let _ = rx2.try_recv();
    }
    assert!(counts[0] > 850 && counts[1] > 850, "{counts:?}");
}

/// Go's TestNonblockRecvRace: a non-blocking receive never misses a value that is buffered.
#[test]
fn go_nonblock_recv_race() {
    for _ in 0..500 {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let t =
            thread::spawn(move || select! { wait; recv(rx) -> v => v.is_ok(), default => false });
        tx.close();
        assert!(t.join().unwrap(), "a buffered value was missed");
    }
}

/// Go's TestSelectStress: four channels, senders and a selecting receiver, all values arrive.
#[test]
fn go_select_stress() {
    const N: usize = 2000;
    let chans: Vec<_> = [0usize, 1, 0, 3]
        .iter()
        .map(|&c| bounded::<usize>(c))
        .collect();
    let senders: Vec<_> = chans
        .iter()
        .map(|(tx, _)| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..N {
                    tx.send(i).wait().unwrap();
                }
            })
        })
        .collect();
    let mut received = [0usize; 4];
    let mut alive = [true; 4];
    for (tx, _) in &chans {
        let _ = tx;
    }
    let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
    drop(chans);
    while alive.iter().any(|&a| a) {
        let opt = |i: usize| if alive[i] { Some(&rxs[i]) } else { None };
        let (a, b, c, d) = (opt(0), opt(1), opt(2), opt(3));
        let (i, r) = select! {
            wait;
            recv(a) -> v => (0, v),
            recv(b) -> v => (1, v),
            recv(c) -> v => (2, v),
            recv(d) -> v => (3, v),
        };
        match r {
            Ok(v) => {
                assert_eq!(v, received[i], "out of order on channel {i}");
                received[i] += 1;
            }
            Err(RecvError::Closed) => alive[i] = false,
        }
    }
    assert_eq!(received, [N; 4]);
    for s in senders {
        s.join().unwrap();
    }
}
