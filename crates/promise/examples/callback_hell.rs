//! The seed's "callback hell", three ways: nested callbacks, a promise chain, async/await.
//!
//! The job: read file `a`, which names file `b`; read `b`, which names a URL; fetch the URL; and
//! report the three. The "legacy" API below is callback-style and answers on other threads, as
//! Node's `fs.readFile` does. The three versions produce the same result and the same errors;
//! `tests/callback_hell.rs` checks that.
//!
//! ```text
//! cargo run -p spectrum-promise --example callback_hell
//! ```

use spectrum_promise::{callback, Promise, PromiseError};
use spectrum_rt::Wait;

/// A callback-style API: every call answers later, on another thread.
pub mod legacy {
    use std::time::Duration;

    /// What the "file system" and the "network" hold.
    fn lookup(key: &str) -> Option<&'static str> {
        match key {
            "a.txt" => Some("b.txt"),
            "b.txt" => Some("https://example.invalid/data"),
            "https://example.invalid/data" => Some("42 widgets"),
            "broken.txt" => Some("missing.txt"),
            _ => None,
        }
    }

    fn answer_later(
        what: &'static str,
        key: &str,
        cb: impl FnOnce(Result<String, String>) + Send + 'static,
    ) {
        let key = key.to_owned();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            cb(lookup(&key)
                .map(str::to_owned)
                .ok_or_else(|| format!("{what}: not found: {key}")));
        });
    }

    /// `fs.readFile(name, cb)`.
    pub fn read_file(name: &str, cb: impl FnOnce(Result<String, String>) + Send + 'static) {
        answer_later("read", name, cb);
    }

    /// `fetch(url, cb)`.
    pub fn fetch(url: &str, cb: impl FnOnce(Result<String, String>) + Send + 'static) {
        answer_later("fetch", url, cb);
    }
}

/// 1. Callbacks: three levels deep, the error handling repeated at each level.
pub fn with_callbacks(a: &str, done: impl FnOnce(Result<String, String>) + Send + 'static) {
    legacy::read_file(a, move |r| {
        let da = match r {
            Ok(d) => d,
            Err(e) => return done(Err(e)),
        };
        legacy::read_file(&da.clone(), move |r| {
            let db = match r {
                Ok(d) => d,
                Err(e) => return done(Err(e)),
            };
            legacy::fetch(&db.clone(), move |r| match r {
                Ok(body) => done(Ok(format!("{da} -> {db} -> {body}"))),
                Err(e) => done(Err(e)),
            });
        });
    });
}

/// The legacy calls as promises, through `callback::from_fn`.
pub fn read_file(name: &str) -> Promise<String, String> {
    let name = name.to_owned();
    callback::from_fn(move |done| legacy::read_file(&name, done.into_fn()))
}

/// `fetch` as a promise.
pub fn fetch(url: &str) -> Promise<String, String> {
    let url = url.to_owned();
    callback::from_fn(move |done| legacy::fetch(&url, done.into_fn()))
}

/// 2. Promises: a flat chain, one error path (needs a runtime: each step runs as a task).
pub fn with_promises(a: &str) -> Promise<String, String> {
    read_file(a)
        .and_then(|da| read_file(&da.clone()).map(move |db| (da, db)))
        .and_then(|(da, db)| fetch(&db.clone()).map(move |body| format!("{da} -> {db} -> {body}")))
}

/// 3. async/await: reads like the sync version; `?` is the one error path.
pub async fn with_async(a: &str) -> Result<String, PromiseError<String>> {
    let da = read_file(a).await?;
    let db = read_file(&da).await?;
    let body = fetch(&db).await?;
    Ok(format!("{da} -> {db} -> {body}"))
}

fn main() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let _enter = rt.enter();
    for start in ["a.txt", "broken.txt"] {
        let callbacks = callback::from_fn(|done| with_callbacks(start, done.into_fn())).wait();
        let promises = with_promises(start).wait();
        let async_await = rt.block_on(with_async(start));
        println!("{start}:");
        println!("  callbacks:   {callbacks:?}");
        println!("  promises:    {promises:?}");
        println!("  async/await: {async_await:?}");
    }
}
