//! Spawning actors: [`spawn`], and the [`Builder`] for names, mailboxes, links, fibers and
//! scopes.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use spectrum_rt::scope::{Scope, ScopedJoinHandle, SpawnError};
use spectrum_rt::Wait;
use spectrum_sync::Mutex;

use crate::actor::Actor;
use crate::addr::Addr;
use crate::cell::Cell;
use crate::mailbox::Mailbox;
use crate::process::{ActorRef, Process};
use crate::reason::ExitReason;

/// Spawns `actor` as a task on the current runtime, with the default mailbox
/// ([`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY) messages, `Overflow::Wait`), and returns its
/// address. The actor runs until it stops itself, is stopped or killed, crashes, or the last
/// `Addr` to it is dropped (then it drains its mailbox and stops with `Normal`).
///
/// The task is named after the actor's type (or [`Builder::name`]) and shows in
/// `Runtime::live_tasks()`, waiting on `WaitOn::Mailbox { actor: id }` while idle.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn spawn<A: Actor>(actor: A) -> Addr<A> {
    Builder::new().spawn(actor)
}

/// Configures an actor before spawning it.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{Actor, Builder, Mailbox, Overflow};
/// struct Logger;
/// impl Actor for Logger {}
///
/// let log = Builder::new()
///     .name("logger")
///     .mailbox(Mailbox::bounded(256).overflow(Overflow::DropOldest))
///     .spawn(Logger);
/// assert_eq!(log.name().as_deref(), Some("logger"));
/// assert_eq!(log.capacity(), Some(256));
/// # log.stop(); log.join().await;
/// # });
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Builder {
    name: Option<Arc<str>>,
    mailbox: Mailbox,
    link: Option<ActorRef>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("mailbox", &self.mailbox)
            .field("link", &self.link)
            .finish()
    }
}

impl Builder {
    /// Defaults: unnamed, default mailbox, unlinked.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the actor (its task shows under this name in task lists and dumps).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The mailbox: bound, overflow policy, messages per activation.
    pub fn mailbox(mut self, mailbox: Mailbox) -> Builder {
        self.mailbox = mailbox;
        self
    }

    /// Links the new actor to `peer` before it runs (OTP `spawn_link`, atomic). If `peer` has
    /// already ended, the new actor is killed by the link at once (reason `NoProc`).
    pub fn link(mut self, peer: ActorRef) -> Builder {
        self.link = Some(peer);
        self
    }

    /// Makes the cell and the counted address; links if asked. The task's name is borrowed when
    /// it is the actor's type name (`task::Builder::name` keeps a `&'static str` without
    /// allocating), so an unnamed actor costs no name allocation.
    fn prepare<A: Actor>(&self) -> (Arc<Cell<A>>, Addr<A>, Cow<'static, str>) {
        let cell = Arc::new(Cell::<A>::new(self.mailbox, self.name.clone()));
        let addr = Addr::from_cell(cell.clone());
        if let Some(peer) = &self.link {
            let me = cell.actor_ref();
            if peer.0.add_link(me) {
                Process::add_link(&*cell, peer.clone());
            } else {
                Process::link_exit(&*cell, peer.clone(), ExitReason::NoProc);
            }
        }
        let task_name = match &self.name {
            Some(n) => Cow::Owned(n.to_string()),
            None => Cow::Borrowed(short_type_name::<A>()),
        };
        (cell, addr, task_name)
    }

    /// Spawns the actor as a task on the current runtime. See [`spawn`].
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn spawn<A: Actor>(self, actor: A) -> Addr<A> {
        let (cell, addr, name) = self.prepare::<A>();
        spectrum_rt::task::Builder::new()
            .name(name)
            .spawn(crate::run::run(actor, cell))
            .detach();
        addr
    }

    /// Spawns the actor on a fiber: its handlers run on a stack of their own, so a
    /// [`SyncHandler`](crate::SyncHandler) may block with `.wait()` on any future (a channel, a
    /// lock, a timer, another actor's `ask`) and only this actor's fiber suspends. Async
    /// handlers work too. The fiber never leaves its worker thread.
    ///
    /// # Errors
    ///
    /// The actor back, with the reason, when no fiber can be spawned (no runtime, or the
    /// process's fiber-stack limit is reached; see `spectrum_fiber`'s crate docs).
    #[track_caller]
    pub fn spawn_fiber<A: Actor>(self, actor: A) -> Result<Addr<A>, FiberSpawnError<A>> {
        let (cell, addr, name) = self.prepare::<A>();
        let slot = Arc::new(Mutex::new(Some(actor)));
        let theirs = slot.clone();
        let body = move || {
            if let Some(actor) = theirs.lock().take() {
                crate::run::run(actor, cell).wait();
            }
        };
        match spectrum_fiber::Builder::new()
            .name(name.into_owned())
            .spawn(body)
        {
            Ok(h) => {
                h.detach();
                Ok(addr)
            }
            Err(e) => {
                let kind = e.kind().clone();
                drop(e);
                let actor = slot.lock().take().expect("the fiber never ran");
                // Never started: close it so links and monitors hear of it.
                addr.cell().finish(
                    ExitReason::shutdown("fiber spawn failed"),
                    Default::default(),
                );
                Err(FiberSpawnError { kind, actor })
            }
        }
    }

    /// Spawns the actor as a child task of `scope`: the scope waits for it, and cancelling the
    /// scope stops it gracefully (`stopping`/`stopped` run, shielded, and the scope waits for
    /// them; a supervisor stops its children in order). The handle gives the exit reason; an
    /// exit that is not normal is a failure of the child, so a fail-fast scope cancels its other
    /// children.
    ///
    /// # Errors
    ///
    /// The scope's [`SpawnError`] if it is closed or cancelled.
    #[track_caller]
    pub fn spawn_in<A: Actor>(
        self,
        scope: &Scope,
        actor: A,
    ) -> Result<(Addr<A>, ScopedJoinHandle<ExitReason>), SpawnError> {
        let (cell, addr, name) = self.prepare::<A>();
        let handle = scope.spawn_named(
            name.into_owned(),
            crate::run::run_then(actor, cell, |reason| {
                if reason.is_normal() {
                    Ok(reason)
                } else {
                    Err(reason)
                }
            }),
        );
        match handle {
            Ok(h) => Ok((addr, h)),
            Err(e) => {
                addr.cell()
                    .finish(ExitReason::shutdown("scope closed"), Default::default());
                Err(e)
            }
        }
    }

    /// The actor's loop as a future, to run in the current task (or anywhere): it resolves to
    /// the exit reason. Dropping the future part-way stops the actor gracefully, as a cancelled
    /// scope does (see [`spawn_in`](Self::spawn_in)).
    pub fn run<A: Actor>(self, actor: A) -> (Addr<A>, impl Future<Output = ExitReason> + Send) {
        let (cell, addr, _) = self.prepare::<A>();
        (addr, crate::run::run(actor, cell))
    }
}

/// Why [`Builder::spawn_fiber`] failed, with the actor given back.
pub struct FiberSpawnError<A> {
    kind: spectrum_fiber::SpawnErrorKind,
    actor: A,
}

impl<A> FiberSpawnError<A> {
    /// Why.
    pub fn kind(&self) -> &spectrum_fiber::SpawnErrorKind {
        &self.kind
    }

    /// The actor that was not spawned.
    pub fn into_inner(self) -> A {
        self.actor
    }
}

impl<A> fmt::Debug for FiberSpawnError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberSpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<A> fmt::Display for FiberSpawnError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not spawn the actor's fiber: {}", self.kind)
    }
}

impl<A> std::error::Error for FiberSpawnError<A> {}

/// `my_crate::module::Worker<T>` → `Worker<T>`. Runs at every spawn, so a byte scan rather than
/// `str` pattern searches (whose searcher set-up cost more than the rest of the name handling).
fn short_type_name<A>() -> &'static str {
    let full = std::any::type_name::<A>();
    let bytes = full.as_bytes();
    let base = bytes.iter().position(|&b| b == b'<').unwrap_or(bytes.len());
    let mut start = 0;
    let mut i = base;
    while i >= 2 {
        if bytes[i - 1] == b':' && bytes[i - 2] == b':' {
            start = i;
            break;
        }
        i -= 1;
    }
    &full[start..]
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_names_drop_the_path_but_keep_generics() {
        struct Local;
        assert_eq!(short_type_name::<Local>(), "Local");
        assert_eq!(short_type_name::<u8>(), "u8");
        assert_eq!(short_type_name::<Vec<u8>>(), "Vec<u8>");
        assert_eq!(
            short_type_name::<Option<String>>(),
            "Option<alloc::string::String>"
        );
    }
}
