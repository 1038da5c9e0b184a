//! The long-poll watchdog: a poll that blocks its worker is reported, compensated or fatal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum_rt::runtime::{BlockingPolicy, Diagnostic};
use spectrum_rt::{time, Runtime};

fn collecting(policy: BlockingPolicy) -> (Runtime, Arc<Mutex<Vec<Diagnostic>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .workers(1)
        .blocking_policy(policy)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    (rt, seen)
}

fn long_polls(seen: &Mutex<Vec<Diagnostic>>) -> Vec<Diagnostic> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|d| matches!(d, Diagnostic::LongPoll { .. }))
        .cloned()
        .collect()
}

#[test]
fn a_blocking_poll_is_reported_once_with_its_task() {
    let (rt, seen) = collecting(BlockingPolicy::Report);
    rt.block_on(async {
        spectrum_rt::task::Builder::new()
            .name("sleepy")
            .spawn(async { std::thread::sleep(Duration::from_millis(120)) })
            .await
            .unwrap();
        // Short polls are never reported.
        for _ in 0..100 {
            spectrum_rt::spawn(async { std::thread::sleep(Duration::from_micros(100)) })
                .await
                .unwrap();
        }
    });
    let reports = long_polls(&seen);
    assert_eq!(reports.len(), 1, "once per stall: {reports:?}");
    match &reports[0] {
        Diagnostic::LongPoll {
            name,
            spawned_at,
            running_for,
            worker,
            compensated,
            ..
        } => {
            assert_eq!(name.as_deref(), Some("sleepy"));
            assert!(spawned_at.unwrap().file().ends_with("watchdog.rs"));
            assert!(*running_for >= Duration::from_millis(10), "{running_for:?}");
            assert_eq!(*worker, 0);
            assert!(!compensated);
        }
        _ => unreachable!(),
    }
    let text = reports[0].to_string();
    assert!(
        text.contains("\"sleepy\"") && text.contains("blocks the worker"),
        "{text}"
    );
}

/// The name of the task a long-poll report is about.
fn reported_name(d: &Diagnostic) -> Option<String> {
    match d {
        Diagnostic::LongPoll { name, .. } => name.clone(),
        _ => None,
    }
}

/// The report names the stalled task wherever it lives: among many younger tasks in the
/// registry (the watchdog looks it up oldest first, in its shard alone), and as a pinned task
/// in its worker's own registry.
#[test]
fn a_stall_is_named_among_many_live_tasks_and_for_pinned_tasks() {
    let (rt, seen) = collecting(BlockingPolicy::Report);
    rt.block_on(async {
        spectrum_rt::task::Builder::new()
            .name("spawner")
            .spawn(async {
                // All younger than it, and spread over every shard, its own included.
                let idle: Vec<_> = (0..20_000)
                    .map(|_| spectrum_rt::spawn(std::future::pending::<()>()))
                    .collect();
                std::thread::sleep(Duration::from_millis(60));
                drop(idle);
            })
            .await
            .unwrap();
        // `spawn_local` pins to the calling worker: call it from a task.
        spectrum_rt::spawn(async {
            spectrum_rt::task::Builder::new()
                .name("pinned")
                .spawn_local(async { std::thread::sleep(Duration::from_millis(60)) })
                .await
                .unwrap();
        })
        .await
        .unwrap();
    });
    let names: Vec<_> = long_polls(&seen).iter().map(reported_name).collect();
    assert_eq!(
        names,
        [Some("spawner".to_owned()), Some("pinned".to_owned())],
        "{:?}",
        long_polls(&seen)
    );
}

#[test]
fn compensation_keeps_a_thousand_tasks_moving_past_a_sleeping_one() {
    let (rt, seen) = collecting(BlockingPolicy::Compensate);
    rt.block_on(async {
        let blocker = spectrum_rt::spawn(async { std::thread::sleep(Duration::from_secs(1)) });
        // Let the watchdog notice (threshold 10 ms) and hand the queue over.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let hs: Vec<_> = (0..1000)
            .map(|_| spectrum_rt::spawn(async { Instant::now() }))
            .collect();
        let mut latest = Duration::ZERO;
        for h in hs {
            latest = latest.max(h.await.unwrap() - start);
        }
        assert!(
            latest < Duration::from_millis(20),
            "the other tasks waited {latest:?}"
        );
        // Timers keep firing too: the spare drives the driver.
        let t = Instant::now();
        time::sleep(Duration::from_millis(5)).await;
        assert!(t.elapsed() < Duration::from_millis(100));
        blocker.await.unwrap();
    });
    let reports = long_polls(&seen);
    assert!(
        matches!(
            reports.first(),
            Some(Diagnostic::LongPoll {
                compensated: true,
                ..
            })
        ),
        "{reports:?}"
    );
}

#[test]
fn the_panic_policy_fails_block_on_with_the_report() {
    let (rt, _seen) = collecting(BlockingPolicy::Panic);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            spectrum_rt::task::Builder::new()
                .name("forbidden")
                .spawn(async { std::thread::sleep(Duration::from_millis(100)) })
                .detach();
            time::sleep(Duration::from_secs(5)).await;
        })
    }));
    let payload = res.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("\"forbidden\"") && msg.contains("running one poll"),
        "{msg}"
    );
}

#[test]
fn the_panic_policy_makes_wait_in_async_code_panic_in_the_task() {
    let (rt, _seen) = collecting(BlockingPolicy::Panic);
    rt.block_on(async {
        use spectrum_rt::Wait;
        let e = spectrum_rt::spawn(async { async { 1 }.wait() })
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("blocking call inside async task"),
            "{e}"
        );
    });
}

#[test]
fn the_watchdog_can_be_turned_off() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .workers(1)
        .long_poll_threshold(None)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    rt.block_on(async {
        spectrum_rt::spawn(async { std::thread::sleep(Duration::from_millis(40)) })
            .await
            .unwrap();
    });
    assert!(long_polls(&seen).is_empty());
}
