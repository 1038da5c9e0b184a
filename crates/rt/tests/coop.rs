//! The coop guardrail: a task that loops on always-ready operations still lets the other tasks
//! on its worker run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum_rt::Runtime;

#[test]
fn a_task_spinning_on_ready_operations_yields_its_worker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicU64::new(0));
    let (s1, n1) = (stop.clone(), spins.clone());
    rt.block_on(async move {
        // Never returns `Pending` by itself: every `consume_budget` is ready.
        let spinner = spectrum_rt::spawn(async move {
            let start = Instant::now();
            while !s1.load(SeqCst) {
                spectrum_rt::coop::consume_budget().await;
                n1.fetch_add(1, SeqCst);
                // A bound, so a broken guardrail fails the test instead of hanging it.
                assert!(start.elapsed() < Duration::from_secs(10), "never yielded");
            }
        });
        // Only runs if the spinner yields the one worker.
        let other = spectrum_rt::spawn(async move { stop.store(true, SeqCst) });
        other.await.unwrap();
        spinner.await.unwrap();
    });
    // It ran through at least one whole budget before yielding.
    assert!(spins.load(SeqCst) >= 128, "{} spins", spins.load(SeqCst));
}
