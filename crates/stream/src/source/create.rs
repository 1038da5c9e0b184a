//! `create`: a push source with a sink and an explicit [`Overflow`] policy (Reactor's
//! `Flux.create(emitter, OverflowStrategy)`), and the buffer behind the `on_backpressure_*`
//! operators.
//!
//! # Design
//!
//! A [`FluxSink`] pushes into a queue shared with the subscription's drainer
//! ([`super::pull`]); the drainer emits from the queue as the subscriber requests. When an item
//! arrives and the queue already holds as many items as the subscriber has asked for, the item
//! has no demand, and the policy decides:
//!
//! | policy | Reactor | an item with no demand |
//! |---|---|---|
//! | `Buffer(max)` | `OverflowStrategy.BUFFER` (bounded here) | queued, while at most `max` wait beyond the demand; then the stream fails with an overflow error |
//! | `BufferDropOldest(max)` | `onBackpressureBuffer(max, DROP_OLDEST)` | queued; beyond `max` waiting, the oldest waiting item is dropped |
//! | `BufferDropNewest(max)` | `onBackpressureBuffer(max, DROP_LATEST)` | queued while fewer than `max` wait, else dropped |
//! | `Drop` | `DROP` | dropped (`next` returns `false`) |
//! | `Latest` | `LATEST` | replaces the newest waiting item |
//! | `Error` | `ERROR` | the stream fails with an overflow error |
//!
//! Reactor's default `BUFFER` is unbounded; here the bound is part of the policy, so an
//! unbounded buffer is spelled `Overflow::Buffer(usize::MAX)`.
//!
//! # Who touches what
//!
//! The queue is locked by sinks (any thread) and by the drainer; the drainer alone touches the
//! subscriber. The queue holds the drainer (strongly) until the subscription ends; the source
//! object owned by the subscription clears it when dropped, which breaks the cycle and runs the
//! `on_cancel` hook (for `on_backpressure_*`: cancel the upstream).

use std::collections::VecDeque;
use std::sync::Arc;

use spectrum_sync::Mutex;

use super::pull::{subscribe_pull, Drainer, Pull, PullSource};
use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber};
use crate::StreamError;

/// What to do with an item that arrives when the subscriber has no demand for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Keep up to this many items beyond the demand; one more fails the stream.
    Buffer(usize),
    /// Keep up to this many items beyond the demand, dropping the oldest waiting one to make
    /// room.
    BufferDropOldest(usize),
    /// Keep up to this many items beyond the demand, dropping new ones when full.
    BufferDropNewest(usize),
    /// Drop the new item.
    Drop,
    /// Keep only the newest item waiting.
    Latest,
    /// Fail the stream.
    Error,
}

struct SinkQueue<T> {
    items: VecDeque<T>,
    end: Option<Option<StreamError>>,
    closed: bool,
    dropped: u64,
    drainer: Option<Arc<dyn Drainer>>,
    on_cancel: Option<Box<dyn FnOnce() + Send>>,
    on_pull: Option<Arc<dyn Fn() + Send + Sync>>,
    on_demand: Option<Arc<dyn Fn() + Send + Sync>>,
    has_upstream: bool,
}

pub(crate) struct SinkShared<T> {
    q: Mutex<SinkQueue<T>>,
    overflow: Overflow,
    name: &'static str,
}

/// The producer side of [`Flux::create`](crate::Flux::create): push items, then complete or
/// fail. Cheap to clone, `Send + Sync`: push from any thread (pushes from several threads are
/// serialized by the sink).
pub struct FluxSink<T> {
    shared: Arc<SinkShared<T>>,
}

impl<T> Clone for FluxSink<T> {
    fn clone(&self) -> Self {
        FluxSink {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for FluxSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluxSink")
            .field("overflow", &self.shared.overflow)
            .finish()
    }
}

impl<T: Send + 'static> FluxSink<T> {
    pub(crate) fn new(overflow: Overflow, name: &'static str) -> Self {
        FluxSink {
            shared: Arc::new(SinkShared {
                q: Mutex::new(SinkQueue {
                    items: VecDeque::new(),
                    end: None,
                    closed: false,
                    dropped: 0,
                    drainer: None,
                    on_cancel: None,
                    on_pull: None,
                    on_demand: None,
                    has_upstream: false,
                }),
                overflow,
                name,
            }),
        }
    }

    pub(crate) fn source(&self) -> SinkSource<T> {
        SinkSource {
            shared: self.shared.clone(),
        }
    }

    /// Connects the subscription's drainer and lets it deliver what was pushed before.
    pub(crate) fn attach(&self, d: Arc<dyn Drainer>) {
        {
            let mut q = self.shared.q.lock();
            if q.closed {
                return;
            }
            q.drainer = Some(d.clone());
        }
        d.drain();
    }

    /// Calls `f` each time the subscriber takes an item out of the queue (for operators that
    /// replenish their upstream as items are consumed).
    pub(crate) fn set_on_pull(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.shared.q.lock().on_pull = Some(f);
    }

    /// Calls `f` when the subscriber has demand and the queue is empty (for operators that
    /// hold items back until there is demand, such as `buffer_timeout`). `f` runs inside the
    /// subscription's drain loop: it may push (the loop picks the item up) but must not block.
    pub(crate) fn set_on_demand(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.shared.q.lock().on_demand = Some(f);
    }

    /// Pushes an item. Returns `true` if it was queued or delivered, `false` if it was dropped
    /// (policies `Drop`, `Latest` and the bounded drops), or the stream is over (cancelled,
    /// completed, failed, overflowed). Items pushed before a subscriber arrives (processors)
    /// count as having no demand.
    pub fn next(&self, item: T) -> bool {
        let drainer = {
            let mut q = self.shared.q.lock();
            if q.closed || q.end.is_some() {
                return false;
            }
            let d = q.drainer.clone();
            if d.as_ref().is_some_and(|d| d.is_cancelled()) {
                return false;
            }
            let queued = q.items.len() as u64;
            let demand = d.as_ref().map_or(0, |d| d.outstanding());
            if queued < demand {
                q.items.push_back(item);
            } else {
                let waiting = queued - demand;
                match self.shared.overflow {
                    Overflow::Buffer(max) if waiting < max as u64 => q.items.push_back(item),
                    Overflow::BufferDropNewest(max) if waiting < max as u64 => {
                        q.items.push_back(item)
                    }
                    Overflow::BufferDropNewest(_) => {
                        q.dropped += 1;
                        return false;
                    }
                    Overflow::BufferDropOldest(max) => {
                        if waiting >= max as u64 {
                            // The oldest waiting item sits right after the ones with demand.
                            let idx = demand.min(queued) as usize;
                            if idx < q.items.len() {
                                q.items.remove(idx);
                                q.dropped += 1;
                            }
                        }
                        if max > 0 {
                            q.items.push_back(item);
                        } else {
                            q.dropped += 1;
                        }
                    }
                    Overflow::Buffer(max) => {
                        q.items.clear();
                        q.end = Some(Some(StreamError::overflow(
                            self.shared.name,
                            format_args!("more than {max} items waiting for demand"),
                        )));
                    }
                    Overflow::Drop => {
                        q.dropped += 1;
                        return false;
                    }
                    Overflow::Latest => {
                        if waiting > 0 {
                            q.dropped += 1;
                            *q.items.back_mut().expect("waiting > 0") = item;
                        } else {
                            q.items.push_back(item);
                        }
                    }
                    Overflow::Error => {
                        q.items.clear();
                        q.end = Some(Some(StreamError::overflow(
                            self.shared.name,
                            "an item arrived with no demand",
                        )));
                    }
                }
            }
            d
        };
        if let Some(d) = drainer {
            d.drain();
        }
        true
    }

    /// Ends the stream once the queued items are delivered.
    pub fn complete(&self) {
        self.end(None);
    }

    /// Fails the stream once the queued items are delivered.
    pub fn error(&self, error: StreamError) {
        self.end(Some(error));
    }

    fn end(&self, e: Option<StreamError>) {
        let d = {
            let mut q = self.shared.q.lock();
            if q.closed || q.end.is_some() {
                return;
            }
            q.end = Some(e);
            q.drainer.clone()
        };
        if let Some(d) = d {
            d.drain();
        }
    }

    /// Outstanding demand of the subscriber, minus what is queued.
    pub fn requested(&self) -> u64 {
        let q = self.shared.q.lock();
        q.drainer
            .as_ref()
            .map_or(0, |d| d.outstanding().saturating_sub(q.items.len() as u64))
    }

    /// True once the subscriber cancelled (or the stream ended): stop producing.
    pub fn is_cancelled(&self) -> bool {
        let q = self.shared.q.lock();
        q.closed || q.drainer.as_ref().is_some_and(|d| d.is_cancelled())
    }

    /// Items dropped so far by the `Drop` and `Latest` policies.
    pub fn dropped(&self) -> u64 {
        self.shared.q.lock().dropped
    }

    /// Records the upstream subscription of an operator built on this sink: cancelling the
    /// sink's subscriber cancels it. Returns `false` (and cancels `up`) for a second one
    /// (rule 2.5) or when the subscriber is already gone.
    pub(crate) fn set_upstream(&self, up: Arc<dyn crate::Subscription>) -> bool {
        let mut q = self.shared.q.lock();
        if q.has_upstream || q.closed {
            drop(q);
            up.cancel();
            return false;
        }
        q.has_upstream = true;
        q.on_cancel = Some(Box::new(move || up.cancel()));
        true
    }

    /// Forgets the `on_cancel` hook: the upstream it would cancel has terminated (rule 2.3:
    /// no calls on a subscription after its terminal signal).
    pub(crate) fn clear_on_cancel(&self) {
        self.shared.q.lock().on_cancel = None;
    }

    /// Runs `f` when the subscription ends (cancel, error, completion delivered), at once if it
    /// already has. Replaces an earlier hook.
    pub fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        let mut q = self.shared.q.lock();
        if q.closed {
            drop(q);
            f();
        } else {
            q.on_cancel = Some(Box::new(f));
        }
    }
}

/// The queue as the drainer sees it.
pub(crate) struct SinkSource<T> {
    shared: Arc<SinkShared<T>>,
}

impl<T: Send + 'static> PullSource for SinkSource<T> {
    type Item = T;

    fn pull(&mut self) -> Pull<T> {
        let mut q = self.shared.q.lock();
        if let Some(v) = q.items.pop_front() {
            if let Some(f) = q.on_pull.clone() {
                drop(q);
                f();
            }
            return Pull::Item(v);
        }
        match q.end.take() {
            Some(None) => Pull::Done,
            Some(Some(e)) => Pull::Error(e),
            None => {
                let Some(f) = q.on_demand.clone() else {
                    return Pull::Pending;
                };
                drop(q);
                f();
                let mut q = self.shared.q.lock();
                match q.items.pop_front() {
                    Some(v) => {
                        if let Some(f) = q.on_pull.clone() {
                            drop(q);
                            f();
                        }
                        Pull::Item(v)
                    }
                    None => Pull::Pending,
                }
            }
        }
    }

    fn poll_terminal(&mut self) -> Option<Pull<T>> {
        let mut q = self.shared.q.lock();
        if !q.items.is_empty() {
            return None;
        }
        match q.end.take() {
            Some(None) => Some(Pull::Done),
            Some(Some(e)) => Some(Pull::Error(e)),
            None => None,
        }
    }
}

impl<T> Drop for SinkSource<T> {
    fn drop(&mut self) {
        let (hook, _drainer, _items, _pull, _demand) = {
            let mut q = self.shared.q.lock();
            q.closed = true;
            (
                q.on_cancel.take(),
                q.drainer.take(),
                std::mem::take(&mut q.items),
                q.on_pull.take(),
                q.on_demand.take(),
            )
        };
        if let Some(f) = hook {
            f();
        }
    }
}

/// The publisher of [`Flux::create`](crate::Flux::create).
pub struct Create<F, T> {
    f: Arc<F>,
    overflow: Overflow,
    _item: std::marker::PhantomData<fn() -> T>,
}

opaque_debug!(Create<F, T>);

impl<F, T> Clone for Create<F, T> {
    fn clone(&self) -> Self {
        Create {
            f: self.f.clone(),
            overflow: self.overflow,
            _item: std::marker::PhantomData,
        }
    }
}

impl<F, T> Create<F, T> {
    pub(crate) fn new(overflow: Overflow, f: F) -> Self {
        Create {
            f: Arc::new(f),
            overflow,
            _item: std::marker::PhantomData,
        }
    }
}

impl<F, T> Publisher for Create<F, T>
where
    T: Send + 'static,
    F: Fn(FluxSink<T>) + Send + Sync + 'static,
{
    type Item = T;

    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        let sink = FluxSink::new(self.overflow, "create");
        let sub = subscribe_pull(sink.source(), s);
        sink.attach(sub);
        (self.f)(sink);
    }
}
