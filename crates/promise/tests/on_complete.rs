//! `on_complete` / `on_complete_with`: callbacks run where their executor says, once, with the
//! outcome — also when the promise settles on another thread.
#![cfg(not(loom))]

use std::sync::mpsc;
use std::time::Duration;

use spectrum_promise::callback::{Inline, Job};
use spectrum_promise::{Promise, PromiseError};
use spectrum_rt::Wait;

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn the_runtime_executor_runs_callbacks_on_a_worker() {
    let rt = spectrum_rt::Runtime::builder()
        .workers(1)
        .thread_name("cb-rt")
        .build()
        .unwrap();
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete_with(rt.handle().clone(), |o| (o, thread_name()));
    std::thread::Builder::new()
        .name("resolver".into())
        .spawn(move || r.resolve(1).unwrap())
        .unwrap()
        .join()
        .unwrap();
    let (outcome, ran_on) = done.wait().unwrap();
    assert_eq!(outcome, Ok(1));
    assert!(ran_on.starts_with("cb-rt-worker"), "ran on {ran_on}");
}

#[test]
fn inline_runs_on_the_resolvers_thread() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete_with(Inline, |o| (o, thread_name()));
    std::thread::Builder::new()
        .name("resolver".into())
        .spawn(move || r.resolve(2).unwrap())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(done.wait().unwrap(), (Ok(2), "resolver".to_string()));
}

#[test]
fn inline_on_a_settled_promise_runs_at_once_on_the_caller() {
    let (tx, rx) = mpsc::channel();
    Promise::<u32, ()>::resolved(3).on_complete_with(Inline, move |o| tx.send(o).unwrap());
    assert_eq!(rx.try_recv(), Ok(Ok(3)));
}

#[test]
fn a_closure_executor_hands_the_job_to_its_own_thread() {
    let executor = |job: Job| {
        std::thread::Builder::new()
            .name("my-pool".into())
            .spawn(job)
            .unwrap();
    };
    let (p, r) = Promise::<u32, &str>::with_resolver();
    let done = p.on_complete_with(executor, |o| (o, thread_name()));
    r.reject("no").unwrap();
    assert_eq!(
        done.wait().unwrap(),
        (Err(PromiseError::Rejected("no")), "my-pool".to_string())
    );
}

#[test]
fn an_executor_that_drops_the_job_abandons_the_completion() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete_with(|job: Job| drop(job), |_| ());
    r.resolve(1).unwrap();
    assert!(done.wait().unwrap_err().is_abandoned());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn on_complete_sees_abandonment() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete(|o| o.unwrap_err().is_abandoned());
    std::thread::spawn(move || drop(r));
    assert_eq!(done.await, Ok(true));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn each_callback_runs_exactly_once() {
    let (tx, rx) = mpsc::channel();
    let mut resolvers = Vec::new();
    let mut completions = Vec::new();
    for i in 0..100 {
        let (p, r) = Promise::<u32, ()>::with_resolver();
        let tx = tx.clone();
        completions.push(p.on_complete(move |o| tx.send((i, o.unwrap())).unwrap()));
        resolvers.push(r);
    }
    let t = std::thread::spawn(move || {
        for (i, r) in resolvers.into_iter().enumerate() {
            r.resolve(i as u32).unwrap();
        }
    });
    for c in completions {
        c.await.unwrap();
    }
    t.join().unwrap();
    drop(tx);
    let mut got: Vec<_> = rx.iter().collect();
    got.sort();
    assert_eq!(got, (0..100).map(|i| (i, i)).collect::<Vec<_>>());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_spawned_promise_keeps_running_for_its_callback() {
    let (tx, rx) = mpsc::channel();
    let p = spectrum_promise::spawn(async {
        spectrum_rt::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, ()>(7)
    });
    let done = p.on_complete(move |o| tx.send(o).unwrap());
    done.await.unwrap();
    assert_eq!(rx.recv(), Ok(Ok(7)));
}
