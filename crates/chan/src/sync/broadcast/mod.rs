//! `broadcast`: a multi-producer, multi-consumer channel in which every receiver sees every value
//! sent after it subscribed, as in `tokio::sync::broadcast`.
//!
//! The channel is a ring of `capacity` slots (rounded up to a power of two, as tokio does). A
//! send writes the next slot, overwriting the oldest value; each [`Receiver`] keeps its own
//! position and clones the values out (`T: Clone`). A receiver that falls more than the capacity
//! behind has lost the values overwritten meanwhile: its next receive reports
//! [`RecvError::Lagged(n)`](RecvError::Lagged) once, `n` being exactly the number it missed, and
//! the receive after that returns the oldest value still retained. Once every [`Sender`] is gone
//! and a receiver has read everything retained, it gets [`RecvError::Closed`]. A send with no
//! receiver fails and gives the value back.
//!
//! ```
//! use spectrum_chan::sync::broadcast;
//! use spectrum_rt::Wait;
//!
//! let (tx, mut rx1) = broadcast::channel(16);
//! let mut rx2 = tx.subscribe();
//!
//! let rt = spectrum_rt::Runtime::new().unwrap();
//! let task = rt.spawn(async move {
//!     let mut got = Vec::new();
//!     while let Ok(v) = rx1.recv().await {
//!         got.push(v);
//!     }
//!     got
//! });
//! // An OS thread blocks on the same future with `.wait()`.
//! let thread = std::thread::spawn(move || {
//!     let mut got = Vec::new();
//!     while let Ok(v) = rx2.recv().wait() {
//!         got.push(v);
//!     }
//!     got
//! });
//! for i in 0..10 {
//!     assert_eq!(tx.send(i), Ok(2)); // two receivers will see it
//! }
//! drop(tx); // the channel closes once both have drained it
//! assert_eq!(rt.block_on(task).unwrap(), (0..10).collect::<Vec<_>>());
//! assert_eq!(thread.join().unwrap(), (0..10).collect::<Vec<_>>());
//! ```
//!
//! # Semantics
//!
//! - **Subscription**: a receiver sees the values sent after it was created
//!   ([`Sender::subscribe`], [`Receiver::resubscribe`], or [`channel`]), never earlier ones.
//! - **Order**: every receiver sees the values in the order they were sent (sends are serialized
//!   by the channel's lock, so senders on several threads agree on one order).
//! - **Lag**: the ring keeps the last `capacity` values. A receiver whose next value was
//!   overwritten gets `Lagged(n)` (`n` = the values it lost) and continues from the oldest
//!   retained value; `received + sum of n == sent since it subscribed`, always.
//! - **Close**: when the last sender is dropped, receivers drain what is retained, then get
//!   `Closed` (every time they ask). When the last receiver is dropped, `send` fails with
//!   [`SendError`] until a new receiver subscribes, and [`Sender::closed`] resolves.
//! - **Values** stay in their slot until every receiver counted for them has read them (the last
//!   reader drops it, as in tokio; when two receivers finish reading one value at the same
//!   instant it may instead stay until it is overwritten), until a receiver that had not read it
//!   is dropped last, or until it is overwritten; [`Sender::len`] counts the values not yet seen
//!   by all receivers.
//!
//! Receivers on several threads clone the same value at once, so a channel crosses threads only
//! if `T: Send + Sync` (the bound tokio added for RUSTSEC-2025-0023):
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! let (tx, _rx) = spectrum_chan::sync::broadcast::channel::<std::cell::Cell<u8>>(1);
//! send(tx);
//! ```
//!
//! # Capacity
//!
//! `capacity` is rounded up to a power of two, and the ring is allocated up front. 0 and
//! capacities above [`MAX_CAPACITY`] are refused: [`channel`] panics with a message saying so
//! (as tokio panics on 0), [`try_channel`] returns a [`CapacityError`] instead, also when the
//! allocator refuses the ring. (Unlike `spectrum_chan::bounded`, whose buffer grows as values
//! arrive, a broadcast ring must exist in full before the first send: every slot is written in
//! turn.)
//!
//! # Cancel safety
//!
//! [`Receiver::recv`] is cancel-safe: a value is taken only when the future returns it, so
//! dropping a pending `recv` (in a `select!`, on a timeout) loses nothing; the next `recv` returns
//! the same value. [`Sender::closed`] is cancel-safe too (it only observes).
//!
//! # Threads, fibers and tasks
//!
//! Every waiting operation is a future: tasks `.await` it, threads and fibers call `.wait()` on
//! it ([`spectrum_rt::Wait`]) and block (a thread parks, a fiber suspends). `send` never waits:
//! it is a plain function (it takes the channel's lock for a few dozen instructions, plus the
//! time any receiver needs to finish cloning the slot being overwritten). The futures are plain
//! `Waker` code and also run under other executors. A waiting future leaves a
//! `WaitOn::Signal` note in the task registry, so a task dump names the channel it waits on.
//!
//! # Design
//!
//! - The ring: one slot per position modulo the capacity; each slot is a tiny reader-writer
//!   lock plus the count of receivers still to read it (`ring` module docs).
//!   Receivers read lock-free: two atomic read-modify-writes on the slot per value.
//! - The tail lock (`Tail`): the next position to write, the receiver count, `closed`, and two
//!   queues of parked futures (receivers waiting for a value, `Sender::closed`). A send takes it,
//!   writes the slot, advances the tail and completes every parked receiver; a receiver that
//!   finds no value takes it, looks again, and parks. Sends and parks are serialized by this
//!   lock, so a wake-up is never lost: either the receiver's look sees the new tail, or the send
//!   sees the parked receiver.
//! - Parked futures are intrusive nodes (`wake` module docs) completed with "look again", never
//!   handed a value: that is why dropping one is always safe.

mod error;
mod ring;
pub(in crate::sync) mod wake;

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use futures_core::Stream;
use spectrum_rt::coop;
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Arc;

pub use error::{CapacityError, Lagged, RecvError, SendError, TryRecvError};

use self::ring::{Peek, Slot, MAX_RECEIVERS};
use self::wake::{notify_all, Parked};
use super::id::{LazyId, NoteKind};
use super::node::{lock_for_poll, Queue};
use crate::lock::Lock;
use crate::op::spin_allowed;

/// The largest capacity a broadcast channel accepts (2^24 slots, after rounding up to a power of
/// two). The ring is allocated and initialized up front, and every value sent stays in it until
/// overwritten; a ring this large already lets receivers lag by millions of values, so a larger
/// request is taken for a mistake rather than risk exhausting memory.
pub const MAX_CAPACITY: usize = 1 << 24;

/// A broadcast channel retaining `capacity` values (rounded up to a power of two).
///
/// ```
/// let (tx, mut rx) = spectrum_chan::sync::broadcast::channel(2);
/// tx.send("a").unwrap();
/// assert_eq!(rx.try_recv(), Ok("a"));
/// ```
///
/// # Panics
///
/// If `capacity` is 0 or above [`MAX_CAPACITY`], or the ring cannot be allocated; the message
/// says which. [`try_channel`] returns these as errors.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    match try_channel(capacity) {
        Ok(pair) => pair,
        Err(e) => panic!("broadcast::channel({capacity}): {e}"),
    }
}

/// [`channel`], reporting a capacity it cannot provide as an error instead of panicking.
///
/// ```
/// use spectrum_chan::sync::broadcast::{try_channel, CapacityError, MAX_CAPACITY};
///
/// assert_eq!(try_channel::<u8>(0).unwrap_err(), CapacityError::Zero);
/// assert!(try_channel::<u8>(MAX_CAPACITY + 1).is_err());
/// assert_eq!(try_channel::<u8>(usize::MAX).unwrap_err(), CapacityError::TooLarge(usize::MAX));
/// let (tx, _rx) = try_channel::<u8>(1000).unwrap();
/// assert_eq!(tx.capacity(), 1024);
/// ```
///
/// # Errors
///
/// [`CapacityError::Zero`], [`CapacityError::TooLarge`] above [`MAX_CAPACITY`], and
/// [`CapacityError::OutOfMemory`] if the allocator refuses the ring.
pub fn try_channel<T: Clone>(capacity: usize) -> Result<(Sender<T>, Receiver<T>), CapacityError> {
    let shared = Arc::new(Shared::new(capacity, 1)?);
    let tx = Sender {
        shared: shared.clone(),
    };
    Ok((tx, Receiver { shared, next: 0 }))
}

/// The channel's state, shared by every handle.
struct Shared<T> {
    /// The ring; position `p` lives in `buffer[p & mask]`.
    buffer: Box<[Slot<T>]>,
    mask: u64,
    tail: Lock<Tail>,
    /// Live `Sender`s; the last one to go closes the channel (under the tail lock).
    senders: AtomicUsize,
    /// The id of the wait notes.
    id: LazyId,
}

/// What the tail lock guards.
struct Tail {
    /// The next position to write (= values sent so far).
    pos: u64,
    /// Live receivers: how many each value sent is counted for.
    rx_count: usize,
    /// Every sender is gone.
    closed: bool,
    /// Parked `recv`s.
    waiters: Queue,
    /// Parked `Sender::closed`s.
    closed_waiters: Queue,
}

impl<T> Shared<T> {
    fn new(capacity: usize, receivers: usize) -> Result<Shared<T>, CapacityError> {
        if capacity == 0 {
            return Err(CapacityError::Zero);
        }
        if capacity > MAX_CAPACITY {
            return Err(CapacityError::TooLarge(capacity));
        }
        let cap = capacity.next_power_of_two();
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(cap)
            .map_err(|_| CapacityError::OutOfMemory(cap))?;
        slots.extend((0..cap).map(|_| Slot::new()));
        Ok(Shared {
            buffer: slots.into_boxed_slice(),
            mask: cap as u64 - 1,
            tail: Lock::new(Tail {
                pos: 0,
                rx_count: receivers,
                closed: false,
                waiters: Queue::new(),
                closed_waiters: Queue::new(),
            }),
            senders: AtomicUsize::new(1),
            id: LazyId::new(),
        })
    }

    #[inline]
    fn slot(&self, pos: u64) -> &Slot<T> {
        &self.buffer[(pos & self.mask) as usize]
    }

    #[inline]
    fn capacity(&self) -> u64 {
        self.mask + 1
    }
}

/// A new receiver of `shared`'s channel, starting at the tail.
#[track_caller]
fn subscribe<T>(shared: &Arc<Shared<T>>) -> Receiver<T> {
    let mut tail = shared.tail.lock();
    if tail.rx_count >= MAX_RECEIVERS {
        drop(tail);
        panic!("a broadcast channel has at most {MAX_RECEIVERS} receivers");
    }
    tail.rx_count += 1;
    let next = tail.pos;
    drop(tail);
    Receiver {
        shared: shared.clone(),
        next,
    }
}

/// The sending half: [`send`](Sender::send) a value to every receiver. Cloneable; the channel
/// closes when the last sender is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Clone> Sender<T> {
    /// A sender of a new channel that has no receiver yet (subscribe with
    /// [`subscribe`](Self::subscribe)).
    ///
    /// ```
    /// let tx = spectrum_chan::sync::broadcast::Sender::new(4);
    /// assert!(tx.send(1).is_err()); // nobody listens yet
    /// let mut rx = tx.subscribe();
    /// assert_eq!(tx.send(2), Ok(1));
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// ```
    ///
    /// # Panics
    ///
    /// As [`channel`].
    #[track_caller]
    pub fn new(capacity: usize) -> Sender<T> {
        match Shared::new(capacity, 0) {
            Ok(shared) => Sender {
                shared: Arc::new(shared),
            },
            Err(e) => panic!("broadcast::Sender::new({capacity}): {e}"),
        }
    }
}

impl<T> Sender<T> {
    /// Sends `value` to every current receiver; returns how many there are. Never waits for
    /// receivers: a full ring overwrites its oldest value (receivers that had not read it will
    /// see `Lagged`).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if there is no receiver (the value is not stored: a later
    /// receiver will not see it).
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let shared = &*self.shared;
        let mut tail = shared.tail.lock();
        let receivers = tail.rx_count;
        if receivers == 0 {
            drop(tail);
            return Err(SendError(value));
        }
        let pos = tail.pos;
        let old = shared.slot(pos).write(pos, value, receivers);
        tail.pos = pos + 1;
        notify_all(tail, |t| &mut t.waiters);
        // The overwritten value is dropped outside the lock: its `Drop` may use this channel.
        drop(old);
        Ok(receivers)
    }

    /// A new receiver that will see every value sent from now on.
    ///
    /// # Panics
    ///
    /// If the channel already has `2^31 - 1` receivers.
    #[track_caller]
    pub fn subscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// The number of live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.tail.lock().rx_count
    }

    /// The number of values retained that some receiver has not read yet (tokio's definition:
    /// a value counts until every receiver that existed when it was sent has read it, or it is
    /// overwritten).
    pub fn len(&self) -> usize {
        let shared = &*self.shared;
        let tail = shared.tail.lock();
        let oldest = tail.pos.saturating_sub(shared.capacity());
        // Receivers read in order, so the values still wanted by someone are a suffix of the
        // retained ones: find where it starts.
        let (mut lo, mut hi) = (oldest, tail.pos);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if shared.slot(mid).remaining() == 0 {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (tail.pos - lo) as usize
    }

    /// True if every retained value was read by every receiver ([`len`](Self::len) is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of values the ring retains: the capacity asked for, rounded up to a power of
    /// two.
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// True if both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// True while the channel has no receiver (sends fail).
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until the channel has no receiver.
    ///
    /// ```
    /// use spectrum_rt::Wait;
    ///
    /// let (tx, rx) = spectrum_chan::sync::broadcast::channel::<u8>(1);
    /// std::thread::spawn(move || drop(rx));
    /// tx.closed().wait();
    /// assert!(tx.send(1).is_err());
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes the channel.
    pub fn closed(&self) -> Closed<'_, T> {
        Closed {
            shared: &self.shared,
            parked: Parked::new(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        // Relaxed: a new handle from an existing one, as `Arc::clone`; the count only decides who
        // closes (see `drop`).
        self.shared.senders.fetch_add(1, Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: pairs with the other senders' decrements, so the last one closes after every
        // other sender's last send (which the tail lock then orders before `closed`).
        if self.shared.senders.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let mut tail = self.shared.tail.lock();
        tail.closed = true;
        notify_all(tail, |t| &mut t.waiters);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("id", &self.shared.id)
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// The receiving half: [`recv`](Receiver::recv) every value sent after it subscribed. Not
/// `Clone` (as in tokio): [`resubscribe`](Receiver::resubscribe) makes a receiver that starts at
/// the tail instead.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The next position this receiver reads.
    next: u64,
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value: waits while there is none yet.
    ///
    /// ```
    /// use spectrum_chan::sync::broadcast::{self, RecvError};
    /// use spectrum_rt::Wait;
    ///
    /// let (tx, mut rx) = broadcast::channel(2);
    /// for i in 0..5 {
    ///     tx.send(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(rx.recv().wait(), Err(RecvError::Lagged(3))); // 0, 1, 2 were overwritten
    /// assert_eq!(rx.recv().wait(), Ok(3));
    /// assert_eq!(rx.recv().wait(), Ok(4));
    /// assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] once after this receiver fell behind by more than the capacity
    /// (then it continues from the oldest retained value), [`RecvError::Closed`] once every
    /// sender is gone and everything retained was read.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it completes takes nothing from the channel; the
    /// next `recv` returns the value this one would have.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            rx: self,
            parked: Parked::new(),
        }
    }

    /// Receives the next value if there is one, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value is ready, and `Lagged` / `Closed` as for
    /// [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.poll_recv(None) {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("try_recv never parks"),
        }
    }

    /// This receiver as a [`Stream`] of `Result<T, Lagged>`: a lag is an item (the stream goes
    /// on after it), the channel's close ends the stream.
    pub fn into_stream(self) -> RecvStream<T> {
        RecvStream {
            rx: self,
            parked: Box::pin(Parked::new()),
        }
    }

    /// Receive protocol. `parked` is the caller's node if it may wait, `None` for `try_recv`.
    fn poll_recv(
        &mut self,
        parked: Option<(&Parked, &Context<'_>)>,
    ) -> Poll<Result<T, TryRecvError>> {
        let shared = &*self.shared;
        loop {
            // 1. Lock-free: the value is in its slot, or the slot says why not.
            match shared.slot(self.next).read(self.next, T::clone) {
                Peek::Value(v) => {
                    self.next += 1;
                    return Poll::Ready(Ok(v));
                }
                Peek::Empty | Peek::Newer | Peek::Busy => {}
            }
            // 2. Under the tail lock: no write is under way, and the tail is exact.
            let mut tail = match parked {
                None => shared.tail.lock(),
                Some((_, cx)) => match lock_for_poll(&shared.tail, cx, spin_allowed()) {
                    Some(g) => g,
                    // The lock stayed taken: `lock_for_poll` woke us to try again later.
                    None => return Poll::Pending,
                },
            };
            if self.next < tail.pos {
                let oldest = tail.pos.saturating_sub(shared.capacity());
                if self.next < oldest {
                    let missed = oldest - self.next;
                    self.next = oldest;
                    return Poll::Ready(Err(TryRecvError::Lagged(missed)));
                }
                // Written (its writer finished before releasing the lock): read it lock-free,
                // so that `clone` never runs under the lock.
                continue;
            }
            if tail.closed {
                return Poll::Ready(Err(TryRecvError::Closed));
            }
            let Some((parked, cx)) = parked else {
                return Poll::Ready(Err(TryRecvError::Empty));
            };
            // 3. Park: the next send (or the close) completes the node.
            // SAFETY: `parked` is pinned (in `Recv` or boxed in `RecvStream`) and not linked (we
            // came here through `poll` seeing it completed, or never linked it), and both owners
            // unlink it under this lock in their `Drop`.
            unsafe { parked.link(&mut tail.waiters, cx.waker()) };
            return Poll::Pending;
        }
    }

    /// One poll of a receive through the caller's node: coop budget, wait note.
    fn poll_parked(&mut self, parked: &Parked, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        if parked.is_linked() && parked.poll(cx).is_pending() {
            NoteKind::Signal.note(&self.shared.id);
            return Poll::Pending;
        }
        match self.poll_recv(Some((parked, cx))) {
            Poll::Ready(r) => {
                coop.made_progress();
                Poll::Ready(r.map_err(|e| match e {
                    TryRecvError::Lagged(n) => RecvError::Lagged(n),
                    TryRecvError::Closed => RecvError::Closed,
                    TryRecvError::Empty => unreachable!("a parking receive never reports Empty"),
                }))
            }
            Poll::Pending => {
                NoteKind::Signal.note(&self.shared.id);
                Poll::Pending
            }
        }
    }
}

impl<T> Receiver<T> {
    /// A new receiver of the same channel, starting at the tail (it does not see the values this
    /// one has not read yet).
    ///
    /// # Panics
    ///
    /// If the channel already has `2^31 - 1` receivers.
    #[track_caller]
    pub fn resubscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// The number of values sent that this receiver has not received yet (more than the capacity
    /// if it lagged: the next receive then reports the loss).
    pub fn len(&self) -> usize {
        let pos = self.shared.tail.lock().pos;
        (pos - self.next) as usize
    }

    /// True if this receiver has received every value sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of values the ring retains (as [`Sender::capacity`]).
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// True if both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// True once every sender is gone (values may remain to be received).
    pub fn is_closed(&self) -> bool {
        self.shared.tail.lock().closed
    }

    /// The number of live receivers, this one included.
    pub fn receiver_count(&self) -> usize {
        self.shared.tail.lock().rx_count
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        let mut tail = shared.tail.lock();
        tail.rx_count -= 1;
        let end = tail.pos;
        if tail.rx_count == 0 {
            notify_all(tail, |t| &mut t.closed_waiters);
        } else {
            drop(tail);
        }
        // Sends from now on do not count us; the retained values we have not read did: take us
        // out of their counts (the last reader of one drops it). A slot being rewritten right now
        // holds a value that does not count us, as does one already overwritten (`Newer`).
        let start = self.next.max(end.saturating_sub(shared.capacity()));
        for pos in start..end {
            let _ = shared.slot(pos).read(pos, |_| ());
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("id", &self.shared.id)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    parked: Parked,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `parked` is never moved out of the pinned future (it is only used by
        // reference, and unlinked in `Drop`); `rx` is a plain reference.
        let this = unsafe { self.get_unchecked_mut() };
        this.rx.poll_parked(&this.parked, cx)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.parked.unlink(&self.rx.shared.tail, |t| &mut t.waiters);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("rx", &self.rx)
            .field("state", &self.parked)
            .finish()
    }
}

/// The future of [`Sender::closed`].
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    shared: &'a Shared<T>,
    parked: Parked,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.into_ref().get_ref();
        if this.parked.is_linked() {
            if this.parked.poll(cx).is_ready() {
                return Poll::Ready(());
            }
            NoteKind::Signal.note(&this.shared.id);
            return Poll::Pending;
        }
        let Some(mut tail) = lock_for_poll(&this.shared.tail, cx, spin_allowed()) else {
            return Poll::Pending;
        };
        if tail.rx_count == 0 {
            return Poll::Ready(());
        }
        // SAFETY: `parked` lives in this pinned future, is not linked (checked above), and
        // `Drop` unlinks it under this lock.
        unsafe { this.parked.link(&mut tail.closed_waiters, cx.waker()) };
        drop(tail);
        NoteKind::Signal.note(&this.shared.id);
        Poll::Pending
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        self.parked
            .unlink(&self.shared.tail, |t| &mut t.closed_waiters);
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed")
            .field("id", &self.shared.id)
            .field("state", &self.parked)
            .finish()
    }
}

/// A [`Receiver`] as a [`Stream`] ([`Receiver::into_stream`]): yields `Ok(value)` for each value
/// and `Err(Lagged(n))` where the receiver lagged (and goes on); ends when the channel is closed
/// and drained. Cancel-safe like [`Receiver::recv`]: dropping the stream, or not polling it
/// again, loses nothing for the other receivers.
pub struct RecvStream<T> {
    rx: Receiver<T>,
    parked: Pin<Box<Parked>>,
}

impl<T> RecvStream<T> {
    /// The receiver inside.
    pub fn get_ref(&self) -> &Receiver<T> {
        &self.rx
    }
}

impl<T: Clone> From<Receiver<T>> for RecvStream<T> {
    fn from(rx: Receiver<T>) -> RecvStream<T> {
        rx.into_stream()
    }
}

impl<T: Clone> Stream for RecvStream<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        Poll::Ready(match ready!(this.rx.poll_parked(&this.parked, cx)) {
            Ok(v) => Some(Ok(v)),
            Err(RecvError::Lagged(n)) => Some(Err(Lagged(n))),
            Err(RecvError::Closed) => None,
        })
    }
}

impl<T> Drop for RecvStream<T> {
    fn drop(&mut self) {
        self.parked.unlink(&self.rx.shared.tail, |t| &mut t.waiters);
    }
}

impl<T> fmt::Debug for RecvStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("rx", &self.rx)
            .field("state", &*self.parked)
            .finish()
    }
}
