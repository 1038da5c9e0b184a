//! The task waker: a `RawWaker` whose data pointer is the task header.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, RawTask};
use super::state::ToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake_by_val, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference (wrap it in `ManuallyDrop`).
pub(super) fn raw_waker_ref(header: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for a task header pointer,
    // and the caller keeps a reference alive while the waker is in use.
    unsafe { Waker::from_raw(RawWaker::new(header.as_ptr() as *const (), &VTABLE)) }
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is the header of a live task (the waker being cloned holds a reference).
    let header = unsafe { &*(ptr as *const Header) };
    header.state.ref_inc();
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake_by_val(ptr: *const ()) {
    // SAFETY: the waker owns a reference to the live task at `ptr`.
    let raw = RawTask(unsafe { NonNull::new_unchecked(ptr as *mut Header) });
    match raw.header().state.transition_to_notified_by_val() {
        // SAFETY: our reference became the Notified's.
        ToNotified::Submit => unsafe { raw.schedule() },
        // SAFETY: our reference was the last.
        ToNotified::Dealloc => unsafe { raw.dealloc() },
        ToNotified::DoNothing => {}
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: the waker holds a reference to the live task at `ptr`.
    let raw = RawTask(unsafe { NonNull::new_unchecked(ptr as *mut Header) });
    match raw.header().state.transition_to_notified_by_ref() {
        // SAFETY: the transition created a reference for the Notified.
        ToNotified::Submit => unsafe { raw.schedule() },
        ToNotified::Dealloc => unreachable!("wake_by_ref never releases a reference"),
        ToNotified::DoNothing => {}
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: the waker owns a reference to the live task at `ptr`.
    let raw = RawTask(unsafe { NonNull::new_unchecked(ptr as *mut Header) });
    raw.drop_reference();
}
