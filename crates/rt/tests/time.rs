//! Timers under the paused clock: deterministic and instant.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum_rt::time::{self, interval, sleep, sleep_until, timeout, MissedTickBehavior};
use spectrum_rt::Runtime;

fn paused() -> Runtime {
    Runtime::builder()
        .workers(1)
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn an_hour_of_sleep_takes_no_time_under_the_paused_clock() {
    let rt = paused();
    let wall = Instant::now();
    rt.block_on(async {
        let start = time::now();
        sleep(Duration::from_secs(3600)).await;
        assert!(time::now() - start >= Duration::from_secs(3600));
    });
    assert!(wall.elapsed() < Duration::from_secs(2));
}

#[test]
fn timers_fire_in_deadline_order() {
    let rt = paused();
    rt.block_on(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for ms in [50u64, 10, 40, 20, 30, 5000, 1] {
            let order = order.clone();
            handles.push(spectrum_rt::spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                order.lock().unwrap().push(ms);
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [1, 10, 20, 30, 40, 50, 5000]);
    });
}

#[test]
fn timeout_elapses_or_passes_the_value_through() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        let r = timeout(Duration::from_millis(100), sleep(Duration::from_secs(10))).await;
        assert!(r.is_err());
        assert_eq!(r.unwrap_err().to_string(), "deadline has elapsed");
        let took = time::now() - start;
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(102),
            "{took:?}"
        );
        // A ready future wins even with a zero timeout.
        assert_eq!(timeout(Duration::ZERO, async { 9 }).await, Ok(9));
    });
}

#[test]
fn zero_past_and_absurd_durations_are_handled() {
    let rt = paused();
    rt.block_on(async {
        sleep(Duration::ZERO).await;
        sleep_until(time::now() - Duration::from_secs(1)).await;
        // Duration::MAX must not overflow: clamp, and the sleep is still cancellable.
        let far = sleep(Duration::MAX);
        assert!(far.deadline() > time::now() + Duration::from_secs(86_400 * 365));
        assert!(timeout(Duration::from_millis(1), far).await.is_err());
    });
}

#[test]
fn advance_moves_time_and_fires_timers() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        time::pause();
        let fired = Arc::new(Mutex::new(false));
        let f = fired.clone();
        let h = spectrum_rt::spawn(async move {
            sleep(Duration::from_secs(30)).await;
            *f.lock().unwrap() = true;
        });
        time::advance(Duration::from_secs(29)).await;
        assert!(!*fired.lock().unwrap());
        time::advance(Duration::from_secs(1)).await;
        h.await.unwrap();
        assert!(*fired.lock().unwrap());
        time::resume();
    });
}

#[test]
fn interval_ticks_and_missed_tick_policies() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        let mut every = interval(Duration::from_millis(10));
        let ticks: Vec<Duration> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(every.tick().await - start);
            }
            v
        };
        assert_eq!(ticks, [0, 10, 20, 30].map(Duration::from_millis));

        // Miss three ticks: Burst catches up back to back, Skip jumps to the schedule.
        for (policy, expect_next) in [
            (MissedTickBehavior::Burst, 40u64),
            (MissedTickBehavior::Skip, 80),
            (MissedTickBehavior::Delay, 75),
        ] {
            let start = time::now();
            let mut every = interval(Duration::from_millis(10));
            every.set_missed_tick_behavior(policy);
            every.tick().await; // t = 0
            sleep(Duration::from_millis(35)).await;
            every.tick().await; // the late tick (scheduled at 10)
            let next = every.tick().await - start;
            let expect = Duration::from_millis(expect_next);
            match policy {
                MissedTickBehavior::Burst => assert_eq!(next, Duration::from_millis(20)),
                MissedTickBehavior::Skip => assert_eq!(next, Duration::from_millis(40)),
                _ => assert_eq!(next, Duration::from_millis(45)),
            }
            let _ = expect;
        }
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn zero_interval_is_rejected() {
    paused().block_on(async {
        interval(Duration::ZERO);
    });
}

#[test]
fn a_hundred_thousand_timers_fire_exactly_once() {
    let rt = paused();
    rt.block_on(async {
        let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut hs = Vec::new();
        for i in 0..100_000u64 {
            let f = fired.clone();
            hs.push(spectrum_rt::spawn(async move {
                sleep(Duration::from_millis(i % 5000)).await;
                f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(fired.load(std::sync::atomic::Ordering::Relaxed), 100_000);
    });
}

#[test]
fn cancelled_timers_never_fire_and_leave_the_wheel() {
    let rt = paused();
    rt.block_on(async {
        for _ in 0..10_000 {
            let mut s = std::pin::pin!(sleep(Duration::from_secs(1)));
            // Register, then drop before it fires.
            assert!(futures::poll!(s.as_mut()).is_pending());
        }
        // Real time: the clock is paused and nothing is registered, so this returns at once.
        sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn timers_work_with_real_time_on_several_workers() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let hs: Vec<_> = (0..100)
            .map(|i| {
                spectrum_rt::spawn(async move { sleep(Duration::from_millis(5 + i % 10)).await })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(14), "{took:?}");
    });
}

#[test]
fn block_on_sleeping_on_a_paused_clock_never_loses_the_driver_wake_up() {
    // The `block_on` thread registers each timer while the one worker is going to sleep in the
    // driver: a registration that lands between the driver reading the timer wheel and the
    // zero-timeout I/O turn of auto-advance used to have its wake-up consumed by that turn, and
    // the worker then slept with no timeout, with the timer pending, forever.
    let rt = Runtime::builder()
        .workers(1)
        .start_paused(true)
        .build()
        .unwrap();
    // Busy threads make the kernel preempt the worker inside that window now and then.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt.block_on(async {
            for _ in 0..20_000 {
                time::sleep(Duration::from_millis(1)).await;
            }
        });
        done_tx.send(()).unwrap();
    });
    // Simulated, the 20,000 sleeps take no time; a lost wake-up hangs for good.
    let done = done_rx.recv_timeout(Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    done.expect("a timer registered from block_on was never fired (lost driver wake-up)");
}
