//! Borrowing scopes: fibers that borrow the caller's stack, joined before `scope` returns,
//! whatever happens (panics, cancellation of the children, cancellation of the caller).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use spectrum_rt::{JoinError, Runtime, Wait};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn children_borrow_and_mutate_the_callers_data() {
    let rt = rt();
    let _guard = rt.enter();
    let mut data: Vec<u64> = (0..1000).collect();
    let total = AtomicUsize::new(0);
    spectrum_fiber::scope(|s| {
        for chunk in data.chunks_mut(100) {
            let total = &total;
            s.spawn(move || {
                for v in chunk.iter_mut() {
                    *v *= 2;
                    spectrum_fiber::yield_now();
                }
                total.fetch_add(chunk.len(), SeqCst);
            });
        }
    });
    // Every child has finished: the borrows are over and all writes are visible.
    assert_eq!(total.load(SeqCst), 1000);
    assert_eq!(data.iter().sum::<u64>(), 2 * (0..1000).sum::<u64>());
}

#[test]
fn a_scope_inside_a_fiber_suspends_only_that_fiber() {
    // One worker: the scope's join must suspend the parent fiber, or its children never run.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::spawn(|| {
        let words = ["a".to_string(), "bb".to_string(), "ccc".to_string()];
        spectrum_fiber::scope(|s| {
            let hs: Vec<_> = words
                .iter()
                .map(|w| {
                    s.spawn(move || {
                        spectrum_rt::time::sleep(Duration::from_millis(5)).wait();
                        w.len()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        })
    });
    assert_eq!(h.wait().unwrap(), 6);
}

#[test]
fn results_may_borrow_too() {
    let rt = rt();
    let _guard = rt.enter();
    let text = String::from("a fiber borrows");
    let longest = spectrum_fiber::scope(|s| {
        let h = s.spawn(|| text.split(' ').max_by_key(|w| w.len()).unwrap());
        h.join().unwrap()
    });
    assert_eq!(longest, "borrows");
}

#[test]
fn a_childs_panic_goes_to_its_join_and_cancels_its_siblings() {
    let rt = rt();
    let _guard = rt.enter();
    let sibling_dropped = AtomicUsize::new(0);
    struct Count<'a>(&'a AtomicUsize);
    impl Drop for Count<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let (panicked, sibling) = spectrum_fiber::scope(|s| {
        let sibling = s.spawn(|| {
            let _c = Count(&sibling_dropped);
            spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
        });
        let bad = s.spawn(|| -> u32 {
            spectrum_rt::time::sleep(Duration::from_millis(5)).wait();
            panic!("child failed")
        });
        (bad.join(), sibling.join())
    });
    match panicked {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("child failed")),
        other => panic!("expected the child's panic, got {other:?}"),
    }
    let cause = sibling.unwrap_err();
    assert!(cause.is_cancelled());
    assert!(cause.to_string().contains("child failed"), "{cause}");
    assert_eq!(sibling_dropped.load(SeqCst), 1);
}

#[test]
fn an_unjoined_childs_panic_is_resumed_by_the_scope() {
    let rt = rt();
    let _guard = rt.enter();
    let r = std::panic::catch_unwind(|| {
        spectrum_fiber::scope(|s| {
            s.spawn(|| panic!("nobody joined me"));
        })
    });
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"nobody joined me"));
}

#[test]
fn a_panicking_body_cancels_and_joins_the_children_first() {
    let rt = rt();
    let _guard = rt.enter();
    let log = Mutex::new(Vec::new());
    struct Log<'a>(&'a Mutex<Vec<&'static str>>, &'static str);
    impl Drop for Log<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spectrum_fiber::scope(|s| {
            s.spawn(|| {
                let _l = Log(&log, "child unwound");
                spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
            });
            std::thread::sleep(Duration::from_millis(10));
            panic!("body failed");
        })
    }));
    log.lock().unwrap().push("scope returned");
    assert!(r.is_err());
    assert_eq!(*log.lock().unwrap(), ["child unwound", "scope returned"]);
}

#[test]
fn cancel_cancels_every_child_and_later_spawns() {
    let rt = rt();
    let _guard = rt.enter();
    spectrum_fiber::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|_| s.spawn(|| spectrum_rt::time::sleep(Duration::from_secs(3600)).wait()))
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        s.cancel();
        assert!(s.is_cancelled());
        for h in hs {
            assert!(h.join().unwrap_err().is_cancelled());
        }
        // Spawning into a cancelled scope: an already-cancelled handle, never a panic.
        let late = s.spawn(|| 1);
        assert_eq!(late.id(), None);
        assert!(late.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn cancelling_a_fiber_inside_a_scope_joins_its_children_before_unwinding() {
    // The soundness-critical case: the parent fiber is cancelled while its children borrow its
    // stack. The children must be cancelled and finished before the parent's frames unwind.
    let rt = rt();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel::<&'static str>();
    let (ready_tx, ready_rx) = mpsc::channel();
    struct Send_(mpsc::Sender<&'static str>, &'static str);
    impl Drop for Send_ {
        fn drop(&mut self) {
            let _ = self.0.send(self.1);
        }
    }
    let parent = spectrum_fiber::spawn(move || {
        let borrowed = vec![1u8; 1024];
        let _frame = Send_(tx.clone(), "parent frame unwound");
        spectrum_fiber::scope(|s| {
            for _ in 0..4 {
                let tx = tx.clone();
                let borrowed = &borrowed;
                s.spawn(move || {
                    let _g = Send_(tx, "child unwound");
                    loop {
                        // Touch the parent's stack data until cancelled.
                        assert_eq!(borrowed.iter().map(|&b| b as usize).sum::<usize>(), 1024);
                        spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
                    }
                });
            }
            ready_tx.send(()).unwrap();
            spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
        });
        unreachable!("the parent was cancelled");
    });
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(10));
    drop(parent);
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(rx.recv_timeout(Duration::from_secs(5)).unwrap());
    }
    assert_eq!(
        order,
        [
            "child unwound",
            "child unwound",
            "child unwound",
            "child unwound",
            "parent frame unwound"
        ]
    );
}

#[test]
fn cancelling_a_fiber_while_its_scope_joins_cancels_the_children() {
    let rt = rt();
    let _guard = rt.enter();
    let (tx, rx) = mpsc::channel::<&'static str>();
    let parent = spectrum_fiber::spawn(move || {
        let local = 7u32;
        spectrum_fiber::scope(|s| {
            let tx = tx.clone();
            s.spawn(move || {
                struct G(mpsc::Sender<&'static str>);
                impl Drop for G {
                    fn drop(&mut self) {
                        let _ = self.0.send("child unwound");
                    }
                }
                let _g = G(tx);
                let _use = &local;
                spectrum_rt::time::sleep(Duration::from_secs(3600)).wait();
            });
            // The body returns at once: the parent is cancelled inside the join.
        });
        let _ = tx.send("parent went on");
    });
    std::thread::sleep(Duration::from_millis(20));
    parent.cancel();
    assert!(parent.wait().unwrap_err().is_cancelled());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "child unwound"
    );
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
}

#[test]
fn scopes_nest() {
    let rt = rt();
    let _guard = rt.enter();
    let mut grid = vec![vec![0u32; 8]; 8];
    spectrum_fiber::scope(|outer| {
        for (i, row) in grid.iter_mut().enumerate() {
            outer.spawn(move || {
                spectrum_fiber::scope(|inner| {
                    for (j, cell) in row.iter_mut().enumerate() {
                        inner.spawn(move || *cell = (i * 8 + j) as u32);
                    }
                });
            });
        }
    });
    let flat: Vec<u32> = grid.into_iter().flatten().collect();
    assert_eq!(flat, (0..64).collect::<Vec<_>>());
}

#[test]
fn many_short_children_reuse_their_slots() {
    let rt = rt();
    let _guard = rt.enter();
    let count = AtomicUsize::new(0);
    spectrum_fiber::scope(|s| {
        for _ in 0..5000 {
            let _ = s.spawn(|| count.fetch_add(1, SeqCst));
            if s.active() > 64 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    });
    assert_eq!(count.load(SeqCst), 5000);
}

#[test]
fn a_builder_names_scoped_fibers() {
    let rt = rt();
    let _guard = rt.enter();
    spectrum_fiber::scope(|s| {
        let h = spectrum_fiber::Builder::new()
            .name("worker-1")
            .spawn_scoped(s, || {
                spectrum_fiber::current().unwrap().name().map(str::to_owned)
            })
            .unwrap();
        assert_eq!(h.join().unwrap().as_deref(), Some("worker-1"));
    });
}

/// Blocks this thread until the child behind `h` has finished (without joining it).
fn wait_until_finished<T>(h: &spectrum_fiber::ScopedJoinHandle<'_, T>) {
    while !h.is_finished() {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// A result that borrows and counts its drop.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn unjoined_results_that_borrow_are_dropped_before_the_scope_returns() {
    let rt = rt();
    let _guard = rt.enter();
    let dropped = AtomicUsize::new(0);
    spectrum_fiber::scope(|s| {
        for i in 0..200 {
            let h = s.spawn(|| {
                spectrum_rt::time::sleep(Duration::from_micros(200)).wait();
                Counted(&dropped)
            });
            if i % 2 == 0 {
                // Handle gone while the child runs: the child drops its result.
                drop(h);
            } else {
                // Handle dropped after the child finished: the handle drops it.
                wait_until_finished(&h);
                drop(h);
            }
        }
    });
    assert_eq!(dropped.load(SeqCst), 200);
}

#[test]
fn a_panic_whose_handle_is_dropped_after_the_child_finished_is_resumed_by_the_scope() {
    let rt = rt();
    let _guard = rt.enter();
    let r = std::panic::catch_unwind(|| {
        spectrum_fiber::scope(|s| {
            let h = s.spawn(|| panic!("finished, then abandoned"));
            wait_until_finished(&h);
            drop(h);
        })
    });
    let payload = r.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"finished, then abandoned")
    );
}

#[test]
fn cancelling_a_finished_child_leaves_the_child_that_reused_its_slot_alone() {
    let rt = rt();
    let _guard = rt.enter();
    spectrum_fiber::scope(|s| {
        let first = s.spawn(|| 1);
        wait_until_finished(&first);
        let second = s.spawn(|| {
            spectrum_rt::time::sleep(Duration::from_millis(20)).wait();
            2
        });
        first.cancel();
        assert_eq!(first.join().unwrap(), 1);
        assert_eq!(second.join().unwrap(), 2);
    });
}
