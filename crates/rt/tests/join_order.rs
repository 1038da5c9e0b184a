//! A finished task wakes its joiner at the back of the run queue, not in the LIFO slot: a parent
//! that joins many children in turn resumes once, after the children queued before it, instead
//! of once per child.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use spectrum_rt::Runtime;

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

const CHILDREN: u64 = 200;

/// Spawns `CHILDREN` children, then joins them in order; returns how often the parent was polled.
fn parent_polls(pinned: bool) -> usize {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let parent = CountPolls {
        inner: Box::pin(async move {
            let children: Vec<_> = (0..CHILDREN)
                .map(|i| {
                    if pinned {
                        spectrum_rt::spawn_local(async move { i })
                    } else {
                        spectrum_rt::spawn(async move { i })
                    }
                })
                .collect();
            let mut sum = 0;
            for c in children {
                sum += c.await.unwrap();
            }
            sum
        }),
        polls: polls.clone(),
    };
    // Spawned from a task: `spawn_local` needs a worker thread.
    let sum = rt
        .block_on(rt.spawn(async move {
            if pinned {
                spectrum_rt::spawn_local(parent).await.unwrap()
            } else {
                spectrum_rt::spawn(parent).await.unwrap()
            }
        }))
        .unwrap();
    assert_eq!(sum, CHILDREN * (CHILDREN - 1) / 2);
    polls.load(SeqCst)
}

#[test]
fn a_parent_joining_its_children_resumes_once_not_once_per_child() {
    // The first poll spawns and parks on the first child; the children run; the first child's
    // completion queues the parent behind the others, and its second poll joins them all.
    let polls = parent_polls(false);
    assert!(
        polls <= 3,
        "parent polled {polls} times for {CHILDREN} children"
    );
}

#[test]
fn the_same_for_pinned_tasks() {
    let polls = parent_polls(true);
    assert!(
        polls <= 3,
        "parent polled {polls} times for {CHILDREN} children"
    );
}
