//! The limiters' fast clock: off a paused runtime they read the CPU's counter (through `quanta`)
//! in real time, with the same GCRA decisions: exactly the burst, refill at the rate, and no
//! over-admission when threads race for the same cells. Under a paused runtime clock they stay
//! on virtual time.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use spectrum_resilience::{KeyedError, KeyedRateLimiter, Quota, RateLimiter};
use spectrum_rt::time::advance;

const MS: fn(u64) -> Duration = Duration::from_millis;
const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn off_a_runtime_a_fresh_limiter_allows_exactly_the_burst() {
    // One cell a second: the test takes far less, so no cell refills meanwhile.
    let l = RateLimiter::new(Quota::per_second(1).burst(5)).unwrap();
    for _ in 0..5 {
        l.check().unwrap();
    }
    let err = l.check().unwrap_err();
    assert!(
        err.retry_after > MS(500) && err.retry_after <= MS(1000),
        "{err:?}"
    );
    assert_eq!(l.metrics().counter("limited"), Some(1));
}

#[test]
fn off_a_runtime_cells_refill_at_the_rate_and_not_before() {
    let l = RateLimiter::new(Quota::with_interval(MS(30))).unwrap();
    for _ in 0..3 {
        l.check().unwrap();
        // Not before: the next cell is a whole interval (less the time just spent) away.
        let wait = l.check().unwrap_err().retry_after;
        assert!(wait > Duration::ZERO && wait <= MS(30), "{wait:?}");
        thread::sleep(wait + MS(1));
        // One cell came back, and only one.
        l.check().unwrap();
        assert!(l.check().is_err());
        thread::sleep(MS(31));
    }
}

#[test]
fn threads_racing_for_the_burst_take_it_exactly_once() {
    const BURST: u32 = 1000;
    const THREADS: usize = 4;
    // One cell a day after the burst: whatever the scheduling, no cell refills during the test.
    let l = RateLimiter::new(Quota::new(1, DAY).burst(BURST)).unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (l, start) = (l.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                (0..50_000).filter(|_| l.check().is_ok()).count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, BURST as usize, "no cell admitted twice, none lost");
    assert_eq!(
        l.metrics().counter("limited"),
        Some(THREADS as u64 * 50_000 - u64::from(BURST))
    );
}

#[test]
fn under_contention_the_rate_holds_and_every_thread_gets_cells() {
    const BURST: u64 = 10;
    let interval = Duration::from_micros(100);
    let run_for = MS(200);
    let l = RateLimiter::new(Quota::with_interval(interval).burst(BURST as u32)).unwrap();
    let start = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (l, start) = (l.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let begun = Instant::now();
                let mut mine = 0u64;
                // Run for `run_for`, and on until this thread got a cell: a thread the OS kept
                // off the CPU for the whole span has not been starved by the limiter. Bounded,
                // so real starvation fails the test instead of hanging it.
                while begun.elapsed() < run_for || (mine == 0 && begun.elapsed() < MS(10_000)) {
                    mine += u64::from(l.check().is_ok());
                }
                mine
            })
        })
        .collect();
    // Every check happens between these two instants, so the limiter saw at most `elapsed`.
    let t0 = Instant::now();
    start.wait();
    let per_thread: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t0.elapsed();
    let allowed: u64 = per_thread.iter().sum();
    let cells_in_span = (elapsed.as_nanos() / interval.as_nanos()) as u64;
    // GCRA: the burst plus one cell per interval, never more (+1: a cell due at the very end).
    assert!(
        allowed <= BURST + cells_in_span + 1,
        "{allowed} > {BURST} + {cells_in_span} + 1"
    );
    // Two threads that never stop asking take nearly every cell; a quarter is a loose floor for
    // a loaded machine that deschedules them.
    assert!(
        allowed >= cells_in_span / 4,
        "{allowed} of {cells_in_span} cells"
    );
    // Lock-free admission must not lock a thread out. How the cells split between the two
    // depends on how the OS schedules them (on a loaded 2-core machine one may run a tenth of
    // the time), so the check is that each got cells, not an equal share.
    for (i, mine) in per_thread.iter().enumerate() {
        assert!(*mine > 0, "thread {i} got none of {allowed}: starved");
    }
}

#[test]
fn keyed_threads_racing_for_one_key_take_its_burst_exactly_once() {
    const THREADS: usize = 4;
    let l: KeyedRateLimiter<u32> = KeyedRateLimiter::builder(Quota::new(1, DAY).burst(100))
        .max_keys(10_000)
        .build()
        .unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (l, start) = (l.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut hot = 0;
                for i in 0..20_000u32 {
                    hot += usize::from(l.check(&0).is_ok());
                    // Other keys (in other shards) have their own burst.
                    l.check(&(1 + i % 64)).ok();
                }
                hot
            })
        })
        .collect();
    let hot: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(hot, 100);
    assert_eq!(l.len(), 65);
    assert!(matches!(l.check(&0), Err(KeyedError::RateLimited(_))));
}

#[test]
fn a_paused_runtime_keeps_its_limiters_on_virtual_time() {
    let rt = spectrum_rt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let l = RateLimiter::new(Quota::with_interval(MS(10))).unwrap();
        let k = KeyedRateLimiter::new(Quota::with_interval(MS(10))).unwrap();
        l.check().unwrap();
        k.check(&"a").unwrap();
        // Real time passes; virtual time does not, so no cell comes back, and the wait is exact.
        thread::sleep(MS(30));
        assert_eq!(l.check().unwrap_err().retry_after, MS(10));
        assert!(
            matches!(k.check(&"a"), Err(KeyedError::RateLimited(r)) if r.retry_after == MS(10))
        );
        advance(MS(10)).await;
        l.check().unwrap();
        k.check(&"a").unwrap();
    });
}
