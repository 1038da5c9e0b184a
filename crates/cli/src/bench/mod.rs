//! `spectrum bench`: skynet on Spectrum's tasks, fibers, channels, actors and streams beside tokio
//! (same process, interleaved), and beside Go and Erlang when they are installed.
//!
//! `cargo bench -p spectrum-cli --bench skynet` runs the same suite plus may's coroutines (may's
//! `spawn` is `unsafe`, which this binary forbids). The per-crate suites (`cargo bench -p
//! spectrum-rt --bench vs_tokio`, `-p spectrum-chan`, `-p spectrum-promise`, `-p
//! spectrum-fiber`, `-p spectrum-resilience`, `-p spectrum-stream`) compare each model with its
//! Rust peers.

pub mod peers;
pub mod skynet;
pub mod suite;

use std::io::IsTerminal;

use spectrum::scope::BoxError;

use suite::Contender;

/// The contenders of `spectrum bench`, in order. Each run builds a fresh runtime, so idle
/// runtimes of other contenders never compete for the CPUs.
pub fn contenders(leaves: u64) -> Vec<Contender<'static>> {
    vec![
        skynet::contender("spectrum-tasks", 1, leaves),
        skynet::contender("tokio", 1, leaves),
        skynet::contender("spectrum-tasks", 2, leaves),
        skynet::contender("tokio", 2, leaves),
        skynet::contender("spectrum-fibers", 2, leaves.min(skynet::FIBER_LEAVES)),
        skynet::contender("spectrum-channels", 2, leaves),
        skynet::contender("spectrum-actors", 2, leaves),
        skynet::contender("spectrum-streams", 2, leaves),
        skynet::contender("spectrum-streams-tasks", 2, leaves),
    ]
}

/// The Go and Erlang peers, or why they did not run.
pub fn external(leaves: u64, reps: usize, workers: usize) -> Vec<suite::Outcome> {
    vec![
        suite::peer(
            "Go goroutines + unbuffered channels",
            "go",
            workers,
            leaves,
            peers::go_skynet(leaves, reps, workers),
        ),
        suite::peer(
            "Erlang processes + messages",
            "erlang",
            workers,
            leaves,
            peers::erlang_skynet(leaves, reps, workers),
        ),
    ]
}

pub fn run(
    quick: bool,
    json: bool,
    reps: Option<usize>,
    only: Option<&str>,
) -> Result<(), BoxError> {
    let leaves: u64 = if quick { 100_000 } else { 1_000_000 };
    let reps = reps.unwrap_or(if quick { 3 } else { 5 }).max(1);
    let mut cs = contenders(leaves);
    if let Some(only) = only {
        cs.retain(|c| c.name.contains(only) || c.family.contains(only));
    }
    let progress = !json && std::io::stderr().is_terminal();
    let mut all = suite::run(reps, &mut cs, progress);
    drop(cs);
    if only.is_none_or(|o| "go erlang".contains(o)) {
        all.extend(external(leaves, reps, 2));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "workload": "skynet",
                "leaves": leaves,
                "answer": skynet::answer(leaves),
                "reps": reps,
                "results": all,
            }))?
        );
    } else {
        print!("{}", suite::table(reps, &all));
        println!(
            "\nRatios: time per unit / the peer's, below 1.0 is faster. Go and Erlang run as their \
             own processes (bench/peers/) with 2 schedulers. Fibers run {} leaves: a \
             1M-leaf tree keeps more fibers waiting than the stack budget ({}). may's coroutines: \
             `cargo bench -p spectrum-cli --bench skynet`.",
            skynet::FIBER_LEAVES,
            spectrum::fiber::max_stacks()
        );
        let reports = skynet::watchdog_reports();
        if reports > 0 {
            println!(
                "Spectrum's long-poll watchdog reported {reports} polls over its threshold during \
                 the runs (counted, not printed)."
            );
        }
    }
    if all.iter().any(|o| o.median_ms.is_some() && !o.correct) {
        return Err("a contender computed the wrong answer".into());
    }
    Ok(())
}
