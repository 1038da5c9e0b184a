//! Fibers blocking on timers: `sleep(d).wait()` suspends the fiber, not its worker, so many
//! sleeping fibers share one thread and sleep at the same time.

use std::time::{Duration, Instant};

use spectrum_rt::{Runtime, Wait};

#[test]
fn many_fibers_sleep_at_once_on_one_worker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let start = Instant::now();
    let fibers: Vec<_> = (0..200)
        .map(|i| {
            spectrum_fiber::spawn(move || {
                spectrum_rt::time::sleep(Duration::from_millis(50)).wait();
                i
            })
        })
        .collect();
    let sum: u32 = fibers.into_iter().map(|f| f.wait().unwrap()).sum();
    assert_eq!(sum, (0..200).sum());
    // Blocking sleeps would take 200 × 50 ms = 10 s on one thread.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_fiber_sleeps_in_a_loop_and_keeps_time() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        let start = Instant::now();
        for _ in 0..5 {
            spectrum_rt::time::sleep(Duration::from_millis(10)).wait();
        }
        start.elapsed()
    });
    let slept = h.wait().unwrap();
    assert!(slept >= Duration::from_millis(50), "slept {slept:?}");
}

#[test]
fn other_tasks_run_while_a_fiber_sleeps() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let sleeper = spectrum_fiber::spawn(|| {
        spectrum_rt::time::sleep(Duration::from_millis(200)).wait();
        "woke"
    });
    // An async task on the same (only) worker finishes long before the fiber wakes.
    let quick = spectrum_rt::spawn(async { "quick" });
    let t = Instant::now();
    assert_eq!(quick.wait().unwrap(), "quick");
    assert!(t.elapsed() < Duration::from_millis(150));
    assert_eq!(sleeper.wait().unwrap(), "woke");
}

#[test]
fn timeouts_work_inside_fibers() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        let never = std::future::pending::<()>();
        spectrum_rt::time::timeout(Duration::from_millis(20), never).wait()
    });
    assert!(h.wait().unwrap().is_err());
}

#[test]
fn the_paused_clock_applies_to_fibers() {
    let rt = Runtime::builder()
        .workers(1)
        .start_paused(true)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let h = spectrum_fiber::spawn(|| {
            spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
            "an hour later"
        });
        h.await.unwrap()
    });
    assert_eq!(out, "an hour later");
}
