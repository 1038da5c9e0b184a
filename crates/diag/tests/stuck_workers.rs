//! The endpoint answers from its own thread: with both workers of a runtime stuck inside a
//! blocking poll (`std::thread::sleep` in an async task), a dump still comes back at once and
//! shows the two tasks running on the workers.
#![cfg(unix)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{parse, Json};
use spectrum_diag::{fetch, serve, Format};
use spectrum_rt::task::Builder;
use spectrum_rt::Runtime;

#[test]
fn a_dump_answers_while_every_worker_is_stuck() {
    let rt = Runtime::builder()
        .workers(2)
        // No spare threads: the two workers are all there is, and both stay stuck.
        .max_spare_threads(0)
        // The long polls are the point of this test, not news.
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    let endpoint = serve(rt.handle()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (started, polling) = mpsc::channel();
    let (release, go) = mpsc::channel::<()>();
    let go = Arc::new(std::sync::Mutex::new(go));
    let stuck: Vec<_> = (0..2)
        .map(|i| {
            let stop = stop.clone();
            let started = started.clone();
            let go = go.clone();
            Builder::new().name(format!("stuck-{i}")).spawn_on(
                async move {
                    started.send(()).unwrap();
                    // Hold this worker until both tasks hold one (so they cannot share a
                    // worker), then keep blocking it.
                    go.lock().unwrap().recv().unwrap();
                    while !stop.load(Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                },
                rt.handle(),
            )
        })
        .collect();
    let ids: Vec<u64> = stuck.iter().map(|h| h.id().as_u64()).collect();
    // Handshake: both tasks are inside their polls, one per worker. The first blocks in
    // `recv` holding the lock; the second blocks on the lock: both workers are taken.
    polling.recv_timeout(Duration::from_secs(10)).unwrap();
    polling.recv_timeout(Duration::from_secs(10)).unwrap();

    let t0 = Instant::now();
    let text = fetch(std::process::id(), Format::Text).unwrap();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    for id in &ids {
        assert!(
            text.contains(&format!("polling task #{id}")),
            "no worker polls #{id}:\n{text}"
        );
        let line = text
            .lines()
            .find(|l| l.contains(&format!("task #{id} \"stuck-")))
            .unwrap_or_else(|| panic!("no task #{id}:\n{text}"));
        assert!(line.contains("Running"), "{line}");
    }

    let json = fetch(std::process::id(), Format::Json).unwrap();
    let doc = parse(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut polled: Vec<u64> = doc
        .get("workers")
        .unwrap()
        .as_array()
        .iter()
        .filter(|w| w.get("activity").and_then(Json::as_str) == Some("polling"))
        .filter_map(|w| w.get("task").and_then(Json::as_u64))
        .collect();
    polled.sort_unstable();
    assert_eq!(polled, ids, "{json}");
    for t in doc.get("tasks").unwrap().as_array() {
        if t.get("name")
            .and_then(Json::as_str)
            .is_some_and(|n| n.starts_with("stuck-"))
        {
            assert_eq!(t.get("state").and_then(Json::as_str), Some("Running"));
        }
    }

    stop.store(true, Relaxed);
    release.send(()).unwrap();
    release.send(()).unwrap();
    rt.block_on(async {
        for h in stuck {
            h.await.unwrap();
        }
    });
    drop(endpoint);
}
