#![cfg(not(loom))]
//! Absurd capacities give documented behaviour, never an allocation abort.

use spectrum_chan::{bounded, TrySendError};

#[test]
fn bounded_usize_max_allocates_lazily_and_works() {
    let (tx, rx) = bounded::<[u8; 64]>(usize::MAX);
    assert_eq!(tx.capacity(), Some(usize::MAX));
    for i in 0..10_000u32 {
        tx.try_send([i as u8; 64]).unwrap();
    }
    assert_eq!(rx.len(), 10_000);
    assert_eq!(rx.recv().wait().unwrap()[0], 0);
}

#[test]
fn capacities_past_the_address_space_are_accepted() {
    for cap in [isize::MAX as usize, isize::MAX as usize + 1, usize::MAX - 1] {
        let (tx, rx) = bounded::<u64>(cap);
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
    }
}

#[test]
fn zero_sized_values_with_any_capacity() {
    let (tx, rx) = bounded::<()>(usize::MAX);
    for _ in 0..100_000 {
        tx.try_send(()).unwrap();
    }
    assert_eq!(rx.len(), 100_000);
    let (tx, _rx) = bounded::<()>(3);
    for _ in 0..3 {
        tx.try_send(()).unwrap();
    }
    assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn tick_with_a_zero_period_panics_clearly() {
    let rt = spectrum_rt::Runtime::new().unwrap();
    let _g = rt.enter();
    let _ = spectrum_chan::tick(std::time::Duration::ZERO);
}

#[test]
#[should_panic(expected = "runtime")]
fn timers_outside_a_runtime_panic_clearly() {
    let _ = spectrum_chan::after(std::time::Duration::from_millis(1));
}
