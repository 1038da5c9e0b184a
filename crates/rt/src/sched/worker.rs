//! The worker loop: run, steal, park.
//!
//! # Loop
//!
//! 1. Every `event_interval` ticks, poll the driver without blocking (I/O and timers).
//! 2. Take the next task: the LIFO slot; every `global_queue_interval` ticks the injector first;
//!    then the ring; then pinned tasks; then a batch from the injector.
//! 3. Nothing local: become a searcher (if fewer than half the workers search) and steal half of
//!    a random victim's ring, or take from the injector.
//! 4. Nothing anywhere: park (on the driver if it is free). Every worker that parks re-checks
//!    every queue once it counts as parked, so work submitted while everyone assumed someone
//!    else would find it (or while this worker still counted as awake) is not stranded.
//!
//! After running a task, the worker runs what the task woke into the LIFO slot, up to
//! `MAX_LIFO_POLLS` in a row. Pinned tasks (fibers, `spawn_local`) have a LIFO slot of their own,
//! `pinned_lifo`, filled when a task on their home worker wakes them: a fiber woken by its
//! partner runs next, as an async task would, instead of going round the whole loop. Both slots
//! share the `MAX_LIFO_POLLS` bound; a task that wakes itself (`yield_now`) never uses either.
//!
//! # Ownership
//!
//! The worker thread owns its `Core` (ring, LIFO slot, flags) in a `RefCell` inside its context:
//! the loop borrows it only between polls; tasks that spawn or wake during a poll borrow it
//! briefly through the thread-local context.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum_sync::atomic::Ordering::*;

use super::park::Parker;
use super::queue::{self, Overflow};
use super::rand::FastRand;
use super::{LocalSched, Sched, Shared, MAX_LIFO_POLLS};
use crate::task::{alloc, Notified, RawTask};

/// Rounds of [`PAUSES_PER_ROUND`] `spin_loop` hints a worker spends looking for work before it
/// parks (512 hints, a few microseconds in all).
const SPIN_BEFORE_PARK: u32 = 128;
/// `spin_loop` hints between two looks for work while spinning. Short, because how soon a
/// spinning worker sees a wake-up is the latency of every cross-worker hand-off: a `pause`
/// costs tens of cycles on recent x86 parts, and with 32 per look two fibers ping-ponging across
/// two workers took 1.5 µs per round trip on the project's VMs; with 4, 0.78 µs.
const PAUSES_PER_ROUND: u32 = 4;

/// The most pinned tasks an idle worker steals from another's fresh queue at once (its fair
/// share of what waits, `1 / workers`, up to this): a burst of spawns is shared out in a few
/// steals, without holding the victim's queue lock (which its spawner needs for every spawn)
/// through a long copy. A fair share, not Go's half: a started pinned task never moves again,
/// so a few long-running tasks must not end up on one thief.
const FRESH_STEAL_MAX: usize = 256;

/// How many fresh tasks must wait on another worker before an idle worker steals some: taking
/// each one as it is spawned would trade the victim's queue lock between the cores on every
/// spawn (measured: a fifth slower than no stealing at all, for fibers spawned in a loop).
const FRESH_STEAL_MIN: usize = 2;

/// How many consecutive looks an idle worker gives a lone fresh task on another worker before it
/// takes it anyway (a few tens of microseconds): by then its worker is busy with something long,
/// and otherwise the lone task would wait behind it while this worker spins.
const LONE_PATIENCE: u32 = 256;

/// What a worker thread is started with.
pub(crate) struct WorkerParts {
    pub(crate) run_queue: queue::Local<Notified<Sched>>,
    pub(crate) parker: Parker,
}

struct Core {
    run_queue: queue::Local<Notified<Sched>>,
    lifo: Option<Notified<Sched>>,
    lifo_enabled: bool,
    tick: u32,
    is_searching: bool,
    rand: FastRand,
}

/// A single worker's private overflow queue: older tasks spilled from the ring.
struct LocalOverflow(RefCell<VecDeque<Notified<Sched>>>);

impl Overflow<Notified<Sched>> for LocalOverflow {
    fn push_batch(&self, batch: impl Iterator<Item = Notified<Sched>>) {
        self.0.borrow_mut().extend(batch);
    }
}

/// A worker thread's context.
pub(crate) struct WorkerCx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    /// True for a spare thread compensating for blocked workers.
    is_spare: bool,
    core: RefCell<Core>,
    pinned: RefCell<VecDeque<Notified<LocalSched>>>,
    /// The pinned task woken last by a task running on this worker (see the module docs). Only
    /// this thread touches it.
    pinned_lifo: Cell<Option<Notified<LocalSched>>>,
    /// The empty buffers traded for the inbox's and the fresh queue's lists when taking them
    /// (`Inbox::take_into`).
    inbox_spare: RefCell<VecDeque<Notified<LocalSched>>>,
    fresh_spare: RefCell<VecDeque<Notified<LocalSched>>>,
    /// Consecutive looks at a lone fresh task on another worker (`steal_lone_fresh`).
    lone_looks: Cell<u32>,
    /// Where a full ring spills when this is the only worker (see `push_back`).
    overflow: LocalOverflow,
    parker: RefCell<Parker>,
    /// True while this thread services the driver: tasks woken then go to the ring (where
    /// others can see and steal them), not the LIFO slot.
    in_driver: Cell<bool>,
}

/// The worker recorded in a thread context.
#[inline]
pub(crate) fn worker_of(cx: &crate::context::Context) -> Option<&WorkerCx> {
    let ptr = cx.worker.get() as *const WorkerCx;
    // SAFETY: the pointer is set by `run` for the lifetime of the worker's stack frame (and
    // cleared before it ends), and only `WorkerCx` pointers are stored there.
    unsafe { ptr.as_ref() }
}

#[inline]
fn with_worker<R>(f: impl FnOnce(Option<&WorkerCx>) -> R) -> R {
    // Only the pointer is read inside the thread-local access: with `f` inside it, the access
    // (`LocalKey::with`) stopped being inlined into the scheduler's hot paths.
    let ptr = crate::context::with(|c| c.worker.get()) as *const WorkerCx;
    // SAFETY: as in `worker_of`: set by `run` for the lifetime of this thread's worker stack
    // frame, which outlives this call (we are running inside it, or the pointer is null).
    f(unsafe { ptr.as_ref() })
}

/// The index of the current worker if this thread is one of `shared`'s workers.
pub(crate) fn current_worker_index(shared: &Shared) -> Option<usize> {
    with_worker(|w| match w {
        Some(w) if std::ptr::eq(&*w.shared, shared) => Some(w.index),
        _ => None,
    })
}

/// True if worker `home` has exited its loop.
pub(crate) fn is_stopped(shared: &Shared, home: usize) -> bool {
    // Acquire: pairs with the Release store in `run`'s exit path.
    shared.remotes[home].progress.is_stopped()
}

/// Schedules onto the current worker if it belongs to `shared`; gives the task back otherwise.
pub(crate) fn try_schedule_local(
    shared: &Shared,
    task: Notified<Sched>,
    is_yield: bool,
) -> Result<(), Notified<Sched>> {
    with_worker(|w| match w.filter(|w| std::ptr::eq(&*w.shared, shared)) {
        Some(w) => w.schedule_local(shared, task, is_yield),
        None => Err(task),
    })
}

/// Queues a pinned task if we are on its home worker: into the pinned LIFO slot when a task
/// running here woke it (the slot's previous occupant goes to the back of the pinned queue), at
/// the back of the pinned queue when `to_back` (it yields, or was just spawned) or the driver
/// woke it.
pub(crate) fn try_schedule_pinned_local(
    shared: &Shared,
    home: usize,
    task: Notified<LocalSched>,
    to_back: bool,
) -> Result<(), Notified<LocalSched>> {
    with_worker(|w| match w {
        Some(w) if w.index == home && std::ptr::eq(&*w.shared, shared) => {
            let task = if to_back || w.in_driver.get() {
                task
            } else {
                match w.pinned_lifo.replace(Some(task)) {
                    None => return Ok(()),
                    Some(previous) => previous,
                }
            };
            match w.pinned.try_borrow_mut() {
                Ok(mut q) => {
                    q.push_back(task);
                    Ok(())
                }
                Err(_) => Err(task),
            }
        }
        _ => Err(task),
    })
}

/// Runs `f`, which blocks, on a worker thread while a spare thread takes over the worker's queue
/// (tokio's `block_in_place`, Go's hand-off of a P stuck in a system call). Pinned tasks stay
/// with the thread and wait. Off a worker thread, just runs `f`.
pub(crate) fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    let Some((shared, index)) = with_worker(|w| w.map(|w| (w.shared.clone(), w.index))) else {
        return f();
    };
    // Make everything this worker holds privately stealable: the LIFO task and the
    // single-worker overflow queue go where a spare can reach them.
    with_worker(|w| {
        if let Some(w) = w {
            if let Ok(mut core) = w.core.try_borrow_mut() {
                if let Some(t) = core.lifo.take() {
                    core.run_queue.push_back_or_overflow(t, &shared.inject);
                }
            }
            let spilled = std::mem::take(&mut *w.overflow.0.borrow_mut());
            shared.inject.push_batch(spilled.into_iter());
        }
    });
    // Release: a spare that sees `blocked` also sees the queue state before it.
    shared.remotes[index].blocked.store(true, Release);
    start_spare(&shared);
    struct Unblock<'a>(&'a Shared, usize);
    impl Drop for Unblock<'_> {
        fn drop(&mut self) {
            // Release: pairs with the spares' Acquire loads.
            self.0.remotes[self.1].blocked.store(false, Release);
        }
    }
    let _unblock = Unblock(&shared, index);
    f()
}

/// Starts a spare thread unless the cap is reached; spares steal from blocked workers.
pub(crate) fn start_spare(shared: &Arc<Shared>) {
    let cap = shared.config.max_spare_threads;
    // AcqRel: a counter used as a semaphore for the spare slots.
    let taken = shared
        .spares
        .fetch_update(AcqRel, Acquire, |n| (n < cap).then_some(n + 1));
    if taken.is_err() {
        return;
    }
    // Find a free spare slot (a slot's parts are `Some` while nobody runs it).
    let workers = shared.num_workers();
    let slot = {
        let mut parts = shared.worker_parts.lock();
        (workers..workers + cap)
            .find(|&i| parts[i].is_some())
            .map(|i| (i, parts[i].take()))
    };
    let Some((index, Some(parts))) = slot else {
        shared.spares.fetch_sub(1, AcqRel);
        return;
    };
    let shared2 = shared.clone();
    let name = format!("{}-spare", shared.config.thread_name);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        run(shared2.clone(), index, parts, true);
        shared2.spares.fetch_sub(1, AcqRel);
    });
    match spawned {
        Ok(h) => shared.threads.lock().push(h),
        Err(_) => {
            shared.spares.fetch_sub(1, AcqRel);
        }
    }
}

/// A worker thread's body.
pub(crate) fn run(shared: Arc<Shared>, index: usize, parts: WorkerParts, is_spare: bool) {
    let cx = WorkerCx {
        index,
        is_spare,
        core: RefCell::new(Core {
            run_queue: parts.run_queue,
            lifo: None,
            lifo_enabled: true,
            tick: 0,
            is_searching: false,
            rand: FastRand::new(index as u64 + 1),
        }),
        pinned: RefCell::new(VecDeque::new()),
        pinned_lifo: Cell::new(None),
        inbox_spare: RefCell::new(VecDeque::new()),
        fresh_spare: RefCell::new(VecDeque::new()),
        lone_looks: Cell::new(0),
        overflow: LocalOverflow(RefCell::new(VecDeque::new())),
        parker: RefCell::new(parts.parker),
        in_driver: Cell::new(false),
        shared,
    };
    let _enter = super::enter(super::Handle {
        shared: cx.shared.clone(),
    });
    crate::context::with(|c| c.worker.set(&cx as *const WorkerCx as *const ()));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            crate::context::with(|c| c.worker.set(std::ptr::null()));
        }
    }
    let reset = Reset;
    if is_spare {
        cx.run_spare();
    } else {
        cx.run_loop();
    }
    cx.shutdown();
    drop(reset);
    // Hand the parts back so a later spare can reuse the slot.
    let WorkerCx {
        core,
        parker,
        shared,
        ..
    } = cx;
    let core = core.into_inner();
    if is_spare {
        shared.worker_parts.lock()[index] = Some(WorkerParts {
            run_queue: core.run_queue,
            parker: parker.into_inner(),
        });
    }
}

enum Next {
    Task(Notified<Sched>),
    Pinned(Notified<LocalSched>),
}

impl Next {
    /// Polls the task, recording the poll in the worker's `progress` for the watchdog.
    #[inline]
    fn run(self, progress: &super::Progress) {
        match self {
            Next::Task(t) => {
                progress.begin(t.header().id, t.header().shard);
                t.run();
            }
            Next::Pinned(t) => {
                progress.begin(t.header().id, t.header().shard | super::Progress::LOCAL);
                t.run();
            }
        }
        progress.end();
    }
}

impl WorkerCx {
    /// Queues a task on this worker: the LIFO slot for a task just woken or spawned (its previous
    /// occupant moves to the ring), the back of the ring for a task that yielded. Gives the task
    /// back if the core is busy (a re-entrant call).
    pub(crate) fn schedule_local(
        &self,
        shared: &Shared,
        task: Notified<Sched>,
        is_yield: bool,
    ) -> Result<(), Notified<Sched>> {
        let Ok(mut core) = self.core.try_borrow_mut() else {
            return Err(task);
        };
        let should_notify = if is_yield || !core.lifo_enabled || self.in_driver.get() {
            self.push_back(&mut core, task);
            true
        } else {
            match core.lifo.replace(task) {
                Some(prev) => {
                    self.push_back(&mut core, prev);
                    true
                }
                None => false,
            }
        };
        if should_notify
            && shared.num_workers() > 1
            && !core.is_searching
            && core.run_queue.len() > 0
        {
            drop(core);
            shared.notify_parked();
        }
        Ok(())
    }

    /// Pushes to the back of the ring. A full ring spills half of itself: to the injector when
    /// other workers can take from it, to this worker's own overflow queue when it is the only
    /// worker (no lock, no atomics: as cheap as a current-thread runtime's queue).
    fn push_back(&self, core: &mut Core, task: Notified<Sched>) {
        if self.shared.num_workers() == 1 {
            core.run_queue.push_back_or_overflow(task, &self.overflow);
        } else {
            core.run_queue
                .push_back_or_overflow(task, &self.shared.inject);
        }
    }

    fn run_loop(&self) {
        let shared = &*self.shared;
        while !shared.is_shutdown() {
            let tick = self.next_tick();
            if let Some(next) = self.next_task(tick).or_else(|| self.steal_work()) {
                self.run(next);
                continue;
            }
            self.park();
        }
    }

    /// A spare thread: run what blocked workers left behind until no worker is blocked.
    fn run_spare(&self) {
        let shared = &*self.shared;
        while !shared.is_shutdown() {
            // Acquire: pairs with the Release stores in `block_in_place`.
            let any_blocked = shared.remotes.iter().any(|r| r.blocked.load(Acquire));
            let tick = self.next_tick();
            if let Some(next) = self.next_task(tick).or_else(|| self.steal_any()) {
                self.run(next);
                continue;
            }
            if !any_blocked {
                break;
            }
            // Drive timers and I/O for the blocked worker while idle.
            self.in_driver.set(true);
            self.parker
                .borrow_mut()
                .park(shared, Some(Duration::from_millis(1)));
            self.in_driver.set(false);
        }
        // Leftovers go back to the pool.
        let mut core = self.core.borrow_mut();
        if let Some(t) = core.lifo.take() {
            shared.inject.push_batch(std::iter::once(t));
        }
        while let Some(t) = core.run_queue.pop() {
            shared.inject.push_batch(std::iter::once(t));
        }
        drop(core);
        shared.notify_parked();
    }

    /// Counts a scheduler tick; every `event_interval` ticks, polls the driver.
    fn next_tick(&self) -> u32 {
        let tick = {
            let mut core = self.core.borrow_mut();
            core.tick = core.tick.wrapping_add(1);
            core.tick
        };
        if tick % self.shared.config.event_interval == 0 {
            self.maintenance();
        }
        tick
    }

    fn maintenance(&self) {
        let shared = &*self.shared;
        if let Some(mut driver) = shared.driver_cell.try_lock() {
            if let Some(driver) = driver.as_mut() {
                self.in_driver.set(true);
                driver.park(shared, Some(Duration::ZERO));
                self.in_driver.set(false);
            }
        } else {
            shared.tick_coarse_clock();
        }
    }

    fn next_task(&self, tick: u32) -> Option<Next> {
        let shared = &*self.shared;
        {
            let mut woken = self.inbox_spare.borrow_mut();
            shared.remotes[self.index].inbox.take_into(&mut woken);
            if !woken.is_empty() {
                self.pinned.borrow_mut().extend(woken.drain(..));
            }
            let mut fresh = self.fresh_spare.borrow_mut();
            shared.remotes[self.index].fresh.take_into(&mut fresh);
            if !fresh.is_empty() {
                self.adopt(fresh.drain(..));
            }
        }
        let mut core = self.core.borrow_mut();
        if let Some(t) = core.lifo.take() {
            return Some(Next::Task(t));
        }
        if let Some(t) = self.pinned_lifo.take() {
            return Some(Next::Pinned(t));
        }
        if tick % shared.config.global_queue_interval == 0 {
            if let Some(t) = shared.inject.pop() {
                return Some(Next::Task(t));
            }
        }
        // Alternate pinned and stealable work so neither starves the other.
        if tick % 2 == 0 {
            if let Some(t) = self.pinned.borrow_mut().pop_front() {
                return Some(Next::Pinned(t));
            }
        }
        // Spilled tasks are older than the ring's: run them first, roughly FIFO.
        if let Some(t) = self.overflow.0.borrow_mut().pop_front() {
            return Some(Next::Task(t));
        }
        if let Some(t) = core.run_queue.pop() {
            return Some(Next::Task(t));
        }
        if let Some(t) = self.pinned.borrow_mut().pop_front() {
            return Some(Next::Pinned(t));
        }
        if shared.inject.is_empty() {
            return None;
        }
        // Take a fair share of the injector in one lock acquisition.
        let cap = core.run_queue.remaining_slots().min(queue::CAPACITY / 2);
        let share = shared.inject.len() / shared.num_workers() + 1;
        let n = cap.min(share).max(1);
        let mut first = None;
        let mut batch = Vec::with_capacity(n);
        shared.inject.pop_n(n, |t| {
            if first.is_none() {
                first = Some(t);
            } else {
                batch.push(t);
            }
        });
        core.run_queue.push_back_fitting(batch.into_iter());
        first.map(Next::Task)
    }

    /// Pins tasks that have not started to this worker (those stolen from another's fresh queue
    /// were queued for it), links them in this worker's registry under one lock, and queues
    /// them. The registry closes only in `shutdown`, after this worker's last `next_task`; were
    /// it closed, they would be cancelled.
    #[cold]
    fn adopt(&self, tasks: impl ExactSizeIterator<Item = Notified<LocalSched>>) {
        let mut pinned = self.pinned.borrow_mut();
        let from = pinned.len();
        pinned.extend(tasks.inspect(|task| LocalSched::rehome(task, self.index)));
        let linked = self.shared.remotes[self.index].local_registry.link_spawned(
            pinned
                .range(from..)
                .map(|task| RawTask(NonNull::from(task.header()))),
        );
        if linked {
            self.shared.add_resident(self.index, pinned.len() - from);
        } else {
            // Cancelled after the queue's borrow ends: dropping a future may spawn or wake.
            let doomed: Vec<_> = pinned.drain(from..).collect();
            drop(pinned);
            for task in doomed {
                crate::task::cancel_unlinked(task);
            }
        }
    }

    /// An idle worker takes its share of another worker's fresh queue (tasks spawned there that
    /// have not started), runs the first and queues the rest here.
    fn steal_fresh(&self, min: usize) -> Option<Next> {
        let shared = &*self.shared;
        if self.is_spare || !shared.fresh_elsewhere(self.index, min) {
            return None;
        }
        let n = shared.num_workers();
        let start = self.core.borrow_mut().rand.below(n as u32) as usize;
        let mut stolen = Vec::new();
        for i in 0..n {
            let victim = (start + i) % n;
            if victim != self.index
                && shared.remotes[victim]
                    .fresh
                    .steal_share(&mut stolen, n, min, FRESH_STEAL_MAX)
                    > 0
            {
                break;
            }
        }
        if stolen.is_empty() {
            return None;
        }
        let count = stolen.len();
        self.adopt(stolen.into_iter());
        let mut pinned = self.pinned.borrow_mut();
        // The first of the batch runs now (adopt queued it behind what was already here).
        let at = pinned.len() - count;
        let first = pinned.remove(at)?;
        Some(Next::Pinned(first))
    }

    /// Takes a lone fresh task from another worker once it has stayed alone there through
    /// `LONE_PATIENCE` looks (`spin_for_work` keeps an idle worker looking while one waits).
    fn steal_lone_fresh(&self) -> Option<Next> {
        if !self.shared.fresh_elsewhere(self.index, 1) {
            self.lone_looks.set(0);
            return None;
        }
        let looks = self.lone_looks.get() + 1;
        if looks < LONE_PATIENCE {
            self.lone_looks.set(looks);
            return None;
        }
        self.lone_looks.set(0);
        self.steal_fresh(1)
    }

    fn steal_work(&self) -> Option<Next> {
        let shared = &*self.shared;
        {
            let mut core = self.core.borrow_mut();
            if !core.is_searching {
                if !shared.idle.transition_worker_to_searching() {
                    return None;
                }
                core.is_searching = true;
            }
        }
        self.steal_any()
            .or_else(|| self.steal_fresh(FRESH_STEAL_MIN))
            .or_else(|| self.steal_lone_fresh())
    }

    fn steal_any(&self) -> Option<Next> {
        let shared = &*self.shared;
        let mut core = self.core.borrow_mut();
        let n = shared.remotes.len();
        let start = core.rand.below(n as u32) as usize;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            if let Some(t) = shared.remotes[victim].steal.steal_into(&mut core.run_queue) {
                return Some(Next::Task(t));
            }
        }
        shared.inject.pop().map(Next::Task)
    }

    fn run(&self, next: Next) {
        let shared = &*self.shared;
        {
            let mut core = self.core.borrow_mut();
            if core.is_searching {
                core.is_searching = false;
                drop(core);
                if shared.idle.transition_worker_from_searching() {
                    // We were the last searcher and found work: there may be more.
                    shared.notify_parked();
                }
            }
        }
        let progress = &shared.remotes[self.index].progress;
        next.run(progress);
        // Run what the task woke into the LIFO slots, a bounded number of times.
        let mut lifo_polls = 0;
        loop {
            let next = {
                let mut core = self.core.borrow_mut();
                if lifo_polls >= MAX_LIFO_POLLS {
                    // Fairness: what is left goes to the back of its queue.
                    if let Some(task) = core.lifo.take() {
                        self.push_back(&mut core, task);
                    }
                    if let Some(task) = self.pinned_lifo.take() {
                        self.pinned.borrow_mut().push_back(task);
                    }
                    break;
                }
                match core.lifo.take() {
                    Some(task) => Next::Task(task),
                    None => match self.pinned_lifo.take() {
                        Some(task) => Next::Pinned(task),
                        None => break,
                    },
                }
            };
            lifo_polls += 1;
            next.run(progress);
        }
    }

    fn has_pinned_lifo(&self) -> bool {
        let task = self.pinned_lifo.take();
        let some = task.is_some();
        self.pinned_lifo.set(task);
        some
    }

    /// Spins briefly before parking, watching for work: a wake-up that arrives within a few
    /// microseconds (the partner of a ping-pong answering from another worker, a pinned task
    /// woken through the inbox) is then picked up without a futex round trip, which costs tens of
    /// microseconds on a virtual machine. Go's idle threads spin the same way before they sleep.
    /// Only with several workers: a lone worker has nobody to wait for but the driver.
    fn spin_for_work(&self) -> bool {
        let shared = &*self.shared;
        if shared.num_workers() == 1 {
            return false;
        }
        for _ in 0..SPIN_BEFORE_PARK {
            for _ in 0..PAUSES_PER_ROUND {
                std::hint::spin_loop();
            }
            if self.has_local_work()
                || !shared.inject.is_empty()
                || shared.fresh_elsewhere(self.index, 1)
            {
                return true;
            }
        }
        false
    }

    fn has_local_work(&self) -> bool {
        let core = self.core.borrow();
        core.lifo.is_some()
            || core.run_queue.has_tasks()
            || !self.overflow.0.borrow().is_empty()
            || !self.pinned.borrow().is_empty()
            || self.has_pinned_lifo()
            || !self.shared.remotes[self.index].inbox.is_empty()
            || !self.shared.remotes[self.index].fresh.is_empty()
    }

    fn park(&self) {
        let shared = &*self.shared;
        if self.has_local_work() || self.spin_for_work() {
            return;
        }
        let was_searching = std::mem::replace(&mut self.core.borrow_mut().is_searching, false);
        shared
            .idle
            .transition_worker_to_parked(self.index, was_searching);
        // Every parking worker looks once more, not only the last searcher: a worker that was
        // refused a search (another worker was searching) counted as unparked until the line
        // above, so a searcher that found a batch of work and then woke "a parked worker" found
        // none to wake, and a task it had moved into its own ring waited there while its worker
        // ran something else, however long (a blocking poll: forever).
        shared.notify_if_work_pending();
        loop {
            if shared.is_shutdown() {
                break;
            }
            // While the task-cell recycler holds more than it keeps when idle, sleep at most
            // `IDLE_TRIM`, and after a sleep that long return what nobody drew on since the
            // previous such pass (`task::alloc`).
            let trim = alloc::has_surplus().then(Instant::now);
            self.in_driver.set(true);
            self.parker
                .borrow_mut()
                .park(shared, trim.map(|_| alloc::IDLE_TRIM));
            self.in_driver.set(false);
            if trim.is_some_and(|since| since.elapsed() >= alloc::IDLE_TRIM) {
                alloc::trim_idle();
            }
            if shared.is_shutdown() || self.has_local_work() {
                break;
            }
            if !shared.idle.is_parked(self.index) {
                break;
            }
        }
        if shared.idle.transition_worker_from_parked(self.index) {
            self.core.borrow_mut().is_searching = true;
        }
    }

    /// Shutdown on this thread: cancel pinned tasks here (they may not be `Send`), release queued
    /// references.
    fn shutdown(&self) {
        let shared = &*self.shared;
        if !self.is_spare {
            shared.remotes[self.index]
                .local_registry
                .close_and_shutdown_all();
            // Mark the worker stopped under the inbox lock, so a late pinned wake-up either lands
            // before the drain below or sees the mark and releases its reference itself.
            let leftovers = shared.remotes[self.index]
                .inbox
                .take_locked(|| shared.remotes[self.index].progress.stop());
            drop(leftovers);
            // Tasks queued for this worker that nobody started: never linked in a registry, so
            // the sweep above did not see them. (Pushes after this are refused: `is_stopped`.)
            let fresh = shared.remotes[self.index].fresh.take_locked(|| {});
            for task in fresh {
                crate::task::cancel_unlinked(task);
            }
        }
        self.pinned.borrow_mut().clear();
        drop(self.pinned_lifo.take());
        let spilled = std::mem::take(&mut *self.overflow.0.borrow_mut());
        let mut core = self.core.borrow_mut();
        let lifo = core.lifo.take();
        if shared.is_shutdown() {
            drop(spilled);
            drop(lifo);
            while core.run_queue.pop().is_some() {}
        } else {
            // A spare retiring while the runtime runs: hand its work back.
            shared.inject.push_batch(spilled.into_iter().chain(lifo));
        }
    }
}

impl std::fmt::Debug for WorkerCx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCx")
            .field("index", &self.index)
            .finish()
    }
}
