//! A program stuck three ways, with a dump endpoint to look inside it:
//!
//! ```text
//! cargo run -p spectrum-diag --example hung        # prints `ready <pid>`, then hangs
//! spectrum dump <pid>                              # from another shell; or --json
//! ```
//!
//! - "sleeper" waits on a timer that fires in an hour;
//! - "joiner" awaits the sleeper's `JoinHandle`;
//! - "blocker" calls `std::thread::sleep` in a loop inside an async task, so it holds its worker
//!   (the runtime reports the long poll on stderr and lends the worker's queue to a spare thread).

use std::io::Write;
use std::time::{Duration, Instant};

use spectrum_rt::task::{Builder, TaskState, WaitOn};
use spectrum_rt::{time, Runtime};

fn main() {
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let endpoint = spectrum_diag::serve(rt.handle()).expect("dump endpoint");
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

    // Ready once every task is where a dump should find it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = h.dump();
        let task = |name: &str| {
            dump.tasks
                .iter()
                .find(|t| t.info.name.as_deref() == Some(name))
                .map(|t| &t.info)
        };
        let ready = task("sleeper")
            .is_some_and(|t| matches!(t.waiting_on, Some(WaitOn::Timer { .. })))
            && task("joiner")
                .is_some_and(|t| t.waiting_on == Some(WaitOn::Join { task: sleeper_id }))
            && task("blocker").is_some_and(|t| t.state == TaskState::Running);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks never settled:\n{dump}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("ready {}", std::process::id());
    std::io::stdout().flush().expect("stdout");
    eprintln!("dump endpoint: {}", endpoint.path().display());
    loop {
        std::thread::park();
    }
}
