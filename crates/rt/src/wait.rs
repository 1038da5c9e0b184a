//! The universal wait: `.wait()` on any future, from any kind of caller.
//!
//! Every Spectrum primitive is written once, as a future. Sync-style code blocks on it with
//! [`Wait::wait`], and what that means depends on who calls:
//!
//! 1. **A fiber** (or any context that entered a [`SuspendPoint`]): the fiber suspends and its
//!    worker runs other tasks until the future's waker fires.
//! 2. **An async task on a worker thread**: the classic "blocking inside async" pitfall. The
//!    runtime reports it (task name, id, spawn site and the `.wait()` call site) through its
//!    diagnostic hook, and under [`BlockingPolicy::Compensate`](crate::runtime::BlockingPolicy)
//!    hands the worker's queue to a spare thread before blocking. Then it blocks the thread.
//! 3. **Any other thread** (an OS thread, a `spawn_blocking` job, `main`): the thread parks until
//!    the waker fires. No runtime is needed unless the future itself needs one (a timer, a
//!    socket).
//!
//! The choice goes through one small internal interface (`context`), so fibers plug in without
//! the primitives knowing about them.

use std::future::Future;
use std::panic::Location;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use spectrum_sync::atomic::Ordering::*;
use spectrum_sync::{Condvar, Mutex};

use crate::parker::ThreadNotify;
use crate::runtime::{BlockingPolicy, Diagnostic};
use crate::sched::{self, Shared};

/// Blocks on any future: `.wait()` (see the [module docs](self) for what "blocks" means for each
/// kind of caller).
///
/// ```
/// use spectrum_rt::Wait;
///
/// // On a plain thread, no runtime needed for a future that needs none:
/// assert_eq!(async { 2 + 2 }.wait(), 4);
///
/// // Timers and sockets need a runtime entered on the thread:
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let _guard = rt.enter();
/// spectrum_rt::time::sleep(std::time::Duration::from_millis(1)).wait();
/// ```
pub trait Wait: Future + Sized {
    /// Waits for the future's output, suspending a fiber or parking a thread.
    #[track_caller]
    #[inline(always)]
    fn wait(self) -> Self::Output {
        wait(self)
    }
}

impl<F: Future> Wait for F {}

pub use crate::suspend::{Resume, SuspendHooks, SuspendPoint, Yielder};

/// Who is waiting: the one internal interface behind `.wait()`.
pub(crate) enum WaitContext {
    /// A suspension point (a fiber's).
    Suspend(*const SuspendPoint),
    /// An async task polled on a runtime worker thread.
    AsyncTask,
    /// Anything else: an OS thread may park.
    Thread,
}

/// Classifies the caller with one thread-local access.
#[inline]
pub(crate) fn context() -> WaitContext {
    crate::context::with(|cx| {
        let point = cx.suspend.get();
        if !point.is_null() {
            WaitContext::Suspend(point)
        } else if !cx.worker.get().is_null() && cx.current_task.get().is_some() {
            WaitContext::AsyncTask
        } else {
            WaitContext::Thread
        }
    })
}

/// True while this OS thread is parked in (or polling a future under) a `.wait()`: a primitive
/// may then spin briefly before registering, since the alternative is a system call to sleep.
/// False in async tasks and fibers, whose waits are cheap suspensions.
#[inline]
pub fn in_blocking_wait() -> bool {
    crate::context::with(|cx| cx.parked_waits.get() > 0)
}

/// Blocks on `future`; see [`Wait::wait`].
///
/// Pins the future where it is and hands a pinned reference on, so a large future (a channel
/// operation) is not copied again on its way to the poll loop.
#[track_caller]
#[inline(always)]
pub fn wait<F: Future>(future: F) -> F::Output {
    wait_pinned(pin!(future))
}

/// [`wait`] on a future pinned by the caller.
///
/// Always inlined: in a fiber, the poll loop and the stack switch must sit in the caller's own
/// frame (see [`SuspendPoint`]); the other two kinds of caller go out of line at once.
#[track_caller]
#[inline(always)]
pub fn wait_pinned<F: Future + ?Sized>(mut future: Pin<&mut F>) -> F::Output {
    match context() {
        WaitContext::Suspend(s) => {
            // SAFETY: set by `SuspendPoint::resume_with`, whose borrow outlives this call (it
            // resets the pointer before it returns).
            let s = unsafe { &*s };
            loop {
                let mut cx = Context::from_waker(s.waker());
                if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                    return v;
                }
                s.suspend();
            }
        }
        WaitContext::AsyncTask => wait_in_task(future),
        WaitContext::Thread => park_pinned(future),
    }
}

/// `wait_pinned` on a thread that may park.
#[inline(never)]
fn park_pinned<F: Future + ?Sized>(future: Pin<&mut F>) -> F::Output {
    park_on(future, None)
}

/// `wait_pinned` inside an async task: the guardrail.
#[track_caller]
#[inline(never)]
fn wait_in_task<F: Future + ?Sized>(future: Pin<&mut F>) -> F::Output {
    let caller = Location::caller();
    let policy = report_blocking_wait(caller);
    if policy == BlockingPolicy::Compensate {
        sched::block_in_place(|| park_on(future, None))
    } else {
        park_on(future, None)
    }
}

/// Reports a `.wait()` inside an async task; returns the runtime's policy.
///
/// # Panics
///
/// Under [`BlockingPolicy::Panic`], with the report as the message (inside the offending task).
fn report_blocking_wait(called_at: &'static Location<'static>) -> BlockingPolicy {
    let (policy, report) = sched::with_current(|shared| {
        let Some(shared) = shared else {
            return (BlockingPolicy::Report, None);
        };
        let policy = shared.config.blocking_policy;
        let report = crate::context::with_current_task(|task| {
            task.map(|h| Diagnostic::BlockingWait {
                task: h.id,
                name: h.meta.name.as_deref().map(str::to_owned),
                spawned_at: h.meta.location,
                called_at,
                compensated: policy == BlockingPolicy::Compensate,
            })
        });
        if let Some(d) = &report {
            shared.diagnose(d.clone());
        }
        (policy, report)
    });
    if policy == BlockingPolicy::Panic {
        if let Some(d) = report {
            panic!("{d} (BlockingPolicy::Panic)");
        }
    }
    policy
}

/// `block_on` with the runtime entered: like `wait`, and the paused clock does not advance while
/// this thread is busy polling.
pub(crate) fn block_on_entered<F: Future>(shared: &Shared, future: F) -> F::Output {
    if let WaitContext::AsyncTask = context() {
        let caller = Location::caller();
        if report_blocking_wait(caller) == BlockingPolicy::Compensate {
            return sched::block_in_place(|| park_on(future, Some(shared)));
        }
    }
    park_on(future, Some(shared))
}

// This thread's parker and its waker (see `crate::parker`). It sleeps in `thread::park`: an
// unpark meant for other code on the thread only makes it check its state and sleep again, and
// a token it swallows is one that code re-checks its own condition for (as `park` requires).
thread_local! {
    static NOTIFY: (Arc<ThreadNotify>, Waker) = {
        let notify = Arc::new(ThreadNotify::new());
        let waker = Waker::from(notify.clone());
        (notify, waker)
    };
}

fn park_on<F: Future>(future: F, shared: Option<&Shared>) -> F::Output {
    match shared {
        None => park_thread(future),
        Some(shared) => park_block_on(future, shared),
    }
}

/// Parks a plain thread between polls. Borrows the thread's cached waker (no reference-count
/// traffic per call). A wait nested inside another's poll leaves a notification behind when it
/// returns, so the outer wait polls again even if the inner one consumed its wake-up.
fn park_thread<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            let nested = crate::context::with(|cx| {
                let d = cx.parked_waits.get() - 1;
                cx.parked_waits.set(d);
                d > 0
            });
            if nested {
                NOTIFY.with(|(n, _)| n.notify());
            }
        }
    }
    crate::context::with(|cx| cx.parked_waits.set(cx.parked_waits.get() + 1));
    let _depth = Depth;
    NOTIFY.with(|(notify, waker)| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            notify.park();
        }
    })
}

/// The waker of a `block_on` caller. While the caller is runnable (polling, or woken and not yet
/// polling) it holds one unit of the runtime's `inhibit_auto_advance`, so a paused clock never
/// jumps ahead of work the caller is about to do; the waker takes the unit on the caller's behalf
/// at the moment it wakes it.
struct BlockOnNotify {
    state: Mutex<BlockOnState>,
    condvar: Condvar,
    inhibit: Arc<spectrum_sync::atomic::AtomicUsize>,
}

struct BlockOnState {
    notified: bool,
    parked: bool,
}

impl Wake for BlockOnNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.notified {
            return;
        }
        st.notified = true;
        if st.parked {
            st.parked = false;
            // AcqRel: see `Shared::inhibit_auto_advance`.
            self.inhibit.fetch_add(1, AcqRel);
        }
        drop(st);
        self.condvar.notify_one();
    }
}

fn park_block_on<F: Future>(future: F, shared: &Shared) -> F::Output {
    let mut future = pin!(future);
    let notify = Arc::new(BlockOnNotify {
        state: Mutex::new(BlockOnState {
            notified: false,
            parked: false,
        }),
        condvar: Condvar::new(),
        inhibit: shared.inhibit_auto_advance.clone(),
    });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    // Hold the unit while running; release it while parked (the waker re-takes it).
    struct Hold<'a>(&'a BlockOnNotify);
    impl Drop for Hold<'_> {
        fn drop(&mut self) {
            let st = self.0.state.lock();
            if !st.parked {
                // AcqRel: see `Shared::inhibit_auto_advance`.
                self.0.inhibit.fetch_sub(1, AcqRel);
            }
        }
    }
    notify.inhibit.fetch_add(1, AcqRel);
    let _hold = Hold(&notify);
    shared.block_on_waiters.lock().push(waker.clone());
    struct Unlist<'a>(&'a Shared, &'a Waker);
    impl Drop for Unlist<'_> {
        fn drop(&mut self) {
            self.0
                .block_on_waiters
                .lock()
                .retain(|w| !w.will_wake(self.1));
        }
    }
    let _unlist = Unlist(shared, &waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // Acquire: pairs with the Release store in `on_unhandled_panic`.
        if shared.panic_shutdown.load(Acquire) {
            let message = shared.fatal.lock().clone().unwrap_or_default();
            panic!("{message}");
        }
        let mut st = notify.state.lock();
        if !st.notified {
            st.parked = true;
            notify.inhibit.fetch_sub(1, AcqRel);
            while !st.notified {
                st = notify.condvar.wait(st);
            }
            // The waker cleared `parked` and took the unit back for us.
        }
        st.notified = false;
    }
}
