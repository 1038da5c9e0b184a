//! Auto traits: what may cross threads and what may not.

use spectrum_fiber::{Builder, Scope, ScopedJoinHandle, SpawnError, StackStats};
use spectrum_rt::JoinHandle;

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn handles_and_builders_cross_threads() {
    send::<JoinHandle<u32>>();
    sync::<JoinHandle<std::rc::Rc<u32>>>();
    send::<Builder>();
    sync::<Builder>();
    send::<SpawnError<fn()>>();
    send::<StackStats>();
    // A scope is shared with its children (they may spawn siblings).
    sync::<Scope<'static, 'static>>();
    send::<ScopedJoinHandle<'static, u32>>();
}
