//! `spectrum dump <pid>`: the task dump of a running Spectrum program (the tree of tasks and
//! scopes, what each waits on, what each worker polls), fetched from the endpoint it serves
//! with `spectrum_diag::serve` or `SPECTRUM_DUMP=1`; and `spectrum __dump-demo`, a program stuck
//! three ways that serves one (for the tests; `spectrum-diag`'s `hung` example is the same).

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use spectrum::scope::BoxError;
use spectrum::task::{Builder, TaskState, WaitOn};
use spectrum::{time, Runtime};
use spectrum_diag::Format;

/// Prints the dump of process `pid`'s first runtime, or of the endpoint at `socket`.
pub fn run(pid: Option<u32>, socket: Option<&Path>, json: bool) -> Result<(), BoxError> {
    let format = if json { Format::Json } else { Format::Text };
    let dump = match (pid, socket) {
        (_, Some(socket)) => {
            spectrum_diag::fetch_from(socket, format, spectrum_diag::DEFAULT_TIMEOUT)?
        }
        (Some(pid), None) => spectrum_diag::fetch(pid, format)?,
        (None, None) => return Err("give a pid, or --socket PATH".into()),
    };
    match io::stdout().lock().write_all(dump.as_bytes()) {
        // `spectrum dump 1234 | head` is fine.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Serves a dump endpoint, starts "sleeper" (a timer an hour away), "joiner" (awaits the
/// sleeper) and "blocker" (`std::thread::sleep` in a loop inside an async task), prints
/// `ready <pid>` once a dump shows all three, and hangs.
pub fn demo() -> Result<(), BoxError> {
    // The blocker's long poll is the point, not news.
    let rt = Runtime::builder()
        .workers(2)
        .on_diagnostic(|_| {})
        .build()?;
    let _endpoint = spectrum_diag::serve(rt.handle())?;
    let h = rt.handle();
    let sleeper = Builder::new()
        .name("sleeper")
        .spawn_on(async { time::sleep(Duration::from_secs(3600)).await }, h);
    let sleeper_id = sleeper.id().as_u64();
    let _joiner = Builder::new()
        .name("joiner")
        .spawn_on(async move { sleeper.await.is_ok() }, h);
    let _blocker = Builder::new().name("blocker").spawn_on(
        async {
            loop {
                std::thread::sleep(Duration::from_millis(100));
            }
        },
        h,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = h.dump();
        let task = |name: &str| {
            dump.tasks
                .iter()
                .find(|t| t.info.name.as_deref() == Some(name))
                .map(|t| &t.info)
        };
        if task("sleeper").is_some_and(|t| matches!(t.waiting_on, Some(WaitOn::Timer { .. })))
            && task("joiner")
                .is_some_and(|t| t.waiting_on == Some(WaitOn::Join { task: sleeper_id }))
            && task("blocker").is_some_and(|t| t.state == TaskState::Running)
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the demo's tasks never settled:\n{dump}").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = io::stdout().lock();
    writeln!(out, "ready {}", std::process::id())?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
