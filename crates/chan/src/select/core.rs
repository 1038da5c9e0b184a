//! The select protocol (module docs of `select`), written once over any collection of cases:
//! the builder's boxed cases and `select!`'s cases on the stack.

use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use spectrum_rt::coop;

use super::case::Case;
use crate::chan::Readiness;
use crate::error::{SelectTimeoutError, TrySelectError};
use crate::waiter::{Check, Signal};

/// A collection of cases the core can index.
pub(crate) trait Cases {
    fn count(&self) -> usize;
    fn at(&self, i: usize) -> &dyn Case;
}

impl<'a> Cases for [&(dyn Case + Sync + 'a)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn at(&self, i: usize) -> &dyn Case {
        self[i]
    }
}

impl<'a> Cases for Vec<Pin<Box<dyn Case + Sync + core::marker::Send + 'a>>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn at(&self, i: usize) -> &dyn Case {
        &*self[i]
    }
}

/// Step 1: the order in which cases are tried and registered: up to 16 cases as 4-bit nibbles
/// of one register (no memory traffic on the hot path), more in a vector.
struct Order {
    small: u64,
    heap: Vec<usize>,
    n: usize,
}

impl Order {
    #[inline]
    fn new(n: usize, biased: bool) -> Order {
        // A uniformly random permutation (Fisher-Yates), so each ready case is equally likely
        // to be the first one tried (Go's `pollorder`).
        if n <= 16 {
            let mut p: u64 = 0xFEDC_BA98_7654_3210;
            if !biased {
                let mut draw = crate::rand::Draw16::default();
                for i in (1..n).rev() {
                    let j = draw.below(i + 1);
                    let x = ((p >> (4 * i)) ^ (p >> (4 * j))) & 0xF;
                    p ^= (x << (4 * i)) | (x << (4 * j));
                }
            }
            Order {
                small: p,
                heap: Vec::new(),
                n,
            }
        } else {
            let mut heap: Vec<usize> = (0..n).collect();
            if !biased {
                crate::rand::shuffle(&mut heap);
            }
            Order { small: 0, heap, n }
        }
    }

    #[inline]
    fn get(&self, k: usize) -> usize {
        if self.n <= 16 {
            ((self.small >> (4 * k)) & 0xF) as usize
        } else {
            self.heap[k]
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.n
    }
}

/// The per-select state the protocol keeps between polls.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) biased: bool,
    /// Some waiter may be linked (between pass 2 and commit or abort).
    pub(crate) parked: bool,
}

/// Step 2: tries every enabled case once, in `order`; the winner's result is in the case.
fn try_pass<C: Cases + ?Sized>(cases: &C, order: &Order) -> Option<usize> {
    (0..order.len()).map(|k| order.get(k)).find(|&i| {
        let c = cases.at(i);
        c.enabled() && c.try_now()
    })
}

/// `try_select`: steps 1-2 only.
pub(crate) fn try_select<C: Cases + ?Sized>(
    cases: &C,
    state: &State,
) -> Result<usize, TrySelectError> {
    debug_assert!(!state.parked);
    let order = Order::new(cases.count(), state.biased);
    let won = try_pass(cases, &order).ok_or(TrySelectError)?;
    cases.at(won).set_won(true);
    Ok(won)
}

/// Why `park` did not leave the select parked.
enum Unparked {
    /// Case `i` committed during the abort; its result is in the case.
    Won(usize),
    /// A case became ready: start over.
    Again,
    /// A case's slot is claimed by a counterpart still writing (reading) it: neither park nor
    /// commit (`chan` module protocols); start over shortly.
    Busy,
}

/// Steps 4-5.
///
/// # Safety
///
/// The cases stay in place and `signal` alive until every waiter is unlinked (`abort`,
/// `commit`, or the cases' drops).
unsafe fn park<C: Cases + ?Sized>(
    cases: &C,
    signal: &Signal,
    state: &mut State,
    order: &Order,
    cx: &Context<'_>,
) -> Result<(), Unparked> {
    signal.reset();
    signal.register(cx.waker());
    state.parked = true;
    let stop = (0..order.len()).map(|k| order.get(k)).find_map(|i| {
        let c = cases.at(i);
        if !c.enabled() {
            return None;
        }
        // SAFETY: per this function's contract.
        match unsafe { c.register(signal, i) } {
            Readiness::NotReady => None,
            r => Some(r),
        }
    });
    let Some(stop) = stop else {
        return Ok(());
    };
    Err(match abort(cases, signal, state) {
        Some(won) => Unparked::Won(won),
        None if stop == Readiness::Busy => Unparked::Busy,
        None => Unparked::Again,
    })
}

/// Withdraws every waiter: `None`, or `Some(i)` if case `i` committed first (its result is
/// then in the case).
pub(crate) fn abort<C: Cases + ?Sized>(
    cases: &C,
    signal: &Signal,
    state: &mut State,
) -> Option<usize> {
    if !state.parked {
        return None;
    }
    match signal.abort() {
        Ok(()) => {
            for i in 0..cases.count() {
                cases.at(i).unregister();
            }
            state.parked = false;
            None
        }
        Err(won) => {
            commit(cases, state, won);
            Some(won)
        }
    }
}

/// Step 7.
fn commit<C: Cases + ?Sized>(cases: &C, state: &mut State, won: usize) {
    for i in 0..cases.count() {
        let c = cases.at(i);
        if i == won {
            c.collect();
            // Marked at once, so `abandon` finds the result even if no poll hands it out.
            c.set_won(true);
        } else {
            c.unregister();
        }
    }
    state.parked = false;
}

/// The whole protocol for one poll; `elapsed` polls the deadline, if any.
///
/// # Safety
///
/// As for `park`.
pub(crate) unsafe fn poll_select<C: Cases + ?Sized>(
    cases: &C,
    signal: &Signal,
    state: &mut State,
    cx: &mut Context<'_>,
    mut elapsed: impl FnMut(&mut Context<'_>) -> bool,
) -> Poll<Result<usize, SelectTimeoutError>> {
    let coop = ready!(coop::poll_proceed(cx));
    let won = if state.parked {
        signal.register(cx.waker());
        let check = match signal.check() {
            Check::Claimed if crate::op::spin_allowed() => {
                signal.poll_done().map_or(Check::Waiting, Check::Done)
            }
            check => check,
        };
        if let Check::Done(won) = check {
            commit(cases, state, won);
            Ok(won)
        } else if check == Check::Claimed {
            // A counterpart is completing one of our cases: never spin on a worker (waiter
            // module docs); come back after the other tasks.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        } else if !elapsed(cx) {
            note_select(cases.count());
            return Poll::Pending;
        } else {
            abort(cases, signal, state).ok_or(SelectTimeoutError)
        }
    } else {
        let backoff = spectrum_sync::Backoff::new();
        loop {
            let order = Order::new(cases.count(), state.biased);
            if let Some(won) = try_pass(cases, &order) {
                break Ok(won);
            }
            if elapsed(cx) {
                break Err(SelectTimeoutError);
            }
            // SAFETY: per this function's contract.
            match unsafe { park(cases, signal, state, &order, cx) } {
                Ok(()) => {
                    note_select(cases.count());
                    return Poll::Pending;
                }
                Err(Unparked::Won(won)) => break Ok(won),
                Err(Unparked::Again) => continue,
                Err(Unparked::Busy) if crate::op::spin_allowed() => backoff.snooze(),
                Err(Unparked::Busy) => {
                    // Never spin on a worker: come back after the other tasks.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    };
    coop.made_progress();
    if let Ok(i) = won {
        cases.at(i).set_won(true);
    }
    Poll::Ready(won)
}

/// The future behind `select!`: the protocol over cases that live on the caller's stack.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct Raw<'c, 'a> {
    cases: &'c [&'c (dyn Case + Sync + 'a)],
    /// Lives in the pinned future: a leaked `Raw` leaks it too, so a waiter of a case (which
    /// unlinks itself when dropped) never points to a freed signal.
    signal: Signal,
    state: State,
    #[cfg(not(loom))]
    sleep: Option<spectrum_rt::time::Sleep>,
    _pin: core::marker::PhantomPinned,
}

impl<'c, 'a> Raw<'c, 'a> {
    /// A select over `cases`.
    pub fn new(cases: &'c [&'c (dyn Case + Sync + 'a)], biased: bool) -> Raw<'c, 'a> {
        Raw {
            cases,
            signal: Signal::new(),
            state: State {
                biased,
                parked: false,
            },
            #[cfg(not(loom))]
            sleep: None,
            _pin: core::marker::PhantomPinned,
        }
    }

    /// Gives up at `deadline`.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn deadline(mut self, deadline: std::time::Instant) -> Self {
        self.sleep = Some(spectrum_rt::time::sleep_until(deadline));
        self
    }

    /// Gives up after `timeout`.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.sleep = Some(spectrum_rt::time::sleep(timeout));
        self
    }

    /// Commits a ready case without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySelectError`] if none is ready.
    pub fn try_select(self) -> Result<usize, TrySelectError> {
        try_select(self.cases, &self.state)
    }

    /// `select!`'s `wait;` mode: [`Wait::wait`](spectrum_rt::Wait::wait) on this future, with
    /// pass 1 run first on the calling thread, so a select whose case is ready costs no waiter
    /// set-up. The coop budget is charged as a poll would.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] as the future.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn wait(self) -> Result<usize, SelectTimeoutError> {
        let mut cx = Context::from_waker(core::task::Waker::noop());
        if let Poll::Ready(coop) = coop::poll_proceed(&mut cx) {
            if let Ok(won) = try_select(self.cases, &self.state) {
                coop.made_progress();
                return Ok(won);
            }
        }
        spectrum_rt::Wait::wait(self)
    }
}

impl Future for Raw<'_, '_> {
    type Output = Result<usize, SelectTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `sleep` is structurally pinned (never moved out, dropped in place); the other
        // fields are plain data and references.
        let me = unsafe { self.get_unchecked_mut() };
        #[cfg(not(loom))]
        let elapsed = |cx: &mut Context<'_>| match me.sleep.as_mut() {
            // SAFETY: as above.
            Some(s) => unsafe { Pin::new_unchecked(s) }.poll(cx).is_ready(),
            None => false,
        };
        #[cfg(loom)]
        let elapsed = |_: &mut Context<'_>| false;
        // SAFETY: the cases are borrowed for `'c` and unlink their waiters when dropped; the
        // signal is pinned inside `self`, and `Drop` unlinks every waiter before it goes (a
        // leaked `Raw` leaks the signal with it).
        unsafe { poll_select(me.cases, &me.signal, &mut me.state, cx, elapsed) }
    }
}

impl Drop for Raw<'_, '_> {
    fn drop(&mut self) {
        if let Some(won) = abort(self.cases, &self.signal, &mut self.state) {
            self.cases[won].abandon();
        }
    }
}

impl core::fmt::Debug for Raw<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Raw")
            .field("cases", &self.cases.len())
            .field("state", &self.state)
            .finish()
    }
}

/// Notes in the current task (if any) that it waits in a select over `cases` cases (the task
/// dump shows it; the wait-for graph follows no select, whose note has room for one object).
#[inline]
fn note_select(cases: usize) {
    #[cfg(not(loom))]
    spectrum_rt::task::note_wait(spectrum_rt::task::WaitOn::Select {
        cases: cases as u64,
    });
    #[cfg(loom)]
    let _ = cases;
}
