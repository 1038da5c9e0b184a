//! `spectrum dump <pid>` against another process: `spectrum __dump-demo` serves an endpoint with
//! three stuck tasks (a timer an hour away, a join on it, a worker held by `std::thread::sleep`);
//! the dump, as text and as JSON, names each with what it waits on.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const SPECTRUM: &str = env!("CARGO_BIN_EXE_spectrum");

/// Kills the child however the test ends, removes its socket, and shows its stderr if the test
/// failed.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // SIGKILL leaves the socket behind (the next process with this pid would replace it).
        let _ = std::fs::remove_file(spectrum_diag::socket_path(self.0.id()));
        if std::thread::panicking() {
            let mut err = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            eprintln!("--- stderr of spectrum __dump-demo ---\n{err}");
        }
    }
}

fn dump(args: &[&str]) -> Output {
    Command::new(SPECTRUM)
        .arg("dump")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn dump_shows_a_running_programs_tasks_and_what_they_wait_on() {
    let mut demo = Demo(
        Command::new(SPECTRUM)
            .arg("__dump-demo")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Handshake: the demo prints `ready <pid>` once a dump shows every task settled.
    let mut line = String::new();
    BufReader::new(demo.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = demo.0.id();
    assert_eq!(line.trim_end(), format!("ready {pid}"));
    let pid = pid.to_string();

    let text = stdout(&dump(&[&pid]));
    assert!(text.starts_with("Spectrum runtime: "), "{text}");
    let task_line = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!("\"{name}\"")))
            .unwrap_or_else(|| panic!("no {name}:\n{text}"))
    };
    assert!(
        task_line("sleeper").contains("waiting on a timer (in "),
        "{text}"
    );
    let sleeper_id = task_line("sleeper")
        .split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .unwrap()
        .to_owned();
    assert!(
        task_line("joiner").contains(&format!("waiting on task #{sleeper_id}")),
        "{text}"
    );
    assert!(task_line("blocker").contains("Running"), "{text}");
    let blocker_id: u64 = task_line("blocker")
        .split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        text.contains(&format!("polling task #{blocker_id}")),
        "{text}"
    );

    let json = stdout(&dump(&[&pid, "--json"]));
    let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let tasks = doc["tasks"].as_array().unwrap();
    let task = |name: &str| {
        tasks
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {json}"))
    };
    assert!(task("sleeper")["waiting_on"]
        .as_str()
        .unwrap()
        .starts_with("timer"));
    assert!(task("sleeper")["timer_in_ms"].as_u64().unwrap() > 3_500_000);
    assert_eq!(
        task("joiner")["waiting_on"],
        format!("task #{sleeper_id}").as_str()
    );
    assert_eq!(task("blocker")["state"], "Running");
    assert!(doc["workers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["activity"] == "polling" && w["task"].as_u64() == Some(blocker_id)));
    drop(demo);
}

#[test]
fn dump_of_a_process_without_an_endpoint_says_how_to_get_one() {
    let mut child = Demo(
        Command::new("sleep")
            .arg("60")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let out = dump(&[&pid.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "spectrum dump: process {pid} has no Spectrum dump endpoint: run it with \
             SPECTRUM_DUMP=1 or call spectrum_diag::serve"
        )),
        "{err}"
    );
    let _ = child.0.kill();

    let out = dump(&["0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "spectrum dump: no process with pid 0\n"
    );
}
