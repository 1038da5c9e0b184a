//! The dead-letter office: messages that could not be delivered.
//!
//! A message becomes a dead letter when the mailbox's [`Overflow::DeadLetter`] policy rejects it
//! or when its actor ends with it still queued. Nobody listening costs one atomic load per
//! letter; [`subscribe`] opens a bounded queue that receives every letter published
//! afterwards, process-wide. A subscriber that falls behind loses letters, never blocks
//! a sender. Messages dropped by `DropNewest` / `DropOldest` are only counted
//! ([`Addr::dropped`](crate::Addr::dropped)).
//!
//! [`Overflow::DeadLetter`]: crate::Overflow::DeadLetter

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::{Arc, LazyLock, Weak};
use std::task::{Poll, Waker};

use spectrum_sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

use crate::reason::ActorId;

/// Why a message became a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The mailbox was full and its policy is `Overflow::DeadLetter`.
    MailboxFull,
    /// The actor ended with the message still in its mailbox.
    Stopped,
}

/// An undelivered message.
#[non_exhaustive]
pub struct DeadLetter {
    /// The actor it was for.
    pub to: ActorId,
    /// That actor's name, if it had one.
    pub name: Option<Arc<str>>,
    /// The message's type name.
    pub type_name: &'static str,
    /// Why it was not delivered.
    pub reason: DeadLetterReason,
    /// The message (downcast it to its type).
    pub message: Box<dyn Any + Send>,
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("to", &self.to)
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

static LISTENERS: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);
static SUBSCRIBERS: LazyLock<Mutex<Vec<Weak<Inbox>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

struct Inbox {
    state: Mutex<(VecDeque<DeadLetter>, Option<Waker>)>,
    capacity: usize,
}

/// A subscription to the dead-letter office ([`subscribe`]). Dropping it unsubscribes.
pub struct DeadLetters {
    inbox: Arc<Inbox>,
}

impl DeadLetters {
    /// The next letter, if one is waiting.
    pub fn try_recv(&self) -> Option<DeadLetter> {
        self.inbox.state.lock().0.pop_front()
    }

    /// Waits for the next letter.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a letter is only taken when the future completes.
    pub fn recv(&self) -> impl Future<Output = DeadLetter> + '_ {
        poll_fn(|cx| {
            let mut st = self.inbox.state.lock();
            match st.0.pop_front() {
                Some(l) => Poll::Ready(l),
                None => {
                    st.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("capacity", &self.inbox.capacity)
            .finish_non_exhaustive()
    }
}

/// Receives every dead letter published from now on, up to `capacity` unread ones (later
/// letters are lost while it is full).
///
/// ```
/// let letters = spectrum_actor::dead_letters::subscribe(64);
/// assert!(letters.try_recv().is_none());
/// ```
pub fn subscribe(capacity: usize) -> DeadLetters {
    let inbox = Arc::new(Inbox {
        state: Mutex::new((VecDeque::new(), None)),
        capacity: capacity.max(1),
    });
    let mut subs = SUBSCRIBERS.lock();
    subs.push(Arc::downgrade(&inbox));
    // Relaxed: a hint for the fast path; the list itself is read under the lock.
    LISTENERS.store(subs.len(), Relaxed);
    DeadLetters { inbox }
}

/// Dead letters published so far, process-wide (whether or not anyone listened).
pub fn count() -> u64 {
    COUNT.load(Relaxed)
}

pub(crate) fn is_listening() -> bool {
    LISTENERS.load(Relaxed) != 0
}

pub(crate) fn publish(
    to: ActorId,
    name: Option<Arc<str>>,
    type_name: &'static str,
    reason: DeadLetterReason,
    message: Box<dyn Any + Send>,
) {
    COUNT.fetch_add(1, Relaxed);
    if !is_listening() {
        return;
    }
    let mut subs = SUBSCRIBERS.lock();
    subs.retain(|s| s.strong_count() > 0);
    LISTENERS.store(subs.len(), Relaxed);
    let live: Vec<Arc<Inbox>> = subs.iter().filter_map(Weak::upgrade).collect();
    drop(subs);
    // The message itself goes to the first subscriber with room; the others get the letter
    // without it (a message is not `Clone`).
    let mut message = Some(message);
    for inbox in live {
        let mut st = inbox.state.lock();
        if st.0.len() >= inbox.capacity {
            continue;
        }
        st.0.push_back(DeadLetter {
            to,
            name: name.clone(),
            type_name,
            reason,
            message: message.take().unwrap_or_else(|| Box::new(())),
        });
        let w = st.1.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }
}
