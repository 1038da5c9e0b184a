//! `serve` + `fetch` in one process: the dump names each task and what it waits on, as text and
//! as JSON, and the endpoint speaks the documented line protocol.
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use common::{parse, until_dump, Json};
use spectrum_diag::{fetch, fetch_from, serve, Format, DEFAULT_TIMEOUT};
use spectrum_rt::task::{Builder, WaitOn};
use spectrum_rt::{time, Runtime};

/// `fetch(pid)` asks the process's first endpoint: one test serves at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn text_and_json_name_the_tasks_and_what_they_wait_on() {
    let _serial = serial();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle().clone();
    let sleeper = Builder::new()
        .name("sleeper")
        .spawn_on(async { time::sleep(Duration::from_secs(3600)).await }, &h);
    let sleeper_id = sleeper.id().as_u64();
    let joiner = Builder::new()
        .name("joiner")
        .spawn_on(async move { sleeper.await.is_ok() }, &h);
    until_dump(&h, "both wait notes", |d| {
        let note = |name: &str| {
            d.tasks
                .iter()
                .find(|t| t.info.name.as_deref() == Some(name))
                .and_then(|t| t.info.waiting_on)
        };
        matches!(note("sleeper"), Some(WaitOn::Timer { .. }))
            && note("joiner") == Some(WaitOn::Join { task: sleeper_id })
    });

    let endpoint = serve(&h).unwrap();
    let pid = std::process::id();
    assert_eq!(endpoint.path(), spectrum_diag::socket_path(pid));

    let text = fetch(pid, Format::Text).unwrap();
    assert!(text.starts_with("Spectrum runtime: 2 worker(s)"), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!("\"{name}\"")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_owned()
    };
    let s = line("sleeper");
    assert!(s.contains(&format!("task #{sleeper_id} ")), "{s}");
    assert!(s.contains("waiting on a timer (in "), "{s}");
    let j = line("joiner");
    assert!(j.contains(&format!("waiting on task #{sleeper_id}")), "{j}");

    let json = fetch(pid, Format::Json).unwrap();
    assert!(json.ends_with("}\n"), "{json}");
    let doc = parse(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(doc.get("workers").unwrap().as_array().len(), 2);
    let tasks = doc.get("tasks").unwrap().as_array();
    let task = |name: &str| {
        tasks
            .iter()
            .find(|t| t.get("name").and_then(Json::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {json}"))
    };
    let s = task("sleeper");
    assert_eq!(s.get("id").and_then(Json::as_u64), Some(sleeper_id));
    assert!(s
        .get("waiting_on")
        .and_then(Json::as_str)
        .unwrap()
        .starts_with("timer"));
    let left = s.get("timer_in_ms").and_then(Json::as_u64).unwrap();
    assert!(left > 3_500_000 && left <= 3_600_000, "{left}");
    assert_eq!(
        task("joiner").get("waiting_on").and_then(Json::as_str),
        Some(format!("task #{sleeper_id}").as_str())
    );

    // The same through the endpoint's own path.
    let again = fetch_from(endpoint.path(), Format::Text, DEFAULT_TIMEOUT).unwrap();
    assert!(again.contains("\"joiner\""), "{again}");

    joiner.cancel();
    drop(endpoint);
}

fn raw(request: &[u8], close_write: bool) -> String {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _task = Builder::new()
        .name("raw-client-target")
        .spawn_on(std::future::pending::<()>(), rt.handle());
    let endpoint = serve(rt.handle()).unwrap();
    let mut s = UnixStream::connect(endpoint.path()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    if close_write {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_line_protocol() {
    let _serial = serial();
    // An empty line, or nothing at all, is a text request.
    for (req, close) in [(&b"\n"[..], false), (b"", true), (b"text\r\n", false)] {
        let a = raw(req, close);
        assert!(
            a.starts_with("Spectrum runtime:") && a.contains("\"raw-client-target\""),
            "{req:?}: {a}"
        );
    }
    let a = raw(b"json\n", false);
    assert!(parse(&a).is_ok(), "{a}");
    let a = raw(b"yaml\n", false);
    assert_eq!(
        a,
        "error: unknown request \"yaml\": send `text` or `json`, then a newline\n"
    );
}

#[test]
fn an_endpoint_outliving_its_runtime_says_so() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let endpoint = serve(rt.handle()).unwrap();
    drop(rt);
    let e = fetch(std::process::id(), Format::Text).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Other);
    assert_eq!(
        e.to_string(),
        format!("process {}: runtime has shut down", std::process::id())
    );
    let e = fetch_from(endpoint.path(), Format::Json, DEFAULT_TIMEOUT).unwrap_err();
    assert_eq!(e.to_string(), "runtime has shut down");
}

#[test]
fn the_parser_is_strict() {
    assert_eq!(
        parse(r#" {"a":[1,-2.5e3,true,null],"b":"x\"\u00e9\ud83d\ude00"} "#).unwrap(),
        Json::Obj(vec![
            (
                "a".into(),
                Json::Arr(vec![
                    Json::Num(1.0),
                    Json::Num(-2500.0),
                    Json::Bool(true),
                    Json::Null
                ])
            ),
            ("b".into(), Json::Str("x\"é😀".into())),
        ])
    );
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "\"\n\"",
        "{a:1}",
        "[1] x",
        "\"\\x\"",
        "1.",
        "\"\\ud800\"",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
}
