//! Which handles cross threads: checked at compile time.
#![cfg(not(loom))]

use std::cell::Cell;

use spectrum_promise::callback::{Completion, Done};
use spectrum_promise::{thread, Promise, PromiseError, Resolver, SharedPromise};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn handles_are_send_and_sync_when_their_values_are_send() {
    // `Cell` is `Send` but not `Sync`: a value that only moves between threads is enough.
    send::<Promise<Cell<u32>, Cell<u32>>>();
    sync::<Promise<Cell<u32>, Cell<u32>>>();
    send::<Resolver<Cell<u32>, ()>>();
    sync::<Resolver<Cell<u32>, ()>>();
    send::<SharedPromise<Cell<u32>, ()>>();
    sync::<SharedPromise<Cell<u32>, ()>>();
    send::<Done<Cell<u32>, ()>>();
    sync::<Done<Cell<u32>, ()>>();
    send::<Completion<u32>>();
    send::<PromiseError<String>>();
    sync::<PromiseError<String>>();
    send::<thread::JoinHandle<u32>>();
    sync::<thread::JoinHandle<u32>>();
    send::<thread::Builder>();
}

#[test]
fn futures_are_unpin() {
    unpin::<Promise<std::marker::PhantomPinned, ()>>();
    unpin::<SharedPromise<u32, ()>>();
    unpin::<Completion<u32>>();
    unpin::<thread::JoinHandle<u32>>();
    unpin::<spectrum_promise::combinator::All<std::vec::IntoIter<Promise<u32, ()>>>>();
}
