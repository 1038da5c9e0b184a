#![cfg(not(loom))]
//! Auto traits: both halves are `Clone + Send + Sync`; the futures are `Send` so tasks can
//! await them; nothing is `Send` for a `!Send` value.

use std::rc::Rc;

use spectrum_chan::{bounded, Receiver, Select, SendSink, Sender};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn clone<T: Clone>() {}
fn send_val<T: Send>(_: &T) {}

#[test]
fn handles_and_futures_are_send_and_sync_where_they_should_be() {
    send::<Sender<String>>();
    sync::<Sender<String>>();
    clone::<Sender<String>>();
    send::<Receiver<String>>();
    sync::<Receiver<String>>();
    clone::<Receiver<String>>();
    send::<SendSink<String>>();
    send::<Select<'static>>();
    let (tx, rx) = bounded::<String>(1);
    send_val(&tx.send(String::new()));
    send_val(&rx.recv());
    send_val(&tx.reserve());
    send_val(&tx.closed());
    send_val(&tx.try_reserve().unwrap());
    let rt = spectrum_rt::Runtime::new().unwrap();
    let _g = rt.enter();
    send_val(&rx.recv_timeout(std::time::Duration::ZERO));
    send_val(&tx.send_timeout(String::new(), std::time::Duration::ZERO));
    let mut sel = Select::new();
    sel.recv(&rx);
    send_val(&sel.select());
}

/// (The compile-time negative, a `Sender<Rc<_>>` sent to another thread, is a `compile_fail`
/// doctest in the crate docs.)
#[test]
fn rc_channels_stay_on_their_thread() {
    // Usable on one thread all the same.
    let (tx, rx) = bounded::<Rc<u8>>(1);
    tx.try_send(Rc::new(1)).unwrap();
    assert_eq!(*rx.try_recv().unwrap(), 1);
}
