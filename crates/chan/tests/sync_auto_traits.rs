#![cfg(not(loom))]
//! Auto traits of the sync primitives: what may cross threads and what may not.

use std::cell::Cell;
use std::rc::Rc;

use spectrum_chan::sync::*;

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn primitives_and_guards_are_send_and_sync_when_their_data_is() {
    send::<Mutex<Cell<u8>>>();
    sync::<Mutex<Cell<u8>>>(); // `T: Send` is enough, as for std's Mutex
    send::<RwLock<u8>>();
    sync::<RwLock<u8>>();
    send::<Semaphore>();
    sync::<Semaphore>();
    send::<Notify>();
    sync::<Notify>();
    send::<Barrier>();
    sync::<Barrier>();
    send::<OnceCell<u8>>();
    sync::<OnceCell<u8>>();
    send::<MutexGuard<'static, u8>>();
    sync::<MutexGuard<'static, u8>>();
    send::<MappedMutexGuard<'static, u8>>();
    send::<OwnedMutexGuard<u8>>();
    send::<RwLockReadGuard<'static, u8>>();
    send::<OwnedRwLockWriteGuard<u8>>();
    send::<SemaphorePermit<'static>>();
    send::<OwnedSemaphorePermit>();
    // The futures can be held across an `.await` in a spawned (Send) task.
    send::<Lock<'static, u8>>();
    send::<LockOwned<u8>>();
    send::<Acquire<'static>>();
    send::<AcquireOwned>();
    send::<Notified<'static>>();
    send::<OwnedNotified>();
    send::<BarrierWait<'static>>();
}

/// A `Cell` guard must not be shared across threads (`&MutexGuard<Cell>` would give `&Cell`).
#[test]
fn guard_of_a_non_sync_value_is_not_sync() {
    trait NotSync<A> {
        fn check() {}
    }
    impl<T: ?Sized> NotSync<()> for T {}
    struct Invalid;
    impl<T: ?Sized + Sync> NotSync<Invalid> for T {}
    // Ambiguous (fails to compile) if the guard were Sync.
    <MutexGuard<'static, Cell<u8>> as NotSync<_>>::check();
    <Mutex<Rc<u8>> as NotSync<_>>::check();
}
