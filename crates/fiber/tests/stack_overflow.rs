//! A fiber that overflows its stack hits its guard page, and the process dies with a clear error
//! naming the fiber, never silent corruption. Run in a child process (this test binary, re-run
//! with an environment variable), since the error is fatal by design.

use std::process::Command;

const CHILD_ENV: &str = "SPECTRUM_FIBER_OVERFLOW_CHILD";

/// Recurses until the stack runs out (on purpose).
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, buf: &mut [u8; 512]) -> u64 {
    let mut local = [0u8; 512];
    local[(depth % 512) as usize] = buf[(depth % 512) as usize].wrapping_add(1);
    // `black_box` keeps the frames real (no tail call, no folding).
    std::hint::black_box(&mut local);
    recurse(depth + 1, &mut local) + u64::from(local[0])
}

fn child(named: bool) {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let mut builder = spectrum_fiber::Builder::new().stack_size(64 * 1024);
    if named {
        builder = builder.name("deep-recursion");
    }
    let h = builder
        .spawn(|| {
            // Suspend once first: the overflow happens in a resumed fiber.
            use spectrum_rt::Wait;
            spectrum_rt::time::sleep(std::time::Duration::from_millis(1)).wait();
            let mut buf = [0u8; 512];
            recurse(0, &mut buf)
        })
        .unwrap();
    eprintln!("spawned task {}", h.id());
    let _ = spectrum_rt::Wait::wait(h);
    unreachable!("the overflow must abort the process");
}

fn run_child(test: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
    #[cfg(not(unix))]
    let signal = None;
    (signal, stderr)
}

#[test]
fn overflow_is_a_fatal_error_naming_the_fiber() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("overflow_is_a_fatal_error_naming_the_fiber") {
        child(true);
    }
    let (signal, stderr) = run_child("overflow_is_a_fatal_error_naming_the_fiber");
    assert_eq!(
        signal,
        Some(libc::SIGABRT),
        "child should abort; stderr:\n{stderr}"
    );
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("spawned task "))
        .expect("the child printed its fiber's id")
        .to_owned();
    let expected = format!(
        "fatal runtime error: fiber \"deep-recursion\" (task {id}) overflowed its stack of"
    );
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
    assert!(stderr.contains("Builder::stack_size"), "stderr:\n{stderr}");
}

#[test]
fn an_unnamed_fiber_is_reported_too() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("an_unnamed_fiber_is_reported_too") {
        child(false);
    }
    let (signal, stderr) = run_child("an_unnamed_fiber_is_reported_too");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr:\n{stderr}");
    assert!(
        stderr.contains("fatal runtime error: fiber \"<unnamed>\" (task #"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn a_thread_overflow_is_still_reported_by_std() {
    // The fiber handler chains to the previous one: a plain thread's overflow keeps std's
    // message.
    if std::env::var(CHILD_ENV).as_deref() == Ok("a_thread_overflow_is_still_reported_by_std") {
        let rt = spectrum_rt::Runtime::new().unwrap();
        let _guard = rt.enter();
        // Install the fiber handler first.
        spectrum_rt::Wait::wait(spectrum_fiber::spawn(|| 1)).unwrap();
        let t = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let mut buf = [0u8; 512];
                recurse(0, &mut buf)
            })
            .unwrap();
        let _ = t.join();
        unreachable!();
    }
    let (signal, stderr) = run_child("a_thread_overflow_is_still_reported_by_std");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr:\n{stderr}");
    assert!(
        stderr.contains("has overflowed its stack"),
        "stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("fatal runtime error: fiber"),
        "stderr:\n{stderr}"
    );
}
