//! The universal `.wait()`: threads park, async tasks are reported (and compensated).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum_rt::runtime::{BlockingPolicy, Diagnostic};
use spectrum_rt::{time, Runtime, Wait};

#[test]
fn wait_on_a_plain_thread_needs_no_runtime_for_plain_futures() {
    assert_eq!(async { 21 * 2 }.wait(), 42);
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(7).unwrap();
    });
    assert_eq!(rx.wait().unwrap(), 7);
}

#[test]
fn wait_on_runtime_futures_from_another_thread() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let handle = rt.handle().clone();
    let t = std::thread::spawn(move || {
        let _g = handle.enter();
        let start = Instant::now();
        time::sleep(Duration::from_millis(10)).wait();
        assert!(start.elapsed() >= Duration::from_millis(10));
        spectrum_rt::spawn(async { 3 }).wait().unwrap()
    });
    assert_eq!(t.join().unwrap(), 3);
}

#[test]
fn wait_inside_an_async_task_is_reported_with_names_and_sites() {
    let seen = Arc::new(Mutex::new(Vec::<Diagnostic>::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .workers(2)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    rt.block_on(async {
        spectrum_rt::task::Builder::new()
            .name("offender")
            .spawn(async {
                // The pitfall: a blocking wait inside async code.
                async { 1 }.wait();
            })
            .await
            .unwrap();
    });
    let seen = seen.lock().unwrap();
    let d = seen
        .iter()
        .find(|d| matches!(d, Diagnostic::BlockingWait { .. }))
        .expect("a BlockingWait report");
    let text = d.to_string();
    assert!(text.contains("\"offender\""), "{text}");
    assert!(text.contains("tests/wait.rs"), "{text}");
    assert!(text.contains("blocking call inside async task"), "{text}");
}

#[test]
fn compensation_keeps_other_tasks_running_while_one_blocks() {
    let rt = Runtime::builder()
        .workers(1)
        .blocking_policy(BlockingPolicy::Compensate)
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    rt.block_on(async {
        let blocker = spectrum_rt::spawn(async {
            // Blocks the only worker for 300 ms through `.wait()` on a std-thread-backed future.
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let _ = tx.send(());
            });
            rx.wait().unwrap();
        });
        // Give the blocker time to start blocking.
        time::sleep(Duration::from_millis(20)).await;
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let d = done.clone();
                spectrum_rt::spawn(async move {
                    d.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        let took = start.elapsed();
        assert_eq!(done.load(SeqCst), 1000);
        assert!(
            took < Duration::from_millis(150),
            "other tasks waited {took:?} for the blocker"
        );
        blocker.await.unwrap();
    });
}

#[test]
fn a_wait_nested_inside_a_waited_future_does_not_lose_the_outer_wake() {
    // The outer future's waker fires from another thread while an inner `.wait()` (inside the
    // outer poll) is parked; the inner wait consumes the thread's notification, so it must leave
    // one behind for the outer wait.
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = fired.clone();
    let mut started = false;
    let outer = std::future::poll_fn(move |cx| {
        if fired.load(SeqCst) {
            return std::task::Poll::Ready(());
        }
        if !started {
            started = true;
            let waker = cx.waker().clone();
            let f3 = f2.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                f3.store(true, SeqCst);
                waker.wake();
            });
            // The inner wait parks past the outer wake-up.
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                let _ = tx.send(());
            });
            rx.wait().unwrap();
        }
        std::task::Poll::Pending
    });
    let t = std::thread::spawn(move || outer.wait());
    let start = Instant::now();
    while !t.is_finished() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the outer wait lost its wake-up"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    t.join().unwrap();
    assert!(!spectrum_rt::wait::in_blocking_wait());
}
