//! Chaining: each method returns a new promise, runs its callback on the runtime, and passes
//! what it does not handle down the chain.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{Promise, PromiseError};

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn map_and_then_compose_in_order() {
    let p = Promise::<u32, String>::resolved(2)
        .map(|v| v * 10)
        .and_then(|v| async move { Ok(v + 1) })
        .and_then(|v| spectrum_promise::spawn(async move { Ok(v.to_string()) }))
        .map(|s| format!("<{s}>"));
    assert_eq!(p.await.unwrap(), "<21>");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn failures_skip_map_and_and_then_until_catch() {
    let p = Promise::<u32, String>::rejected("bad".into())
        .map(|_| -> u32 { unreachable!("map must not run on a failure") })
        .and_then(|_| async { unreachable!("and_then must not run on a failure") })
        .catch(|e| match e {
            PromiseError::Rejected(msg) => Ok(msg.len() as u32),
            other => Err(other),
        });
    assert_eq!(p.await, Ok(3));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn catch_can_fail_on_and_values_skip_it() {
    let rethrown = Promise::<u32, &str>::rejected("a").catch(|_| Err(PromiseError::Rejected("b")));
    assert_eq!(rethrown.await, Err(PromiseError::Rejected("b")));
    let untouched = Promise::<u32, &str>::resolved(1).catch(|_| unreachable!());
    assert_eq!(untouched.await, Ok(1));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn or_else_recovers_with_async_work() {
    let p = Promise::<u32, &str>::rejected("offline")
        .or_else(|_| async { Ok(7) })
        .or_else(|_| async { unreachable!("a value skips or_else") });
    assert_eq!(p.await, Ok(7));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn question_mark_in_and_then_rejects() {
    let p = Promise::<&str, String>::resolved("x").and_then(|s| async move {
        let n: u32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
        Ok(n)
    });
    assert_eq!(
        p.await,
        Err(PromiseError::Rejected("\"x\" is not a number".to_string()))
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn then_sees_the_whole_outcome() {
    let ok = Promise::<u32, &str>::resolved(1).then(|o| Ok(format!("{o:?}")));
    assert_eq!(ok.await.unwrap(), "Ok(1)");
    let (p, r) = Promise::<u32, &str>::with_resolver();
    drop(r);
    let abandoned = p.then(|o| Ok(o.unwrap_err().is_abandoned()));
    assert_eq!(abandoned.await, Ok(true));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn map_err_changes_only_the_rejection() {
    let p = Promise::<u32, &str>::rejected("e").map_err(|e| e.len());
    assert_eq!(p.await, Err(PromiseError::Rejected(1usize)));
    let (q, r) = Promise::<u32, &str>::with_resolver();
    drop(r);
    assert!(q.map_err(|e| e.len()).await.unwrap_err().is_abandoned());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn finally_runs_on_every_outcome_and_passes_it_on() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = |runs: &std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    assert_eq!(
        Promise::<u32, &str>::resolved(1)
            .finally(count(&runs))
            .await,
        Ok(1)
    );
    assert_eq!(
        Promise::<u32, &str>::rejected("x")
            .finally(count(&runs))
            .await,
        Err(PromiseError::Rejected("x"))
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn callbacks_run_on_a_worker_not_on_the_resolvers_thread() {
    let rt = spectrum_rt::Runtime::builder()
        .workers(1)
        .thread_name("chain-rt")
        .build()
        .unwrap();
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let where_ran = {
        let _enter = rt.enter();
        p.map(|_| std::thread::current().name().map(str::to_owned))
    };
    std::thread::Builder::new()
        .name("resolver".into())
        .spawn(move || r.resolve(1).unwrap())
        .unwrap()
        .join()
        .unwrap();
    let name = rt.block_on(where_ran).unwrap().unwrap();
    assert!(name.starts_with("chain-rt-worker"), "ran on {name}");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_chain_runs_even_if_nobody_awaits_its_end_until_dropped() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let end = p.map(move |v| tx.send(v).unwrap());
    r.resolve(3).unwrap();
    spectrum_rt::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        rx.try_recv(),
        Ok(3),
        "eager, like JS: ran without being awaited"
    );
    drop(end);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn dropping_a_chained_promise_cancels_the_chain_up_to_its_source() {
    let canaries = Canaries::new();
    let source = spectrum_promise::spawn(
        canaries.watch(async { std::future::pending::<Result<u32, ()>>().await }),
    );
    let chained = source.map(|v| v + 1).map(|v| v * 2);
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(canaries.cancelled(), 0);
    drop(chained);
    let deadline = spectrum_rt::time::Instant::now() + Duration::from_secs(5);
    while canaries.cancelled() == 0 {
        assert!(
            spectrum_rt::time::Instant::now() < deadline,
            "source never cancelled"
        );
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(canaries.cancelled(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn chained_tasks_are_listed_with_the_user_call_site() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let line = line!() + 1;
    let chained = p.map(|v| v);
    let live = spectrum_rt::Handle::current().live_tasks();
    assert!(
        live.iter()
            .any(|t| t.location.file() == file!() && t.location.line() == line),
        "chain task not listed at {}:{line}: {live:?}",
        file!()
    );
    r.resolve(1).unwrap();
    assert_eq!(chained.await, Ok(1));
}

#[test]
#[should_panic(expected = "needs a Spectrum runtime")]
fn chaining_outside_a_runtime_panics_with_a_message() {
    drop(Promise::<u32, ()>::resolved(1).map(|v| v));
}
