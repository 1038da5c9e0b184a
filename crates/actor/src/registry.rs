//! The name registry: `register` / `whereis` / `unregister`, as in OTP (`erlang:register/2`).
//!
//! Names are process-wide (one registry per process, as one per Erlang node). A registered name
//! keeps the actor's mailbox open (the registry holds a counted handle, like an `Addr`) and is
//! released when the actor ends, before its links and monitors are told (OTP rule 11), or by
//! [`unregister`].

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use spectrum_sync::Mutex;

use crate::actor::Actor;
use crate::addr::Addr;
use crate::cell::Cell;
use crate::error::RegisterError;
use crate::process::{ActorRef, KeepAlive};
use crate::reason::ActorId;

static NAMES: LazyLock<Mutex<HashMap<Arc<str>, KeepAlive>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Registers `actor` under `name`.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{registry, Actor};
/// struct Db;
/// impl Actor for Db {}
///
/// let db = spectrum_actor::spawn(Db);
/// registry::register("doc-db", &db.actor_ref()).unwrap();
/// assert_eq!(registry::whereis("doc-db"), Some(db.actor_ref()));
/// assert!(registry::whereis_addr::<Db>("doc-db").is_some());
/// db.stop();
/// db.join().await;
/// assert_eq!(registry::whereis("doc-db"), None); // released on exit
/// # });
/// ```
///
/// # Errors
///
/// [`RegisterError::Taken`] if another live actor holds the name, [`RegisterError::NoProc`] if
/// `actor` has ended.
pub fn register(name: impl Into<Arc<str>>, actor: &ActorRef) -> Result<(), RegisterError> {
    let name = name.into();
    let mut names = NAMES.lock();
    if let Some(holder) = names.get(&name) {
        if holder.0.is_alive() {
            return Err(RegisterError::Taken(holder.0.clone()));
        }
    }
    if !actor.0.add_name(name.clone(), false) {
        return Err(RegisterError::NoProc);
    }
    let old = names.insert(name, KeepAlive::new(actor.clone()));
    drop(names);
    drop(old);
    Ok(())
}

/// The actor registered under `name`.
pub fn whereis(name: &str) -> Option<ActorRef> {
    NAMES
        .lock()
        .get(name)
        .map(|k| k.0.clone())
        .filter(ActorRef::is_alive)
}

/// The actor registered under `name`, as an `Addr<A>` if it is an `A`.
pub fn whereis_addr<A: Actor>(name: &str) -> Option<Addr<A>> {
    let r = whereis(name)?;
    r.downcast::<Cell<A>>().map(Addr::from_cell)
}

/// Removes `name`; `true` if it was registered.
pub fn unregister(name: &str) -> bool {
    let old = NAMES.lock().remove(name);
    match old {
        Some(k) => {
            k.0 .0.forget_name(name, false);
            true
        }
        None => false,
    }
}

/// Every registered name.
pub fn registered() -> Vec<Arc<str>> {
    NAMES.lock().keys().cloned().collect()
}

/// At exit: drop `name` if it still belongs to `id`.
pub(crate) fn remove_if(name: &str, id: ActorId) {
    let mut names = NAMES.lock();
    if names.get(name).is_some_and(|k| k.0.id() == id) {
        let old = names.remove(name);
        drop(names);
        drop(old);
    }
}
