//! The suspension point `.wait()` switches stackful contexts through, driven by hand with a
//! plain corosensei coroutine: the contract the fiber crate builds on.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use corosensei::{Coroutine, CoroutineResult};
use spectrum_rt::wait::{Resume, SuspendHooks, SuspendPoint, Yielder};
use spectrum_rt::Wait;

/// Pending until opened; remembers the waker of its last poll.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, SeqCst);
    }

    fn polled_with(&self, w: &Waker) -> bool {
        self.waker
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|s| s.will_wake(w))
    }
}

impl Future for Gate {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let polls = self.polls.fetch_add(1, SeqCst) + 1;
        // The waker first, then the check: an opener that finds no waker has opened before
        // this check, which then sees it.
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.open.load(SeqCst) {
            return Poll::Ready(polls);
        }
        Poll::Pending
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn waker() -> Waker {
    Waker::from(Arc::new(Count::default()))
}

/// The owner of a point, recording which rare paths ran.
struct Owner {
    point: SuspendPoint,
    gate: Gate,
    blocking: Waker,
    blocking_wakers: Cell<u32>,
    slow: Cell<u32>,
    cancels: Cell<u32>,
    /// What `suspend_slow` answers: true = "blocked until woken" (it opens the gate first).
    block: Cell<bool>,
}

impl SuspendHooks for Owner {
    fn blocking_waker(&self) -> &Waker {
        self.blocking_wakers.set(self.blocking_wakers.get() + 1);
        &self.blocking
    }

    fn suspend_slow(&self) -> bool {
        self.slow.set(self.slow.get() + 1);
        if self.block.get() {
            self.gate.open();
        }
        self.block.get()
    }

    fn resumed_with_cancel(&self) {
        self.cancels.set(self.cancels.get() + 1);
    }
}

type Co = Coroutine<Resume, (), usize>;

/// An owner and a coroutine whose body waits on the owner's gate and returns its poll count.
fn setup() -> (Rc<Owner>, Co) {
    let owner = Rc::new(Owner {
        point: SuspendPoint::new(),
        gate: Gate::default(),
        blocking: waker(),
        blocking_wakers: Cell::new(0),
        slow: Cell::new(0),
        cancels: Cell::new(0),
        block: Cell::new(false),
    });
    let hooks: NonNull<dyn SuspendHooks> = NonNull::from(&*owner as &dyn SuspendHooks);
    // SAFETY: the `Rc` keeps the owner (and so the hooks) alive for every resume in these tests.
    unsafe { owner.point.set_hooks(hooks) };
    let inner = owner.clone();
    let co = Coroutine::new(move |yielder: &Yielder, _first: Resume| {
        // SAFETY: this coroutine's yielder, set at its first instruction; the point is only
        // resumed around this coroutine's resumes.
        unsafe { inner.point.set_yielder(yielder) };
        inner.gate.clone().wait()
    });
    (owner, co)
}

fn resume(
    owner: &Owner,
    co: &mut Co,
    input: Resume,
    w: Option<&Waker>,
) -> CoroutineResult<(), usize> {
    // SAFETY: the closure only resumes `co`, whose body sets the point's yielder first; the
    // hooks were set by `setup`.
    unsafe { owner.point.resume_with(w, || co.resume(input)) }
}

#[test]
fn wait_suspends_the_coroutine_and_polls_with_the_resumers_waker() {
    let (owner, mut co) = setup();
    let (a, b) = (waker(), waker());
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&a)),
        CoroutineResult::Yield(())
    ));
    assert!(
        owner.gate.polled_with(&a),
        "the pending poll used the resumer's waker"
    );
    // Resumed again while still pending: polls once more, with the new waker, and suspends.
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&b)),
        CoroutineResult::Yield(())
    ));
    assert!(owner.gate.polled_with(&b));
    owner.gate.open();
    match resume(&owner, &mut co, Resume::Run, Some(&a)) {
        CoroutineResult::Return(polls) => assert_eq!(polls, 3),
        CoroutineResult::Yield(()) => panic!("suspended past an open gate"),
    }
    assert_eq!(
        (
            owner.slow.get(),
            owner.cancels.get(),
            owner.blocking_wakers.get()
        ),
        (0, 0, 0),
        "the fast path used no hook"
    );
    assert!(
        !owner.point.in_poll(),
        "the poll's waker is cleared when the resume ends"
    );
}

#[test]
fn outside_a_poll_wait_blocks_through_the_hooks_and_never_switches() {
    let (owner, mut co) = setup();
    owner.block.set(true);
    match resume(&owner, &mut co, Resume::Run, None) {
        CoroutineResult::Return(polls) => assert_eq!(polls, 2),
        CoroutineResult::Yield(()) => panic!("switched out without a poll's waker"),
    }
    assert_eq!(owner.slow.get(), 1);
    assert!(owner.blocking_wakers.get() >= 1);
    assert!(owner.gate.polled_with(&owner.blocking));
}

#[test]
fn a_resume_with_cancel_reaches_the_hook_and_the_wait_goes_on() {
    let (owner, mut co) = setup();
    let w = waker();
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Yield(())
    ));
    // The hook records the cancellation without unwinding, so the wait polls again and, the
    // gate being shut, suspends again.
    assert!(matches!(
        resume(&owner, &mut co, Resume::Cancel, Some(&w)),
        CoroutineResult::Yield(())
    ));
    assert_eq!(owner.cancels.get(), 1);
    owner.gate.open();
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Return(3)
    ));
    assert_eq!(owner.cancels.get(), 1);
}

#[test]
fn a_cancelled_point_suspends_through_the_slow_path() {
    let (owner, mut co) = setup();
    owner.point.set_cancelled();
    assert!(owner.point.is_cancelled());
    let w = waker();
    // `suspend_slow` answers "not blocked": the point then switches out as usual.
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Yield(())
    ));
    assert_eq!(owner.slow.get(), 1);
    owner.gate.open();
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Return(2)
    ));
}

#[test]
fn the_thread_waits_as_a_thread_again_once_the_resume_ends() {
    let (owner, mut co) = setup();
    let w = waker();
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Yield(())
    ));
    // Outside `resume_with` this thread is a plain thread: `.wait()` parks it until woken.
    let gate = Gate::default();
    let opener = gate.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(5));
        opener.open();
        if let Some(w) = opener.waker.lock().unwrap().take() {
            w.wake();
        }
    });
    // Parks (no suspension point is entered any more) until the other thread opens the gate.
    assert!(gate.wait() >= 1);
    t.join().unwrap();
    owner.gate.open();
    assert!(matches!(
        resume(&owner, &mut co, Resume::Run, Some(&w)),
        CoroutineResult::Return(2)
    ));
}
