//! Lock-order checking for Spectrum's own locks (the Linux kernel's lockdep idea), in debug builds.
//!
//! Two locks taken in opposite orders by two tasks can deadlock, but only when the timing is
//! unlucky; the order itself is visible every time. Spectrum's locks call [`before_acquire`]
//! before they wait, [`acquired`] once they hold the lock, [`released`] when the guard goes and
//! [`forget`] when the lock is dropped. This module remembers, per holder (the current task, or
//! the OS thread outside tasks), which locks it holds, and records an edge `held → acquiring`
//! with both acquisition sites. The first time an acquisition would close a cycle of edges (`A`
//! then `B` here, `B` then `A` somewhere earlier, possibly through other locks), it reports
//! [`Diagnostic::LockOrderInversion`](crate::runtime::Diagnostic) with every site involved,
//! *before* any deadlock has happened. Taking a lock the holder already holds is reported the
//! same way (it can never succeed).
//!
//! Orders are tracked per lock (not per lock class): a lock's report names where it was made.
//! The check is on when `debug_assertions` are, unless the environment sets `SPECTRUM_LOCKDEP=0`
//! or [`set_enabled`] turns it off; in release builds every function here returns at once.
//! Each pair is reported once per process. At most [`MAX_EDGES`] edges are kept (a note says so
//! when the limit is reached).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

use crate::task::TaskId;

/// Most lock-order edges kept; past it, new orders are not checked.
pub const MAX_EDGES: usize = 1 << 20;

/// A lock as lockdep knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockRef {
    /// The lock's id (the one its wait notes use).
    pub id: u64,
    /// What kind of lock (`"Mutex"`, `"RwLock (write)"`, ...).
    pub kind: &'static str,
    /// Where the lock was made.
    pub created_at: &'static Location<'static>,
}

/// A lock and where it was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSite {
    /// The lock.
    pub lock: LockRef,
    /// Where it was acquired.
    pub at: &'static Location<'static>,
}

impl fmt::Display for LockSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} (made at {}) acquired at {}",
            self.lock.kind, self.lock.id, self.lock.created_at, self.at
        )
    }
}

/// An order seen earlier: `acquired` was taken while `held` was held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderSeen {
    /// The lock held.
    pub held: LockSite,
    /// The lock taken meanwhile.
    pub acquired: LockSite,
    /// The task that did it, if it was a task.
    pub task: Option<TaskId>,
}

/// What [`Diagnostic::LockOrderInversion`](crate::runtime::Diagnostic) carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockOrderReport {
    /// The task acquiring, if it is a task.
    pub task: Option<TaskId>,
    /// The lock being acquired now.
    pub acquiring: LockSite,
    /// The lock held meanwhile (the same lock when it is taken twice).
    pub holding: LockSite,
    /// The earlier orders that, with this one, form a cycle (empty when the lock is taken twice).
    pub earlier: Vec<OrderSeen>,
}

impl fmt::Display for LockOrderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.task {
            Some(t) => format!("task {t}"),
            None => "a thread".to_owned(),
        };
        if self.earlier.is_empty() {
            return write!(
                f,
                "lock taken twice: {who} acquires {} while already holding it since {}; it \
                 can never succeed (Spectrum's locks are not reentrant)",
                self.acquiring, self.holding.at
            );
        }
        write!(
            f,
            "lock order inversion: {who} acquires {} while holding {}; earlier, the opposite \
             order was taken:",
            self.acquiring, self.holding
        )?;
        for o in &self.earlier {
            let by = match o.task {
                Some(t) => format!("task {t}"),
                None => "a thread".to_owned(),
            };
            write!(
                f,
                "\n  {by} acquired {} while holding {}",
                o.acquired, o.held
            )?;
        }
        f.write_str(
            "\ntwo tasks taking these locks at the same time can deadlock: take them in one order",
        )
    }
}

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static ENABLED: AtomicU8 = AtomicU8::new(UNSET);

/// Whether lock-order checking runs (debug builds, unless turned off).
#[inline]
pub fn enabled() -> bool {
    if !cfg!(debug_assertions) || cfg!(loom) {
        return false;
    }
    // Relaxed: a configuration flag; any value a thread sees is a valid setting.
    match ENABLED.load(Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var_os("SPECTRUM_LOCKDEP").is_none_or(|v| v != "0");
            ENABLED.store(if on { ON } else { OFF }, Relaxed);
            on
        }
    }
}

/// Turns the check on or off for the whole process (it stays off in release builds).
pub fn set_enabled(on: bool) {
    // Relaxed: see `enabled`.
    ENABLED.store(if on { ON } else { OFF }, Relaxed);
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum HolderId {
    Task(TaskId),
    Thread(ThreadId),
}

fn current_holder() -> HolderId {
    match crate::context::task_id() {
        Some(t) => HolderId::Task(t),
        None => HolderId::Thread(std::thread::current().id()),
    }
}

#[derive(Default)]
struct State {
    held: HashMap<HolderId, Vec<LockSite>>,
    /// `from → to → the first time it was seen`.
    edges: HashMap<u64, HashMap<u64, OrderSeen>>,
    edge_count: usize,
    reported: HashSet<(u64, u64)>,
    full_noted: bool,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // A panic while the state was held leaves it consistent (each update is one insert).
    let mut guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(State::default))
}

impl State {
    /// A path of edges from `from` to `to`, if any (depth-first).
    fn path(&self, from: u64, to: u64) -> Option<Vec<OrderSeen>> {
        let mut seen = HashSet::new();
        let mut stack: Vec<(u64, Vec<OrderSeen>)> = vec![(from, Vec::new())];
        while let Some((at, path)) = stack.pop() {
            if !seen.insert(at) {
                continue;
            }
            for (&next, order) in self.edges.get(&at).into_iter().flatten() {
                let mut p = path.clone();
                p.push(*order);
                if next == to {
                    return Some(p);
                }
                stack.push((next, p));
            }
        }
        None
    }
}

/// Call before waiting to acquire `lock` at `at` (not for `try_lock`, which cannot deadlock).
/// Reports an order inversion the first time this acquisition closes a cycle.
pub fn before_acquire(lock: LockRef, at: &'static Location<'static>) {
    if !enabled() {
        return;
    }
    let holder = current_holder();
    let task = match holder {
        HolderId::Task(t) => Some(t),
        HolderId::Thread(_) => None,
    };
    let acquiring = LockSite { lock, at };
    let mut reports = Vec::new();
    let mut full = false;
    with_state(|s| {
        let Some(held) = s.held.get(&holder).filter(|h| !h.is_empty()).cloned() else {
            return;
        };
        for h in held {
            if h.lock.id == lock.id {
                if s.reported.insert((lock.id, lock.id)) {
                    reports.push(LockOrderReport {
                        task,
                        acquiring,
                        holding: h,
                        earlier: Vec::new(),
                    });
                }
                continue;
            }
            if s.edges
                .get(&h.lock.id)
                .is_some_and(|m| m.contains_key(&lock.id))
            {
                continue;
            }
            if let Some(path) = s.path(lock.id, h.lock.id) {
                let pair = (h.lock.id.min(lock.id), h.lock.id.max(lock.id));
                if s.reported.insert(pair) {
                    reports.push(LockOrderReport {
                        task,
                        acquiring,
                        holding: h,
                        earlier: path,
                    });
                }
            }
            if s.edge_count >= MAX_EDGES {
                full = !std::mem::replace(&mut s.full_noted, true);
                continue;
            }
            s.edges.entry(h.lock.id).or_default().insert(
                lock.id,
                OrderSeen {
                    held: h,
                    acquired: acquiring,
                    task,
                },
            );
            s.edge_count += 1;
        }
    });
    for r in reports {
        deliver(crate::runtime::Diagnostic::LockOrderInversion(Box::new(r)));
    }
    if full {
        deliver(crate::runtime::Diagnostic::Misuse {
            message: format!(
                "lock-order checking keeps at most {MAX_EDGES} orders and stopped recording new ones"
            ),
            location: None,
        });
    }
}

/// Call once `lock` is held (also after a successful `try_lock`).
pub fn acquired(lock: LockRef, at: &'static Location<'static>) {
    if !enabled() {
        return;
    }
    let holder = current_holder();
    with_state(|s| {
        s.held
            .entry(holder)
            .or_default()
            .push(LockSite { lock, at })
    });
}

/// Call when a guard of lock `id` is released (from whichever task or thread drops it).
pub fn released(id: u64) {
    if !enabled() {
        return;
    }
    let holder = current_holder();
    with_state(|s| {
        let removed = remove_last(s.held.get_mut(&holder), id);
        if !removed {
            // The guard moved to another task or thread before it was dropped.
            for list in s.held.values_mut() {
                if remove_last(Some(list), id) {
                    break;
                }
            }
        }
        s.held.retain(|_, l| !l.is_empty());
    });
}

fn remove_last(list: Option<&mut Vec<LockSite>>, id: u64) -> bool {
    let Some(list) = list else { return false };
    match list.iter().rposition(|h| h.lock.id == id) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// Call when lock `id` is dropped: its orders are forgotten.
pub fn forget(id: u64) {
    if !enabled() {
        return;
    }
    with_state(|s| {
        if let Some(out) = s.edges.remove(&id) {
            s.edge_count -= out.len();
        }
        let mut removed = 0;
        for m in s.edges.values_mut() {
            removed += usize::from(m.remove(&id).is_some());
        }
        s.edge_count -= removed;
        s.edges.retain(|_, m| !m.is_empty());
    });
}

/// Sends a report to the current runtime's diagnostic hook, or to stderr outside a runtime.
fn deliver(d: crate::runtime::Diagnostic) {
    match crate::Handle::try_current() {
        Ok(h) => h.report(d),
        Err(_) => {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "spectrum::diagnostic", "{d}");
            eprintln!("spectrum: {d}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(id: u64) -> LockRef {
        LockRef {
            id,
            kind: "Mutex",
            created_at: Location::caller(),
        }
    }

    /// Runs `f` as a fresh holder (a new thread) so tests do not share held lists.
    fn on_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    fn reports_of(f: impl FnOnce() + Send + 'static) -> Vec<String> {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let rt = crate::Runtime::builder()
            .workers(1)
            .on_diagnostic({
                let seen = std::sync::Arc::clone(&seen);
                move |d| seen.lock().unwrap().push(d.to_string())
            })
            .build()
            .unwrap();
        rt.block_on(async move { crate::spawn_blocking(f).await.unwrap() });
        drop(rt);
        let out = seen.lock().unwrap().clone();
        out
    }

    #[test]
    fn an_inversion_through_a_third_lock_is_reported_once_with_every_site() {
        if !enabled() {
            return;
        }
        let (a, b, c) = (lock(0xa0_0001), lock(0xa0_0002), lock(0xa0_0003));
        let order = |x: LockRef, y: LockRef| {
            on_thread(move || {
                let here = Location::caller();
                before_acquire(x, here);
                acquired(x, here);
                before_acquire(y, here);
                acquired(y, here);
                released(y.id);
                released(x.id);
            })
        };
        order(a, b);
        order(b, c);
        let seen = reports_of(move || {
            let here = Location::caller();
            before_acquire(c, here);
            acquired(c, here);
            before_acquire(a, here);
            acquired(a, here);
            released(a.id);
            released(c.id);
        });
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("lock order inversion"), "{}", seen[0]);
        assert!(seen[0].contains("Mutex #10485761"), "{}", seen[0]);
        assert!(seen[0].contains("Mutex #10485763"), "{}", seen[0]);
        assert!(
            seen[0].contains("Mutex #10485762"),
            "the path through b: {}",
            seen[0]
        );
        // The same order again is not reported again.
        let again = reports_of(move || {
            let here = Location::caller();
            before_acquire(c, here);
            acquired(c, here);
            before_acquire(a, here);
            released(c.id);
        });
        assert!(again.is_empty(), "{again:?}");
        forget(a.id);
        forget(b.id);
        forget(c.id);
    }

    #[test]
    fn taking_a_held_lock_again_is_reported_and_consistent_orders_are_not() {
        if !enabled() {
            return;
        }
        let (a, b) = (lock(0xb0_0001), lock(0xb0_0002));
        let seen = reports_of(move || {
            let here = Location::caller();
            for _ in 0..3 {
                before_acquire(a, here);
                acquired(a, here);
                before_acquire(b, here);
                acquired(b, here);
                released(b.id);
                released(a.id);
            }
            before_acquire(a, here);
            acquired(a, here);
            before_acquire(a, here);
            released(a.id);
        });
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].starts_with("lock taken twice"), "{}", seen[0]);
        forget(a.id);
        forget(b.id);
        assert!(with_state(|s| !s.edges.contains_key(&a.id)));
    }
}
