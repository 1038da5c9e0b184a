//! Go and Erlang peers (`bench/peers/` in the repository): built and run in the same invocation
//! as the Rust contenders when `go` / `erl` + `erlc` are on `PATH`.
//!
//! The sources are compiled into the binary (`include_str!`) and written to a temporary folder
//! at run time, so `spectrum bench` needs no checkout.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a peer may run before it is stopped and reported as failed.
const PEER_LIMIT: Duration = Duration::from_secs(300);

const SKYNET_GO: &str = include_str!("../../../../bench/peers/skynet.go");
const SKYNET_ERL: &str = include_str!("../../../../bench/peers/skynet.erl");

/// What one peer gave: its per-repetition times, or why it did not run.
#[derive(Debug, Clone)]
pub enum PeerRun {
    Ran { times: Vec<Duration>, result: u64 },
    Missing(String),
    Failed(String),
}

/// Runs `cmd` to completion, or stops it after [`PEER_LIMIT`].
fn run_limited(cmd: &mut Command) -> std::io::Result<Output> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > PEER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!(
                "timed out after {PEER_LIMIT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn tool(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn workdir(name: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("spectrum-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Parses `skynet <lang> leaves=N result=R ns=T` lines.
pub fn parse(out: &str) -> Result<(Vec<Duration>, u64), String> {
    let mut times = Vec::new();
    let mut result = 0;
    for line in out.lines().filter(|l| l.starts_with("skynet ")) {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("no `{k}` in `{line}`"))
        };
        result = field("result=")?;
        times.push(Duration::from_nanos(field("ns=")?));
    }
    if times.is_empty() {
        let first: String = out.trim().chars().take(160).collect();
        return Err(format!("no result lines in its output ({first} ...)"));
    }
    Ok((times, result))
}

fn finish(out: std::io::Result<std::process::Output>) -> PeerRun {
    match out {
        Ok(o) if o.status.success() => match parse(&String::from_utf8_lossy(&o.stdout)) {
            Ok((times, result)) => PeerRun::Ran { times, result },
            Err(e) => PeerRun::Failed(e),
        },
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            PeerRun::Failed(format!(
                "exit {}: {}",
                o.status,
                err.lines().next().unwrap_or("").trim()
            ))
        }
        Err(e) => PeerRun::Failed(e.to_string()),
    }
}

/// Go's skynet: `go build`, then run with `GOMAXPROCS` = `procs`.
pub fn go_skynet(leaves: u64, reps: usize, procs: usize) -> PeerRun {
    if !tool("go", &["version"]) {
        return PeerRun::Missing(
            "`go` is not installed (scripts/install-peers.sh installs it)".into(),
        );
    }
    let run = || -> std::io::Result<std::process::Output> {
        let dir = workdir("go")?;
        std::fs::write(dir.join("skynet.go"), SKYNET_GO)?;
        let bin = dir.join("skynet");
        let build = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg("skynet.go")
            .current_dir(&dir)
            .env("GOCACHE", dir.join("cache"))
            .env("GO111MODULE", "off")
            .output()?;
        if !build.status.success() {
            return Ok(build);
        }
        let out = run_limited(
            Command::new(&bin)
                .args([leaves.to_string(), reps.to_string()])
                .env("GOMAXPROCS", procs.to_string()),
        );
        let _ = std::fs::remove_dir_all(&dir);
        out
    };
    finish(run())
}

/// Erlang's skynet: `erlc`, then `erl -noshell` with `procs` schedulers.
pub fn erlang_skynet(leaves: u64, reps: usize, procs: usize) -> PeerRun {
    if !tool("erl", &["-noshell", "-eval", "halt()."]) {
        return PeerRun::Missing(
            "`erl` is not installed (scripts/install-peers.sh installs it)".into(),
        );
    }
    let run = || -> std::io::Result<std::process::Output> {
        let dir = workdir("erlang")?;
        std::fs::write(dir.join("skynet.erl"), SKYNET_ERL)?;
        let build = Command::new("erlc")
            .arg("skynet.erl")
            .current_dir(&dir)
            .output()?;
        if !build.status.success() {
            return Ok(build);
        }
        let sched = format!("{procs}:{procs}");
        // `+P`: room for every process of the tree at once (the default limit is 262 144).
        let out = run_limited(
            Command::new("erl")
                .args([
                    "+S", &sched, "+P", "4194304", "-noshell", "-run", "skynet", "main",
                ])
                .args([leaves.to_string(), reps.to_string()])
                .args(["-s", "init", "stop"])
                .current_dir(&dir),
        );
        let _ = std::fs::remove_dir_all(&dir);
        out
    };
    finish(run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peer_lines() {
        let out = "skynet go leaves=1000 result=499500 ns=1500\nnoise\nskynet go leaves=1000 result=499500 ns=900\n";
        let (times, result) = parse(out).unwrap();
        assert_eq!(result, 499_500);
        assert_eq!(
            times,
            [Duration::from_nanos(1500), Duration::from_nanos(900)]
        );
        assert!(parse("nothing").is_err());
    }

    #[test]
    fn the_peer_sources_compute_skynet() {
        assert!(SKYNET_GO.contains("func skynet(") && SKYNET_GO.contains("package main"));
        assert!(SKYNET_ERL.contains("-module(skynet)."));
    }
}
