//! Process groups (OTP `pg`): named sets of recipients for broadcast.
//!
//! A group is typed by its message: members join with a [`Recipient<M, R>`] and
//! [`broadcast`] sends a clone of the message to each. Membership does not keep an actor alive;
//! an actor leaves every group when it ends (before its links and monitors are told). Groups are
//! process-wide, like the registry.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use spectrum_sync::Mutex;

use crate::addr::{Recipient, Sink};
use crate::reason::ActorId;

struct Member {
    id: ActorId,
    /// An `Arc<dyn Sink<M, R>>`, uncounted.
    sink: Box<dyn Any + Send + Sync>,
}

static GROUPS: LazyLock<Mutex<HashMap<Arc<str>, Vec<Member>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Adds `member` to `group` (created on first join). Joining twice is a no-op. Returns `false`
/// if the actor has ended.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{group, Actor, Context, SyncHandler};
/// #[derive(Clone)]
/// struct Tick;
/// struct Listener(u32);
/// impl Actor for Listener {}
/// impl SyncHandler<Tick> for Listener {
///     type Reply = ();
///     fn handle(&mut self, _: Tick, _: &mut Context<Self>) { self.0 += 1; }
/// }
///
/// let a = spectrum_actor::spawn(Listener(0));
/// let b = spectrum_actor::spawn(Listener(0));
/// group::join("doc-ticks", &a.recipient::<Tick>());
/// group::join("doc-ticks", &b.recipient::<Tick>());
/// assert_eq!(group::broadcast("doc-ticks", Tick), 2);
/// # a.stop(); b.stop(); a.join().await; b.join().await;
/// # });
/// ```
pub fn join<M, R>(group: &str, member: &Recipient<M, R>) -> bool
where
    M: Send + 'static,
    R: Send + 'static,
{
    let id = member.id();
    let mut groups = GROUPS.lock();
    let entry = groups.entry(Arc::from(group)).or_default();
    if entry
        .iter()
        .any(|m| m.id == id && m.sink.is::<Arc<dyn Sink<M, R>>>())
    {
        return true;
    }
    if !member.sink.process().add_name(Arc::from(group), true) {
        return false;
    }
    entry.push(Member {
        id,
        sink: Box::new(member.sink.clone()),
    });
    true
}

/// Removes the actor `id` from `group`; `true` if it was a member.
pub fn leave(group: &str, id: ActorId) -> bool {
    !remove_member(group, id).is_empty()
}

/// The members of `group` that take messages of type `M` with reply `R`.
pub fn members<M, R>(group: &str) -> Vec<Recipient<M, R>>
where
    M: Send + 'static,
    R: Send + 'static,
{
    let groups = GROUPS.lock();
    groups.get(group).map_or_else(Vec::new, |ms| {
        ms.iter()
            .filter_map(|m| m.sink.downcast_ref::<Arc<dyn Sink<M, R>>>())
            .filter_map(|s| Recipient::upgrade(s.clone()))
            .collect()
    })
}

/// Sends a clone of `msg` to every member of `group` that takes `M` (with [`try_tell`]: a full
/// mailbox is skipped, never waited on). Returns how many accepted it.
///
/// [`try_tell`]: Recipient::try_tell
pub fn broadcast<M: Clone + Send + 'static>(group: &str, msg: M) -> usize {
    members::<M, ()>(group)
        .iter()
        .filter(|r| r.try_tell(msg.clone()).is_ok())
        .count()
}

/// Every group name.
pub fn groups() -> Vec<Arc<str>> {
    GROUPS.lock().keys().cloned().collect()
}

pub(crate) fn remove_member(group: &str, id: ActorId) -> Vec<Box<dyn Any + Send + Sync>> {
    let mut groups = GROUPS.lock();
    let mut out = Vec::new();
    if let Some(ms) = groups.get_mut(group) {
        let mut i = 0;
        while i < ms.len() {
            if ms[i].id == id {
                out.push(ms.swap_remove(i).sink);
            } else {
                i += 1;
            }
        }
        if ms.is_empty() {
            groups.remove(group);
        }
    }
    drop(groups);
    out
}
