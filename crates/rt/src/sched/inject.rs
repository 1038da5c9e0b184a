//! The global injector: an intrusive FIFO of tasks behind a mutex.
//!
//! Tasks submitted from outside the worker pool, and the overflow of full worker rings, land here.
//! Entries are linked through each task header's `queue_next`, so pushing never allocates; a batch
//! (half a ring) is linked outside the lock and spliced in with one lock acquisition. `len` is
//! mirrored in an atomic so workers can check for work without locking.

use std::ptr::NonNull;

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

use super::queue::Overflow;
use crate::task::{Header, Notified, RawTask};

pub(crate) struct Inject<S: 'static> {
    inner: Mutex<List>,
    len: AtomicUsize,
    _marker: std::marker::PhantomData<S>,
}

struct List {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the list holds `Notified` references (which are `Send`) and is only touched under the
// mutex.
unsafe impl Send for List {}

fn set_next(task: NonNull<Header>, next: Option<NonNull<Header>>) {
    // SAFETY: `queue_next` is only written by the owner of the task's Notified reference before it
    // is linked, or under the injector lock.
    unsafe { task.as_ref().queue_next.with_mut(|p| *p = next) };
}

fn get_next(task: NonNull<Header>) -> Option<NonNull<Header>> {
    // SAFETY: as `set_next`.
    unsafe { task.as_ref().queue_next.with(|p| *p) }
}

impl<S: 'static> Inject<S> {
    pub(crate) fn new() -> Self {
        Inject {
            inner: Mutex::new(List {
                head: None,
                tail: None,
                len: 0,
                closed: false,
            }),
            len: AtomicUsize::new(0),
            _marker: std::marker::PhantomData,
        }
    }

    /// True if the injector looks empty (no lock taken).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the Release stores under the lock, so a non-zero length is
        // followed by a successful pop (modulo races with other poppers).
        self.len.load(Acquire)
    }

    /// Closes the injector: later pushes are refused. Returns `false` if it was closed already.
    pub(crate) fn close(&self) -> bool {
        let mut list = self.inner.lock();
        !std::mem::replace(&mut list.closed, true)
    }

    /// Pushes one task. A closed injector hands the task back.
    pub(crate) fn push(&self, task: Notified<S>) -> Result<(), Notified<S>> {
        let ptr = task.into_raw().0;
        set_next(ptr, None);
        let mut list = self.inner.lock();
        if list.closed {
            drop(list);
            // SAFETY: we just took it apart; it is still a Notified reference.
            return Err(unsafe { Notified::from_raw(RawTask(ptr)) });
        }
        match list.tail {
            Some(tail) => set_next(tail, Some(ptr)),
            None => list.head = Some(ptr),
        }
        list.tail = Some(ptr);
        list.len += 1;
        // Release: see `len`.
        self.len.store(list.len, Release);
        Ok(())
    }

    /// Pops one task.
    pub(crate) fn pop(&self) -> Option<Notified<S>> {
        if self.is_empty() {
            return None;
        }
        let mut list = self.inner.lock();
        let head = list.head?;
        list.head = get_next(head);
        if list.head.is_none() {
            list.tail = None;
        }
        list.len -= 1;
        // Release: see `len`.
        self.len.store(list.len, Release);
        set_next(head, None);
        // SAFETY: the list held a Notified reference for this task.
        Some(unsafe { Notified::from_raw(RawTask(head)) })
    }

    /// Pops up to `max` tasks under one lock acquisition.
    pub(crate) fn pop_n(&self, max: usize, mut f: impl FnMut(Notified<S>)) -> usize {
        if max == 0 || self.is_empty() {
            return 0;
        }
        let mut list = self.inner.lock();
        let n = max.min(list.len);
        for _ in 0..n {
            let head = list.head.expect("injector length out of sync");
            list.head = get_next(head);
            set_next(head, None);
            // SAFETY: the list held a Notified reference for this task.
            f(unsafe { Notified::from_raw(RawTask(head)) });
        }
        if list.head.is_none() {
            list.tail = None;
        }
        list.len -= n;
        // Release: see `len`.
        self.len.store(list.len, Release);
        n
    }
}

impl<S: 'static> Overflow<Notified<S>> for Inject<S> {
    fn push_batch(&self, batch: impl Iterator<Item = Notified<S>>) {
        // Link the batch outside the lock.
        let mut head: Option<NonNull<Header>> = None;
        let mut tail: Option<NonNull<Header>> = None;
        let mut count = 0;
        for task in batch {
            let ptr = task.into_raw().0;
            set_next(ptr, None);
            match tail {
                Some(t) => set_next(t, Some(ptr)),
                None => head = Some(ptr),
            }
            tail = Some(ptr);
            count += 1;
        }
        let (Some(head), Some(tail)) = (head, tail) else {
            return;
        };
        let mut list = self.inner.lock();
        if list.closed {
            drop(list);
            // Shutting down: the tasks are (or will be) cancelled by the registry sweep; release
            // the queue's references.
            let mut cur = Some(head);
            while let Some(ptr) = cur {
                cur = get_next(ptr);
                // SAFETY: each linked entry is a Notified reference we own.
                drop(unsafe { Notified::<S>::from_raw(RawTask(ptr)) });
            }
            return;
        }
        match list.tail {
            Some(t) => set_next(t, Some(head)),
            None => list.head = Some(head),
        }
        list.tail = Some(tail);
        list.len += count;
        // Release: see `len`.
        self.len.store(list.len, Release);
    }
}

impl<S: 'static> Drop for Inject<S> {
    fn drop(&mut self) {
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}

impl<S: 'static> std::fmt::Debug for Inject<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inject").field("len", &self.len()).finish()
    }
}
