//! [`Multicast`]: a hot processor that sends every item to every current subscriber, each with
//! its own demand and its own [`Overflow`] policy (Reactor's `Sinks.many().multicast()` /
//! `DirectProcessor` family, with the overflow made explicit).
//!
//! # Semantics
//!
//! - **Hot**: a subscriber receives the items pushed after it subscribed, nothing before. A
//!   subscriber arriving after the end receives the terminal signal at once.
//! - **Per-subscriber demand**: each subscriber has its own queue; an item beyond a
//!   subscriber's demand goes to that subscriber's queue under the processor's policy: with
//!   `Buffer(max)` a subscriber more than `max` items behind fails alone with an overflow error
//!   (the others go on); `Drop`, `Latest`, `BufferDropOldest/Newest` lose items for the slow
//!   subscriber only; `Error` fails it at its first unrequested item. A slow subscriber never
//!   slows the others or the source.
//! - **As a subscriber** (rule 4.1) it requests everything from its upstream: a hot processor
//!   does not backpressure its source, its policy does the bounding. An upstream error is
//!   propagated to every subscriber at once (rule 4.2). Cancelling one subscriber removes it;
//!   the upstream keeps running (a hot source does not stop when its audience leaves): call
//!   [`Multicast::cancel_upstream`] to stop it.

use std::sync::Arc;

use spectrum_sync::Mutex;

use crate::drain::UpstreamSlot;
use crate::ops::terminal::sink_for;
use crate::source::{FluxSink, Overflow};
use spectrum_sync::atomic::{AtomicBool, Ordering::*};

use crate::spec::{Processor, Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

struct McState<T> {
    subs: Vec<(u64, FluxSink<T>)>,
    next_id: u64,
    terminal: Option<Option<StreamError>>,
}

struct McShared<T> {
    st: Mutex<McState<T>>,
    overflow: Overflow,
    upstream: UpstreamSlot,
}

/// A hot multicast processor; cheap to clone (all clones are the same processor).
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_stream::{processor::Multicast, Flux, Overflow};
/// let hot = Multicast::new(Overflow::Buffer(16));
/// let a = Flux::from_publisher(hot.clone()).collect::<Vec<u32>>();
/// let b = Flux::from_publisher(hot.clone()).map(|x| x * 10).collect::<Vec<u32>>();
/// let (a, b) = (spectrum_rt::spawn(async move { a.await }), spectrum_rt::spawn(async move { b.await }));
/// while hot.subscriber_count() < 2 { spectrum_rt::yield_now().await; }
/// for i in 0..3 { hot.next(i); }
/// hot.complete();
/// assert_eq!(a.await.unwrap().unwrap(), Some(vec![0, 1, 2]));
/// assert_eq!(b.await.unwrap().unwrap(), Some(vec![0, 10, 20]));
/// # });
/// ```
pub struct Multicast<T> {
    shared: Arc<McShared<T>>,
}

impl<T> Clone for Multicast<T> {
    fn clone(&self) -> Self {
        Multicast {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Multicast<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multicast")
            .field("overflow", &self.shared.overflow)
            .finish()
    }
}

impl<T: Clone + Send + 'static> Multicast<T> {
    /// A processor whose subscribers each get `overflow` as their policy.
    pub fn new(overflow: Overflow) -> Self {
        Multicast {
            shared: Arc::new(McShared {
                st: Mutex::new(McState {
                    subs: Vec::new(),
                    next_id: 0,
                    terminal: None,
                }),
                overflow,
                upstream: UpstreamSlot::new(),
            }),
        }
    }

    /// Sends `item` to every current subscriber (each under its own demand and the policy).
    /// Returns how many subscribers accepted it.
    pub fn next(&self, item: T) -> usize {
        let subs: Vec<FluxSink<T>> = {
            let st = self.shared.st.lock();
            if st.terminal.is_some() {
                return 0;
            }
            st.subs.iter().map(|(_, s)| s.clone()).collect()
        };
        subs.iter().filter(|s| s.next(item.clone())).count()
    }

    /// Completes every subscriber, now and to come.
    pub fn complete(&self) {
        self.end(None)
    }

    /// Fails every subscriber, now and to come.
    pub fn error(&self, e: StreamError) {
        self.end(Some(e))
    }

    fn end(&self, e: Option<StreamError>) {
        let subs = {
            let mut st = self.shared.st.lock();
            if st.terminal.is_some() {
                return;
            }
            st.terminal = Some(e.clone());
            std::mem::take(&mut st.subs)
        };
        for (_, s) in subs {
            match &e {
                None => s.complete(),
                Some(e) => s.error(e.clone()),
            }
        }
        self.shared.upstream.clear();
    }

    /// Current subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.shared.st.lock().subs.len()
    }

    /// Cancels the upstream this processor is subscribed to, if any.
    pub fn cancel_upstream(&self) {
        self.shared.upstream.cancel()
    }
}

impl<T: Clone + Send + 'static> Publisher for Multicast<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        let sink = sink_for(self.shared.overflow, "multicast", s);
        let mut st = self.shared.st.lock();
        if let Some(end) = st.terminal.clone() {
            drop(st);
            match end {
                None => sink.complete(),
                Some(e) => sink.error(e),
            }
            return;
        }
        let id = st.next_id;
        st.next_id += 1;
        st.subs.push((id, sink.clone()));
        drop(st);
        let weak = Arc::downgrade(&self.shared);
        sink.on_cancel(move || {
            if let Some(sh) = weak.upgrade() {
                sh.st.lock().subs.retain(|(i, _)| *i != id);
            }
        });
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for Multicast<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    fn on_next(&mut self, v: T) {
        self.next(v);
    }
    fn on_error(&mut self, e: StreamError) {
        self.error(e)
    }
    fn on_complete(&mut self) {
        self.complete()
    }
}

impl<T: Clone + Send + 'static> Processor<T> for Multicast<T> {}

/// The publisher of [`Flux::share`] and [`Flux::share_with`]: a [`Multicast`] that subscribes
/// to its source once enough subscribers have arrived (Reactor's `publish().autoConnect(n)`).
pub struct Share<P, T> {
    source: P,
    processor: Multicast<T>,
    connected: Arc<AtomicBool>,
    min: usize,
}

impl<P: Clone, T> Clone for Share<P, T> {
    fn clone(&self) -> Self {
        Share {
            source: self.source.clone(),
            processor: self.processor.clone(),
            connected: self.connected.clone(),
            min: self.min,
        }
    }
}

impl<P, T> std::fmt::Debug for Share<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share").field("min", &self.min).finish()
    }
}

impl<P> Publisher for Share<P, P::Item>
where
    P: Publisher,
    P::Item: Clone,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.processor.subscribe(s);
        if self.processor.subscriber_count() >= self.min && !self.connected.swap(true, AcqRel) {
            self.source.subscribe(self.processor.clone());
        }
    }
}

impl<P: Publisher> Flux<P>
where
    P::Item: Clone,
{
    /// Turns a cold stream hot: one subscription to this stream, shared by every subscriber,
    /// started by the first (Reactor's `share()`); each subscriber keeps up to 256 items it
    /// has not requested, then fails alone.
    pub fn share(self) -> Flux<Share<P, P::Item>> {
        self.share_with(Overflow::Buffer(256), 1)
    }

    /// [`share`](Flux::share) with each subscriber's `overflow` policy, connecting once
    /// `subscribers` have subscribed (Reactor's `publish().autoConnect(n)`).
    pub fn share_with(self, overflow: Overflow, subscribers: usize) -> Flux<Share<P, P::Item>> {
        Flux::from_publisher(Share {
            source: self.inner,
            processor: Multicast::new(overflow),
            connected: Arc::new(AtomicBool::new(false)),
            min: subscribers.max(1),
        })
    }
}
