//! `thread::scope`: borrowing threads, all joined before it returns, with a scope token.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use spectrum_promise::thread;
use spectrum_rt::Wait;

#[test]
fn threads_borrow_and_mutate_the_callers_data() {
    let mut chunks = vec![vec![1u64; 1000]; 4];
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in chunks.iter_mut() {
            let total = &total;
            s.spawn(move || {
                chunk.iter_mut().for_each(|x| *x *= 2);
                total.fetch_add(chunk.iter().sum::<u64>() as usize, SeqCst);
            });
        }
    });
    assert_eq!(total.load(SeqCst), 8000);
    assert!(chunks.iter().flatten().all(|&x| x == 2));
}

#[test]
fn scope_returns_only_after_every_thread_finished() {
    let finished = AtomicUsize::new(0);
    thread::scope(|s| {
        for i in 0..4 {
            let finished = &finished;
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(5 * i));
                finished.fetch_add(1, SeqCst);
            });
        }
    });
    assert_eq!(finished.load(SeqCst), 4);
}

#[test]
fn a_cloned_scope_spawns_from_inside_a_thread() {
    let hits = AtomicUsize::new(0);
    thread::scope(|s| {
        let inner = s.clone();
        let hits = &hits;
        s.spawn(move || {
            inner.spawn(move || hits.fetch_add(1, SeqCst));
            hits.fetch_add(1, SeqCst);
        });
    });
    assert_eq!(hits.load(SeqCst), 2);
}

#[test]
fn cancelling_the_scope_stops_cooperative_threads() {
    let stopped = thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut rounds = 0u32;
                    while thread::check().is_ok() {
                        rounds += 1;
                        let _ = thread::sleep(Duration::from_millis(1));
                    }
                    rounds
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(5));
        s.cancel();
        let rounds: Vec<u32> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        rounds.len()
    });
    assert_eq!(stopped, 3);
}

#[test]
fn a_handle_cancels_only_its_thread() {
    thread::scope(|s| {
        let a = s.spawn(|| {
            while thread::check().is_ok() {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let b = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(10));
            thread::is_cancelled()
        });
        a.cancel();
        a.join().unwrap();
        assert!(!b.join().unwrap(), "the sibling was not cancelled");
        assert!(!s.token().is_cancelled());
    });
}

#[test]
fn named_scoped_threads_and_the_runtime_entered_inside() {
    let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let _enter = rt.enter();
    thread::scope(|s| {
        let h = thread::Builder::new()
            .name("scoped-io")
            .spawn_scoped(s, || {
                spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
                std::thread::current().name().map(str::to_owned)
            });
        assert_eq!(h.name(), Some("scoped-io"));
        assert_eq!(h.join().unwrap().as_deref(), Some("scoped-io"));
    });
}

#[test]
fn the_scope_token_is_a_child_of_the_callers() {
    let outer = thread::spawn(|| {
        thread::scope(|s| {
            let t = s.spawn(|| {
                while thread::check().is_ok() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                thread::check().unwrap_err().kind()
            });
            t.join().unwrap()
        })
    });
    std::thread::sleep(Duration::from_millis(5));
    outer.cancel();
    assert_eq!(
        outer.join().unwrap(),
        spectrum_rt::cancel::CauseKind::ParentCancelled
    );
}
