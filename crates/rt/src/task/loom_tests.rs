//! The task state machine under loom: every interleaving of poll, wake, cancel, join and handle
//! drop, with counters proving nothing is lost, doubled or leaked.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spectrum-rt --release --lib loom`

use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use spectrum_sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use spectrum_sync::{thread, Arc, Mutex};

use super::{JoinError, JoinHandle, Meta, Notified, RawTask, Registry, Schedule, TaskKind};

/// A scheduler with a plain queue, driven by hand.
struct Mock {
    queue: Mutex<VecDeque<Notified<MockRef>>>,
    registry: Registry,
}

#[derive(Clone)]
struct MockRef(Arc<Mock>);

impl Schedule for MockRef {
    fn schedule(&self, task: Notified<Self>) {
        self.0.queue.lock().push_back(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.0.registry.remove(task)
    }
}

impl MockRef {
    fn new() -> MockRef {
        MockRef(Arc::new(Mock {
            queue: Mutex::new(VecDeque::new()),
            registry: Registry::new(1),
        }))
    }

    fn spawn<F: Future + Send + 'static>(&self, f: F) -> JoinHandle<F::Output>
    where
        F::Output: Send + 'static,
    {
        let meta = Meta {
            location: Location::caller(),
            name: None,
            parent: None,
            born_ms: 0,
            kind: TaskKind::Async,
            scope: None,
        };
        let (join, notified) = self.0.registry.bind(f, self.clone(), meta, 0);
        self.0
            .queue
            .lock()
            .push_back(notified.expect("registry open"));
        join
    }

    /// Runs queued tasks until the queue is empty.
    fn run(&self) -> usize {
        let mut n = 0;
        loop {
            let next = self.0.queue.lock().pop_front();
            match next {
                Some(t) => {
                    t.run();
                    n += 1;
                }
                None => return n,
            }
        }
    }

    fn shutdown(&self) {
        self.0.registry.close_and_shutdown_all();
        while let Some(t) = self.0.queue.lock().pop_front() {
            drop(t);
        }
    }
}

/// Counts drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Ready once `flag` is set; registers its waker in `slot` each time it is pending.
struct Flagged {
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    _guard: Counted,
}

impl Future for Flagged {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        *self.slot.lock() = Some(cx.waker().clone());
        if self.flag.load(SeqCst) {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    }
}

fn flagged(drops: &Arc<AtomicUsize>) -> (Flagged, Arc<AtomicBool>, Arc<Mutex<Option<Waker>>>) {
    let flag = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    (
        Flagged {
            flag: flag.clone(),
            slot: slot.clone(),
            _guard: Counted(drops.clone()),
        },
        flag,
        slot,
    )
}

/// A wake from another thread while the task runs is never lost: the task completes.
#[test]
fn wake_while_running() {
    spectrum_sync::model(|| {
        let sched = MockRef::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, flag, slot) = flagged(&drops);
        let join = sched.spawn(fut);
        let waker_thread = thread::spawn(move || {
            flag.store(true, SeqCst);
            if let Some(w) = slot.lock().take() {
                w.wake();
            }
        });
        sched.run();
        waker_thread.join().unwrap();
        sched.run();
        assert_eq!(loom::future::block_on(join).unwrap(), 7);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// Cancellation racing the poll: the task ends cancelled or with its output, its future is
/// dropped exactly once, and the joiner sees a consistent result.
#[test]
fn cancel_while_running() {
    spectrum_sync::model(|| {
        let sched = MockRef::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, flag, _slot) = flagged(&drops);
        flag.store(true, SeqCst);
        let join = sched.spawn(fut);
        let abort = join.abort_handle();
        let canceller = thread::spawn(move || abort.cancel());
        sched.run();
        canceller.join().unwrap();
        sched.run();
        match loom::future::block_on(join) {
            Ok(v) => assert_eq!(v, 7),
            Err(JoinError::Cancelled(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// Joining from another thread while the task completes: the output arrives exactly once and
/// the join waker is never lost.
#[test]
fn join_racing_completion() {
    spectrum_sync::model(|| {
        let sched = MockRef::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, flag, _slot) = flagged(&drops);
        flag.store(true, SeqCst);
        let join = sched.spawn(fut);
        let joiner = thread::spawn(move || loom::future::block_on(join).unwrap());
        sched.run();
        assert_eq!(joiner.join().unwrap(), 7);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// Dropping the join handle (which cancels) while the task is queued and being run: the future
/// and the output are each dropped exactly once.
#[test]
fn drop_handle_while_notified() {
    spectrum_sync::model(|| {
        let sched = MockRef::new();
        let future_drops = Arc::new(AtomicUsize::new(0));
        let output_drops = Arc::new(AtomicUsize::new(0));
        let out = Counted(output_drops.clone());
        let guard = Counted(future_drops.clone());
        let join = sched.spawn(async move {
            let _g = guard;
            out
        });
        let dropper = thread::spawn(move || drop(join));
        sched.run();
        dropper.join().unwrap();
        sched.run();
        // Either the task ran (output made and dropped) or was cancelled before running (the
        // output never existed: it was still inside the future).
        assert_eq!(future_drops.load(SeqCst), 1);
        assert_eq!(output_drops.load(SeqCst), 1);
    });
}

/// A shutdown sweep racing a wake from another thread: the task is cancelled exactly once and
/// the stale queue entry is released.
#[test]
fn shutdown_racing_wake() {
    spectrum_sync::model(|| {
        let sched = MockRef::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let (fut, flag, slot) = flagged(&drops);
        let join = sched.spawn(fut);
        sched.run(); // polled once: idle, waker stored
        let waker_thread = thread::spawn(move || {
            flag.store(true, SeqCst);
            if let Some(w) = slot.lock().take() {
                w.wake();
            }
        });
        sched.shutdown();
        waker_thread.join().unwrap();
        sched.run();
        sched.shutdown();
        let r = loom::future::block_on(join);
        assert!(matches!(r, Ok(7) | Err(JoinError::Cancelled(_))), "{r:?}");
        assert_eq!(drops.load(SeqCst), 1);
    });
}
