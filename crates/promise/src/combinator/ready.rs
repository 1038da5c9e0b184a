//! The ready queue of a combinator: which inputs were woken since the combinator last looked.
//!
//! # Protocol
//!
//! Each pending input gets its own waker, a [`Child`] (one allocation, as a task node in
//! `FuturesUnordered`): waking it pushes the input's index onto [`ReadyQueue::ready`] and wakes
//! the combinator's task through [`ReadyQueue::parent`]. So a combinator over n inputs polls only
//! the inputs that were woken, never all n (the difference between O(n) and O(n²) for 10k pending
//! inputs that settle one by one).
//!
//! 1. `Child::wake`: `queued.swap(true)`; if it was `false`, push the index, and wake the parent
//!    if the queue was empty (a non-empty queue has already woken it). An input woken many times
//!    before the combinator runs is queued once.
//! 2. The combinator registers its task's waker in `parent` **before** it takes the queue, so a
//!    push that lands after the take still wakes it.
//! 3. The combinator takes the whole queue in one lock (swapping in its own empty vector, so no
//!    allocation in steady state), then for each index: `queued.swap(false)`, then polls the
//!    input. A wake that races with the poll therefore either queues the index again or is seen
//!    by the poll: the wake-up is never lost.
//!
//! `loom_tests` checks steps 1–3 against a concurrent waker.

use std::task::{Wake, Waker};

use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex};

/// Woken input indices and the combinator's waker.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    ready: Mutex<Vec<usize>>,
    parent: AtomicWaker,
}

impl ReadyQueue {
    /// Registers the combinator's waker (step 2).
    pub(crate) fn register(&self, waker: &Waker) {
        self.parent.register(waker);
    }

    /// Moves every queued index into `into` (which must be empty), oldest first (step 3).
    pub(crate) fn take_into(&self, into: &mut Vec<usize>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *self.ready.lock(), into);
    }

    /// True if inputs were woken since the last take.
    pub(crate) fn has_woken(&self) -> bool {
        !self.ready.lock().is_empty()
    }

    fn push(&self, index: usize) {
        let was_empty = {
            let mut ready = self.ready.lock();
            ready.push(index);
            ready.len() == 1
        };
        // Only the push that makes the queue non-empty wakes the combinator: every later push
        // lands in the batch that wake-up will take (the combinator takes the whole queue after
        // registering, so a push after the take finds it empty again and wakes it).
        if was_empty {
            self.parent.wake();
        }
    }
}

/// The waker of one input.
#[derive(Debug)]
pub(crate) struct Child {
    index: usize,
    queued: AtomicBool,
    // A std `Arc`: `Waker::from` needs one.
    queue: std::sync::Arc<ReadyQueue>,
}

impl Child {
    /// A child for input `index`, and its waker (the same allocation).
    pub(crate) fn new(
        index: usize,
        queue: &std::sync::Arc<ReadyQueue>,
    ) -> (std::sync::Arc<Child>, Waker) {
        let child = std::sync::Arc::new(Child {
            index,
            queued: AtomicBool::new(false),
            queue: queue.clone(),
        });
        let waker = Waker::from(child.clone());
        (child, waker)
    }
}

/// Marks the input behind `waker` as not queued, before the combinator polls it (step 3).
pub(crate) fn unqueue(child: &std::sync::Arc<Child>) {
    // A read-modify-write, not a store, and AcqRel: pairs with the AcqRel `swap` in
    // `wake_by_ref`. Either a wake's swap comes after ours in `queued`'s modification order (it
    // reads our `false` and queues the index again), or before it (we read its `true` with
    // Acquire, so the poll that follows sees everything the waker published before waking).
    // With a plain store both could miss each other (the store-buffer pattern), whatever the
    // input's own synchronization; loom found that.
    child.queued.swap(false, AcqRel);
}

impl Wake for Child {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // AcqRel: pairs with the AcqRel swap in `unqueue` (Release publishes what the waker
        // did before waking to the combinator's poll); only the wake that flips it queues it.
        if !self.queued.swap(true, AcqRel) {
            self.queue.push(self.index);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::atomic::AtomicUsize;
    use spectrum_sync::thread;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// A combinator over one input that a second thread completes: it waits for the woken index
    /// exactly the way `Engine` does (register, take, unqueue, look at the input).
    struct Combinator {
        queue: Arc<ReadyQueue>,
        child: Arc<Child>,
        input_done: Arc<AtomicUsize>,
        batch: Vec<usize>,
    }

    impl Future for Combinator {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let this = &mut *self;
            this.queue.register(cx.waker());
            this.queue.take_into(&mut this.batch);
            for _ in this.batch.drain(..) {
                unqueue(&this.child);
            }
            // Acquire: pairs with the input's Release store (the input's own synchronization).
            if this.input_done.load(Acquire) == 2 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    /// Two wakes from another thread, each after a step of progress: the combinator never sleeps
    /// through the last one.
    #[test]
    fn no_lost_wakeup_between_take_and_poll() {
        spectrum_sync::model(|| {
            let queue = Arc::new(ReadyQueue::default());
            let child = Arc::new(Child {
                index: 0,
                queued: AtomicBool::new(false),
                queue: queue.clone(),
            });
            let input_done = Arc::new(AtomicUsize::new(0));
            let waker = Waker::from(child.clone());
            let done2 = input_done.clone();
            let t = thread::spawn(move || {
                for _ in 0..2 {
                    // Release: pairs with the Acquire load in `poll`.
                    done2.fetch_add(1, Release);
                    waker.wake_by_ref();
                }
            });
            loom::future::block_on(Combinator {
                queue,
                child,
                input_done,
                batch: Vec::new(),
            });
            t.join().unwrap();
        });
    }
}
