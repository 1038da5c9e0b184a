//! The blocking pool: bounded, cancellable before start, and a shutdown that never hangs.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use spectrum_rt::runtime::Diagnostic;
use spectrum_rt::task::TaskKind;
use spectrum_rt::Runtime;

#[test]
fn jobs_run_and_their_results_come_back() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let hs: Vec<_> = (0..64)
            .map(|i| spectrum_rt::spawn_blocking(move || i * 2))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 64 * 63);
        let e = spectrum_rt::spawn_blocking(|| panic!("in the pool"))
            .await
            .unwrap_err();
        assert!(e.is_panic());
    });
}

#[test]
fn the_pool_is_bounded_and_queues_the_rest() {
    let rt = Runtime::builder()
        .workers(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let (r, p) = (running.clone(), peak.clone());
                spectrum_rt::spawn_blocking(move || {
                    let now = r.fetch_add(1, SeqCst) + 1;
                    p.fetch_max(now, SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    r.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(peak.load(SeqCst), 2);
}

#[test]
fn cancelling_a_queued_job_drops_it_without_running_it() {
    let rt = Runtime::builder()
        .workers(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let gate = Arc::new(Barrier::new(2));
        let g = gate.clone();
        let busy = spectrum_rt::spawn_blocking(move || {
            g.wait();
            std::thread::sleep(Duration::from_millis(20));
        });
        gate.wait();
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (r, f) = (ran.clone(), Flag(dropped.clone()));
        let queued = spectrum_rt::spawn_blocking(move || {
            let _f = f;
            r.fetch_add(1, SeqCst);
        });
        queued.cancel();
        // Dropped at once, while the only thread is still busy.
        assert_eq!(dropped.load(SeqCst), 1);
        assert!(queued.await.unwrap_err().is_cancelled());
        busy.await.unwrap();
        assert_eq!(ran.load(SeqCst), 0);
    });
}

#[test]
fn shutdown_reports_a_stuck_job_instead_of_hanging() {
    let reports = Arc::new(Mutex::new(Vec::<Diagnostic>::new()));
    let r = reports.clone();
    let rt = Runtime::builder()
        .workers(1)
        .shutdown_timeout(Duration::from_millis(100))
        .on_diagnostic(move |d| r.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    spectrum_rt::task::Builder::new()
        .name("stuck-job")
        .spawn_on(async {}, rt.handle())
        .detach();
    let _h = {
        let _g = rt.enter();
        spectrum_rt::task::Builder::new()
            .name("sleeper")
            .spawn_blocking(move || {
                s.wait();
                std::thread::sleep(Duration::from_secs(3));
            })
    };
    started.wait();
    let t = Instant::now();
    assert!(!rt.shutdown_timeout(Duration::from_millis(100)));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown did not hang"
    );
    let reports = reports.lock().unwrap();
    let stuck = reports
        .iter()
        .find_map(|d| match d {
            Diagnostic::ShutdownTimeout { stuck, .. } => Some(stuck.clone()),
            _ => None,
        })
        .expect("a shutdown timeout report");
    assert!(stuck
        .iter()
        .any(|t| t.name.as_deref() == Some("sleeper") && t.kind == TaskKind::Blocking));
}
