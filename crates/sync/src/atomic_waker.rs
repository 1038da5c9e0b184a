//! A slot for one `Waker`, registered by the consumer and taken by producers.
//!
//! # Protocol
//!
//! One task at a time registers (the consumer, e.g. the awaiter of a oneshot); any number of
//! threads wake. `state` is a two-bit lock:
//!
//! - `WAITING` (0): nobody touches `waker`; a registrant may take the slot.
//! - `REGISTERING` (1): the registrant owns `waker` and is writing it.
//! - `WAKING` (2): a waker owns `waker` and is taking it.
//! - `REGISTERING | WAKING`: a wake arrived while registering. The registrant, on finishing, sees the
//!   bit, takes the waker it just stored and wakes it itself, so the wake-up is never lost.
//!
//! Steps of `register(w)`:
//! 1. CAS `WAITING -> REGISTERING`. On failure with `WAKING` set, a wake is in progress: call
//!    `w.wake_by_ref()` so the caller polls again (the value the wake announces is already visible).
//! 2. Store `w` (skipped when the stored waker `will_wake` the same task).
//! 3. CAS `REGISTERING -> WAITING`. On failure a waker set `WAKING` meanwhile: take the waker,
//!    reset to `WAITING`, and wake it.
//!
//! Steps of `take()`: `fetch_or(WAKING)`; if the old state was `WAITING`, the taker owns the slot:
//! take the waker and clear `WAKING`. Otherwise a registrant or another taker owns it and will see
//! the bit (or has already woken).

use core::fmt;
use core::task::Waker;

use crate::atomic::{AtomicUsize, Ordering::*};
use crate::UnsafeCell;

const WAITING: usize = 0;
const REGISTERING: usize = 0b01;
const WAKING: usize = 0b10;

/// A slot for one `Waker` with wake-ups that are never lost; the building block of oneshots,
/// join handles and readiness flags.
pub struct AtomicWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: `waker` is only accessed by the thread that owns the slot through `state` (see the module
// protocol), so sharing the `AtomicWaker` never gives two threads access to the `Option<Waker>` at
// once; `Waker` itself is `Send + Sync`.
unsafe impl Send for AtomicWaker {}
// SAFETY: as for `Send`.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    /// An empty slot.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(None),
        }
    }

    /// An empty slot.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(None),
        }
    }

    /// Registers `waker` to be woken by the next [`wake`](Self::wake) or [`take`](Self::take).
    ///
    /// Registration must not race with itself: one consumer registers at a time (concurrent
    /// registrations are tolerated but one of them is ignored).
    pub fn register(&self, waker: &Waker) {
        // Acquire: pairs with the Release in `take`'s `fetch_and` (and in this function's own
        // final store), so the previous owner's write of `waker` is visible before we touch it.
        match self
            .state
            .compare_exchange(WAITING, REGISTERING, Acquire, Acquire)
        {
            Ok(_) => {
                // SAFETY: state is REGISTERING and we set it: we own `waker` until we leave it.
                self.waker
                    .with_mut(|slot| store_waker(unsafe { &mut *slot }, waker));
                // AcqRel: Release publishes the stored waker to the next taker (pairs with the
                // Acquire of `take`'s `fetch_or`); Acquire on failure pairs with that same
                // `fetch_or` so we see what the concurrent waker published before it set WAKING.
                if let Err(actual) =
                    self.state
                        .compare_exchange(REGISTERING, WAITING, AcqRel, Acquire)
                {
                    debug_assert_eq!(actual, REGISTERING | WAKING);
                    // A take() arrived while we held the slot; it left the waking to us.
                    // SAFETY: the taker saw REGISTERING and backed off; we still own `waker`.
                    let woken = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                    // Release: the next registrant (Acquire above) sees `waker == None`.
                    self.state.swap(WAITING, AcqRel);
                    if let Some(w) = woken {
                        w.wake();
                    }
                }
            }
            Err(WAKING) => {
                // A take() owns the slot right now: whatever it announces has happened, so have
                // the caller poll again instead of waiting on a wake-up that already passed.
                waker.wake_by_ref();
                crate::hint::spin_loop();
            }
            Err(_) => {
                // Concurrent registration (REGISTERING or REGISTERING|WAKING): a misuse the
                // protocol tolerates; the other registration wins.
            }
        }
    }

    /// Registers `waker` with plain memory accesses: for a slot no other thread can reach yet
    /// (its owner is about to publish it, e.g. by linking it into a queue under a lock whose
    /// release then publishes the waker too).
    ///
    /// # Safety
    ///
    /// No other thread accesses this `AtomicWaker` until the caller publishes it with a
    /// Release/Acquire pair (or a lock), and no `take` left it mid-way (the state is WAITING).
    #[inline]
    pub unsafe fn register_unshared(&self, waker: &Waker) {
        // Relaxed: the caller guarantees exclusive access; this is a sanity check.
        debug_assert_eq!(self.state.load(Relaxed), WAITING);
        // SAFETY: exclusive access per the caller.
        self.waker
            .with_mut(|slot| store_waker(unsafe { &mut *slot }, waker));
    }

    /// Wakes the registered waker, if any.
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Takes the registered waker so the caller can wake it outside its own critical section.
    pub fn take(&self) -> Option<Waker> {
        // AcqRel: Acquire pairs with the Release of `register`'s final CAS so the stored waker is
        // visible; Release publishes whatever the caller wrote before waking (the value being
        // announced) to a registrant whose CAS then fails and sees it.
        match self.state.fetch_or(WAKING, AcqRel) {
            WAITING => {
                // SAFETY: we moved the state from WAITING to WAKING: we own `waker`.
                let w = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                // Release: pairs with the Acquire CAS in `register`. A read-modify-write, not a
                // plain store of WAITING: another taker's `fetch_or(WAKING)` meanwhile (which
                // then leaves the waking to us) must stay in the release sequence the next
                // registrant acquires, or that registrant could miss what the other taker
                // published (loom's `two_wakers_and_reregistration` finds it).
                self.state.fetch_and(!WAKING, Release);
                w
            }
            _ => None,
        }
    }
}

/// Stores `waker` in a slot its caller owns, keeping the stored one when it wakes the same task
/// (no clone, no drop). Shared with the channels' `Signal`, which guards its slot itself.
#[inline]
pub fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl Default for AtomicWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicWaker")
            .field("state", &self.state.load(Relaxed))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(StdUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn wake_reaches_the_last_registered_waker() {
        let a = Arc::new(Count(StdUsize::new(0)));
        let b = Arc::new(Count(StdUsize::new(0)));
        let slot = AtomicWaker::new();
        slot.register(&Waker::from(a.clone()));
        slot.register(&Waker::from(b.clone()));
        slot.wake();
        slot.wake();
        assert_eq!(a.0.load(SeqCst), 0);
        assert_eq!(b.0.load(SeqCst), 1);
        assert!(slot.take().is_none());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::atomic::AtomicBool;
    use crate::{thread, Arc};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    struct Flag {
        set: AtomicBool,
        waker: AtomicWaker,
    }

    struct WaitFlag(Arc<Flag>);
    impl Future for WaitFlag {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.waker.register(cx.waker());
            // Acquire: pairs with the Release store in the setter.
            if self.0.set.load(Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    /// A value published before `wake` is always seen: the registrant never sleeps forever.
    #[test]
    fn no_lost_wakeup() {
        crate::model(|| {
            let flag = Arc::new(Flag {
                set: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            });
            let f2 = flag.clone();
            let t = thread::spawn(move || {
                f2.set.store(true, Release);
                f2.waker.wake();
            });
            loom::future::block_on(WaitFlag(flag));
            t.join().unwrap();
        });
    }

    /// Two concurrent wakers and a re-registration: still exactly no lost wake-up.
    #[test]
    fn two_wakers_and_reregistration() {
        crate::model(|| {
            let flag = Arc::new(Flag {
                set: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            });
            let f2 = flag.clone();
            let f3 = flag.clone();
            let t1 = thread::spawn(move || f2.waker.wake());
            let t2 = thread::spawn(move || {
                f3.set.store(true, Release);
                f3.waker.wake();
            });
            loom::future::block_on(WaitFlag(flag));
            t1.join().unwrap();
            t2.join().unwrap();
        });
    }
}
