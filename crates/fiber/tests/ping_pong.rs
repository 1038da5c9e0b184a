//! Sync-style ping-pong between fibers over rendezvous channels: every `.wait()` suspends only
//! its fiber, so two fibers on one worker (or on two) hand a value back and forth.

use spectrum_rt::{Runtime, Wait};

fn ping_pong(rt: &Runtime, rounds: u64, local: bool) -> u64 {
    let _guard = rt.enter();
    let driver = spectrum_fiber::spawn(move || {
        let (ping_tx, ping_rx) = spectrum_chan::bounded::<u64>(0);
        let (pong_tx, pong_rx) = spectrum_chan::bounded::<u64>(0);
        let body = move || {
            // Echo each ping back incremented, until the channel closes.
            while let Ok(v) = ping_rx.recv().wait() {
                pong_tx.send(v + 1).wait().unwrap();
            }
        };
        let ponger = if local {
            spectrum_fiber::spawn_local(body)
        } else {
            spectrum_fiber::spawn(body)
        };
        let mut v = 0;
        for _ in 0..rounds {
            ping_tx.send(v).wait().unwrap();
            v = pong_rx.recv().wait().unwrap();
        }
        drop(ping_tx);
        ponger.wait().unwrap();
        v
    });
    driver.wait().unwrap()
}

#[test]
fn ping_pong_across_workers() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    assert_eq!(ping_pong(&rt, 10_000, false), 10_000);
}

#[test]
fn ping_pong_on_one_worker() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    assert_eq!(ping_pong(&rt, 10_000, true), 10_000);
}

#[test]
fn ping_pong_with_a_single_worker_thread() {
    // Only one thread for both fibers: if `.wait()` blocked the thread this would deadlock.
    let rt = Runtime::builder().workers(1).build().unwrap();
    assert_eq!(ping_pong(&rt, 1_000, false), 1_000);
}

#[test]
fn a_ring_of_fibers_passes_a_token() {
    // 100 fibers in a ring, each forwarding the token: a classic goroutine exercise.
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let n = 100;
    let (first_tx, mut prev_rx) = spectrum_chan::bounded::<u32>(0);
    let mut fibers = Vec::new();
    for _ in 0..n {
        let (tx, rx) = spectrum_chan::bounded::<u32>(0);
        let input = prev_rx;
        fibers.push(spectrum_fiber::spawn(move || {
            let v = input.recv().wait().unwrap();
            tx.send(v + 1).wait().unwrap();
        }));
        prev_rx = rx;
    }
    first_tx.send(0).wait().unwrap();
    assert_eq!(prev_rx.recv().wait().unwrap(), n);
    for f in fibers {
        f.wait().unwrap();
    }
}
