//! `callback::from_fn`: a callback called twice is refused and reported once; a callback never
//! called leaves the promise abandoned, naming where it was made.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_promise::callback::{self, CalledTwice, Misuse};
use spectrum_promise::{Origin, PromiseError};
use spectrum_rt::Wait;

/// Misuse reports seen by this test binary, by the line their callback was created on.
fn reports() -> Arc<Mutex<Vec<Misuse>>> {
    static SEEN: std::sync::OnceLock<Arc<Mutex<Vec<Misuse>>>> = std::sync::OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        callback::set_misuse_hook(move |m| sink.lock().unwrap().push(*m));
        seen
    })
    .clone()
}

fn reports_for_line(line: u32) -> usize {
    reports()
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.created_at().file() == file!() && m.created_at().line() == line)
        .count()
}

#[test]
fn a_second_call_is_refused_and_reported_once() {
    let _ = reports();
    let line = line!() + 1;
    let p = callback::from_fn::<u32, String, _>(|done| {
        done.resolve(1).unwrap();
        assert_eq!(done.resolve(2), Err(CalledTwice(2)));
        assert_eq!(
            done.call(Err("late".into())).unwrap_err().into_inner(),
            Err("late".to_string())
        );
        assert_eq!(
            done.reject("later".into()),
            Err(CalledTwice("later".into()))
        );
    });
    assert_eq!(p.wait(), Ok(1));
    assert_eq!(reports_for_line(line), 1, "three extra calls, one report");
    let text = reports().lock().unwrap()[0].to_string();
    assert!(text.contains("was called more than once"), "{text}");
}

#[test]
fn calls_from_many_threads_settle_once_and_report_once() {
    let _ = reports();
    let line = line!() + 1;
    let p = callback::from_fn::<usize, (), _>(|done| {
        for i in 0..8 {
            let done = done.clone();
            std::thread::spawn(move || {
                let _ = done.resolve(i);
            });
        }
    });
    let v = p.wait().unwrap();
    assert!(v < 8);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reports_for_line(line) == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(reports_for_line(line), 1);
}

#[test]
fn into_fn_reports_double_calls_too() {
    let _ = reports();
    let line = line!() + 1;
    let p = callback::from_fn::<u32, (), _>(|done| {
        let f = done.into_fn();
        f(Ok(1));
        f(Ok(2));
        let g = f.clone();
        g(Err(()));
    });
    assert_eq!(p.wait(), Ok(1));
    assert_eq!(reports_for_line(line), 1);
}

#[test]
fn a_callback_never_called_abandons_the_promise_at_its_last_drop() {
    let line = line!() + 1;
    let p = callback::from_fn::<u32, String, _>(|done| {
        // A buggy legacy API: keeps the callback for a while, then forgets it.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(done);
        });
    });
    let err = p.wait().unwrap_err();
    let PromiseError::Abandoned(a) = &err else {
        panic!("expected an abandonment, got {err:?}")
    };
    assert_eq!(a.origin(), Origin::Callback);
    assert_eq!(
        (a.created_at().file(), a.created_at().line()),
        (file!(), line)
    );
    assert!(
        err.to_string().contains("was dropped without being called"),
        "{err}"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_callback_called_on_another_thread_wakes_an_async_reader() {
    let p = callback::from_fn::<String, (), _>(|done| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            done.resolve("from a thread".into()).unwrap();
        });
    });
    assert_eq!(p.await.unwrap(), "from a thread");
}

#[test]
fn done_knows_when_nobody_listens() {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = callback::from_fn::<u32, (), _>(|done| tx.send(done).unwrap());
    let done = rx.recv().unwrap();
    assert!(!done.is_closed());
    drop(p);
    assert!(done.is_closed());
}
