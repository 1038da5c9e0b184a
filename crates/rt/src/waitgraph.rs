//! The wait-for graph: which task waits for which, through Spectrum's primitives, and its
//! cycles (deadlocks).
//!
//! Every task that waits on a Spectrum primitive leaves a note ([`WaitOn`]). A note says *what*
//! the task waits on; to know *whom* it waits for, the primitive is asked. Primitives that can
//! name the tasks that must act before their waiters can go on (a lock names its holder, an actor
//! names the task that runs it, a channel the tasks that last used its other side's handles)
//! register a [`Holders`] with [`register`] the first time a task
//! has to wait on them, and drop the returned [`Registration`] when they go away; a join names
//! its task without registering. The graph is then built only when someone asks for it (a dump,
//! or the periodic check of [`Builder::detect_deadlocks`](crate::Builder::detect_deadlocks)):
//! nothing is recorded on the fast paths.
//!
//! An edge is *certain* when the primitive knows that the holder must act (a lock's holder, the
//! awaited task) and *likely* when it is a best guess (a channel can name the tasks that last
//! used its other side, but a handle may have moved since). A cycle of certain edges is a
//! deadlock; a cycle with a likely edge is reported as a probable one.
//!
//! Most waits need *every* holder to act (a writer waits for all readers of a read-write lock);
//! a channel waiter needs only *one* of them (any sender can send). A primitive says which with
//! [`Holders::any_of`]. So a task is stuck only if one of its holders is stuck (waits on all) or
//! every one of them is (waits on any); [`cycles`] first narrows the graph to the stuck tasks
//! (the greatest set closed under those two rules) and looks for cycles among them only: a
//! receiver whose channel has two senders, one of them blocked in a cycle with it and one free
//! to send, is not reported.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError, Weak};

use crate::task::{TaskId, WaitOn};

/// A task that must act before a primitive's waiters can go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The task.
    pub task: TaskId,
    /// True when the primitive knows it (a lock's holder); false for a best guess.
    pub certain: bool,
}

/// A primitive that can name the tasks its waiters wait for.
pub trait Holders: Send + Sync {
    /// Appends the tasks that hold this primitive (its waiters wait for them).
    fn holders(&self, out: &mut Vec<Holder>);

    /// True if a waiter can go on once *any one* of the holders acts (a channel: any sender may
    /// send), false if it needs all of them (a lock's holders must all release). Default: all.
    fn any_of(&self) -> bool {
        false
    }
}

/// Keeps a primitive in the graph; dropping it takes the primitive out.
#[must_use = "dropping the registration takes the primitive out of the wait-for graph"]
pub struct Registration {
    key: u64,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("on", &WaitOn::unpack(self.key))
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().remove(&self.key);
    }
}

/// Registers `target` as the primitive behind the wait note `on` (its kind and id): tasks that
/// note `on` wait for the tasks `target` names. A later registration of the same `on` replaces
/// the earlier one.
pub fn register(on: WaitOn, target: Weak<dyn Holders>) -> Registration {
    let key = on.pack();
    registry().insert(key, target);
    Registration { key }
}

static REGISTRY: Mutex<Option<HashMap<u64, Weak<dyn Holders>>>> = Mutex::new(None);

struct Guard(std::sync::MutexGuard<'static, Option<HashMap<u64, Weak<dyn Holders>>>>);

impl Guard {
    fn insert(&mut self, key: u64, target: Weak<dyn Holders>) {
        self.0.get_or_insert_with(HashMap::new).insert(key, target);
    }

    fn remove(&mut self, key: &u64) {
        if let Some(map) = self.0.as_mut() {
            map.remove(key);
        }
    }

    fn get(&self, key: u64) -> Option<std::sync::Arc<dyn Holders>> {
        self.0.as_ref()?.get(&key)?.upgrade()
    }

    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(HashMap::is_empty)
    }
}

fn registry() -> Guard {
    // A poisoned registry only means a holder list panicked; the map itself is consistent.
    Guard(REGISTRY.lock().unwrap_or_else(PoisonError::into_inner))
}

/// True when no primitive is registered (the periodic check skips its work).
pub(crate) fn nothing_registered() -> bool {
    registry().is_empty()
}

/// One edge: `from` waits (through `via`) for `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The waiting task.
    pub from: TaskId,
    /// The task it waits for.
    pub to: TaskId,
    /// What `from` waits on.
    pub via: WaitOn,
    /// Whether the primitive knows `to` must act (see [`Holder::certain`]).
    pub certain: bool,
    /// True if `from` can go on once any one of its edges' targets acts, false if it needs all
    /// of them (see [`Holders::any_of`]); the same on every edge out of one task.
    pub any: bool,
}

/// A cycle in the wait-for graph: every task in it waits for the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The edges, in order: each edge's `to` is the next edge's `from`, and the last edge's `to`
    /// is the first edge's `from`.
    pub edges: Vec<Edge>,
}

impl Cycle {
    /// True when every edge is certain: the tasks can never go on by themselves.
    pub fn is_certain(&self) -> bool {
        self.edges.iter().all(|e| e.certain)
    }

    /// The tasks in the cycle, in order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.edges.iter().map(|e| e.from)
    }

    /// The cycle's tasks sorted, to recognize the same cycle again.
    pub(crate) fn key(&self) -> Vec<u64> {
        let mut k: Vec<u64> = self.tasks().map(TaskId::as_u64).collect();
        k.sort_unstable();
        k
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_certain() {
            "deadlock: "
        } else {
            "probable deadlock: "
        })?;
        for (i, e) in self.edges.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "task {} waits on {} held by task {}",
                e.from, e.via, e.to
            )?;
            if !e.certain {
                f.write_str(" (likely)")?;
            }
        }
        Ok(())
    }
}

/// The edges out of the tasks `waiting` (task, what it waits on), asking registered primitives
/// for their holders. A task that holds what it waits on gives a self-edge.
pub fn edges(waiting: impl IntoIterator<Item = (TaskId, WaitOn)>) -> Vec<Edge> {
    let mut out = Vec::new();
    let mut holders = Vec::new();
    let mut targets: HashMap<u64, Option<std::sync::Arc<dyn Holders>>> = HashMap::new();
    for (from, via) in waiting {
        if let WaitOn::Join { task } = via {
            out.push(Edge {
                from,
                to: TaskId::from_raw(task),
                via,
                certain: true,
                any: false,
            });
            continue;
        }
        let target = targets
            .entry(via.pack())
            .or_insert_with(|| registry().get(via.pack()));
        let Some(target) = target else { continue };
        holders.clear();
        target.holders(&mut holders);
        let any = target.any_of();
        out.extend(holders.iter().map(|h| Edge {
            from,
            to: h.task,
            via,
            certain: h.certain,
            any,
        }));
    }
    out
}

/// The stuck tasks of a graph (module docs): start from every task with an edge and drop each
/// task that waits on all its targets but has none left, or waits on any of them and has one
/// that was dropped, until nothing changes. A work list over the reversed edges, so each edge is
/// looked at a bounded number of times (a long chain of waits costs linear time, not quadratic).
fn stuck(edges: &[Edge]) -> std::collections::HashSet<u64> {
    // Per task: does it wait on any one target, its edge count, and how many of its edges still
    // point at a task that may be stuck.
    let mut node: HashMap<u64, (bool, usize, usize)> = HashMap::new();
    let mut preds: HashMap<u64, Vec<u64>> = HashMap::new();
    for e in edges {
        let n = node.entry(e.from.as_u64()).or_insert((e.any, 0, 0));
        n.1 += 1;
        preds
            .entry(e.to.as_u64())
            .or_default()
            .push(e.from.as_u64());
    }
    for e in edges {
        if node.contains_key(&e.to.as_u64()) {
            node.get_mut(&e.from.as_u64()).expect("a source").2 += 1;
        }
    }
    let mut free: Vec<u64> = node
        .iter()
        .filter(|(_, &(any, all, live))| if any { live < all } else { live == 0 })
        .map(|(&v, _)| v)
        .collect();
    let mut stuck: std::collections::HashSet<u64> = node.keys().copied().collect();
    for v in &free {
        stuck.remove(v);
    }
    while let Some(v) = free.pop() {
        for &p in preds.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
            if !stuck.contains(&p) {
                continue;
            }
            let n = node.get_mut(&p).expect("a source");
            n.2 -= 1;
            // One target gone frees a wait on any; a wait on all needs every target gone.
            if n.0 || n.2 == 0 {
                stuck.remove(&p);
                free.push(p);
            }
        }
    }
    stuck
}

/// The cycles of a graph given by its edges: one cycle per strongly connected component of the
/// stuck tasks (module docs) that has one (Tarjan's algorithm, iterative), shortest first
/// within the component's edges found by a walk from its smallest task.
pub fn cycles(edges: &[Edge]) -> Vec<Cycle> {
    let stuck = stuck(edges);
    let mut out_edges: HashMap<u64, Vec<&Edge>> = HashMap::new();
    for e in edges {
        if stuck.contains(&e.from.as_u64()) && stuck.contains(&e.to.as_u64()) {
            out_edges.entry(e.from.as_u64()).or_default().push(e);
        }
    }
    for list in out_edges.values_mut() {
        // Certain edges first, so a walk prefers them.
        list.sort_by_key(|e| (!e.certain, e.to.as_u64()));
    }
    let mut nodes: Vec<u64> = out_edges.keys().copied().collect();
    nodes.sort_unstable();

    // Tarjan's strongly connected components, iteratively.
    let mut index: HashMap<u64, (usize, usize, bool)> = HashMap::new(); // index, lowlink, on stack
    let mut stack: Vec<u64> = Vec::new();
    let mut sccs: Vec<Vec<u64>> = Vec::new();
    let mut next = 0usize;
    for &root in &nodes {
        if index.contains_key(&root) {
            continue;
        }
        let mut work: Vec<(u64, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 && !index.contains_key(&v) {
                index.insert(v, (next, next, true));
                next += 1;
                stack.push(v);
            }
            let succ = out_edges.get(&v).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(e) = succ.get(*child) {
                *child += 1;
                let w = e.to.as_u64();
                match index.get(&w).copied() {
                    None => work.push((w, 0)),
                    Some((wi, _, true)) => {
                        let entry = index.get_mut(&v).expect("visited");
                        entry.1 = entry.1.min(wi);
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            let (vi, vl, _) = index[&v];
            if let Some(&(parent, _)) = work.last() {
                let entry = index.get_mut(&parent).expect("visited");
                entry.1 = entry.1.min(vl);
            }
            if vi == vl {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    index.get_mut(&w).expect("visited").2 = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                sccs.push(scc);
            }
        }
    }

    let mut found = Vec::new();
    for scc in sccs {
        let members: std::collections::HashSet<u64> = scc.iter().copied().collect();
        let start = *scc.iter().min().expect("non-empty");
        let self_loop = out_edges
            .get(&start)
            .and_then(|l| l.iter().find(|e| e.to.as_u64() == start));
        if scc.len() == 1 {
            if let Some(e) = self_loop {
                found.push(Cycle { edges: vec![**e] });
            }
            continue;
        }
        // A shortest cycle through `start` inside the component: breadth-first search back to it.
        let mut prev: HashMap<u64, &Edge> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing: Option<&Edge> = None;
        'bfs: while let Some(v) = queue.pop_front() {
            for e in out_edges.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
                let w = e.to.as_u64();
                if !members.contains(&w) {
                    continue;
                }
                if w == start {
                    closing = Some(e);
                    break 'bfs;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = prev.entry(w) {
                    slot.insert(e);
                    queue.push_back(w);
                }
            }
        }
        let Some(last) = closing else { continue };
        let mut path = vec![*last];
        let mut at = last.from.as_u64();
        while at != start {
            let e = prev[&at];
            path.push(*e);
            at = e.from.as_u64();
        }
        path.reverse();
        found.push(Cycle { edges: path });
    }
    found.sort_by_key(|c| c.edges.first().map(|e| e.from.as_u64()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn edge(from: u64, to: u64, certain: bool) -> Edge {
        Edge {
            from: TaskId::from_raw(from),
            to: TaskId::from_raw(to),
            via: WaitOn::Lock { lock: to * 100 },
            certain,
            any: false,
        }
    }

    /// An edge of a wait that needs any one of its targets (a channel receive).
    fn any_edge(from: u64, to: u64) -> Edge {
        Edge {
            via: WaitOn::ChannelRecv { channel: from },
            any: true,
            ..edge(from, to, false)
        }
    }

    #[test]
    fn a_wait_on_any_is_stuck_only_if_every_target_is() {
        // 1 and 2 receive from each other's channels; 1's channel has a second sender, 3, which
        // waits on a timer (no edge): 1 can still go on, so there is no deadlock.
        let g = [any_edge(1, 2), any_edge(1, 3), any_edge(2, 1)];
        assert!(cycles(&g).is_empty());
        // Once 3 waits for 2 as well, all three are stuck.
        let g = [
            any_edge(1, 2),
            any_edge(1, 3),
            any_edge(2, 1),
            edge(3, 2, true),
        ];
        let c = cycles(&g);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key(), vec![1, 2]);
        assert!(!c[0].is_certain());
        // A wait on all of its targets is stuck as soon as one of them is: 4 waits for a free
        // task (5) and for 6, which waits for 4.
        let g = [edge(4, 5, true), edge(4, 6, true), edge(6, 4, true)];
        assert_eq!(cycles(&g)[0].key(), vec![4, 6]);
    }

    #[test]
    fn finds_a_two_task_cycle_and_ignores_chains() {
        let g = [
            edge(1, 2, true),
            edge(2, 1, true),
            edge(3, 1, true),
            edge(4, 5, true),
        ];
        let c = cycles(&g);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key(), vec![1, 2]);
        assert!(c[0].is_certain());
        let e = &c[0].edges;
        assert_eq!(e[0].to, e[1].from);
        assert_eq!(e[1].to, e[0].from);
    }

    #[test]
    fn finds_self_loops_and_long_cycles_with_likely_edges() {
        let mut g = vec![edge(9, 9, true)];
        for i in 10..20 {
            g.push(edge(i, i + 1, i != 15));
        }
        g.push(edge(20, 10, true));
        g.push(edge(12, 30, true));
        let c = cycles(&g);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].key(), vec![9]);
        assert_eq!(c[1].edges.len(), 11);
        assert!(!c[1].is_certain());
        assert!(c[1]
            .to_string()
            .starts_with("probable deadlock: task #10 waits on lock #1100 held by task #11; "));
    }

    #[test]
    fn a_long_chain_into_a_free_task_is_not_stuck() {
        // 20,000 tasks each waiting for the next, the last for a free task (a quadratic
        // narrowing would take minutes here).
        let n = 20_000;
        let mut g: Vec<Edge> = (1..n).map(|i| edge(i, i + 1, true)).collect();
        g.push(edge(n, n + 1, true));
        assert!(cycles(&g).is_empty());
        // Closing the chain into a ring makes every task stuck.
        *g.last_mut().unwrap() = edge(n, 1, true);
        assert_eq!(cycles(&g)[0].edges.len(), n as usize);
    }

    #[test]
    fn no_cycle_in_a_tree() {
        let g: Vec<Edge> = (2..50).map(|i| edge(i, i / 2, true)).collect();
        assert!(cycles(&g).is_empty());
    }

    struct Fixed(Vec<Holder>);
    impl Holders for Fixed {
        fn holders(&self, out: &mut Vec<Holder>) {
            out.extend_from_slice(&self.0);
        }
    }

    #[test]
    fn edges_ask_registered_primitives_and_forget_dropped_ones() {
        let lock = WaitOn::Lock { lock: 0xfeed_0001 };
        let holder = Holder {
            task: TaskId::from_raw(7),
            certain: true,
        };
        let target: Arc<dyn Holders> = Arc::new(Fixed(vec![holder]));
        let reg = register(lock, Arc::downgrade(&target));
        let waiting = [
            (TaskId::from_raw(8), lock),
            (TaskId::from_raw(9), WaitOn::Join { task: 8 }),
            (TaskId::from_raw(10), WaitOn::Timer { deadline_ms: 5 }),
        ];
        let e = edges(waiting);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].from.as_u64(), e[0].to.as_u64()), (8, 7));
        assert_eq!((e[1].from.as_u64(), e[1].to.as_u64()), (9, 8));
        drop(reg);
        assert_eq!(edges(waiting).len(), 1);
        let reg = register(lock, Arc::downgrade(&target));
        drop(target);
        assert_eq!(
            edges(waiting).len(),
            1,
            "a dropped primitive has no holders"
        );
        drop(reg);
    }
}
