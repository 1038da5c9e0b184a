//! Skynet across models and languages in one run: Spectrum tasks, fibers, channels, actors and
//! streams, tokio, may's coroutines, and Go and Erlang where installed. The same suite as `spectrum
//! bench`, plus may (whose `spawn` is `unsafe`, so it stays out of the `spectrum` binary).
//!
//! `cargo bench -p spectrum-cli --bench skynet [-- --quick]` (`SKYNET_REPS` sets repetitions).

use std::time::{Duration, Instant};

// The binary's suite, compiled in here (a bench target cannot link a binary crate).
#[allow(dead_code, unused_imports)]
#[path = "../src/bench/peers.rs"]
mod peers;
#[allow(dead_code, unused_imports)]
#[path = "../src/bench/skynet.rs"]
mod skynet;
#[allow(dead_code, unused_imports)]
#[path = "../src/bench/suite.rs"]
mod suite;

fn may_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let sub = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| {
            // SAFETY: may's `spawn` is unsafe because a coroutine must not block its thread in
            // OS calls or use thread-locals across yields, and must fit its stack; this closure
            // only recurses (6 levels, a few hundred bytes of frame each) and joins coroutines.
            unsafe { may::coroutine::spawn(move || may_node(num + i * sub, sub)) }
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.join().expect("skynet coroutine"))
        .sum()
}

fn may_skynet(leaves: u64) -> (u64, Duration) {
    let t = Instant::now();
    // SAFETY: as in `may_node`.
    let root = unsafe { may::coroutine::spawn(move || may_node(0, leaves)) };
    let r = root.join().expect("skynet root coroutine");
    (r, t.elapsed())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let leaves: u64 = if quick { 100_000 } else { 1_000_000 };
    let reps: usize = std::env::var("SKYNET_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 3 } else { 5 });
    may::config().set_workers(2);
    // `spectrum bench`'s contenders (`src/bench/mod.rs`), plus may. Each run builds a fresh
    // runtime. Fibers run 100k leaves (a 1M-leaf tree keeps more waiting at once than the stack
    // budget); may runs 10k: it maps every coroutine's stack at spawn, and 100k leaves already
    // end in ENOMEM (`vm.max_map_count`) on a default Linux.
    let small = leaves.min(skynet::FIBER_LEAVES);
    let tiny = leaves.min(10_000);
    let mut cs = vec![
        skynet::contender("spectrum-tasks", 1, leaves),
        skynet::contender("tokio", 1, leaves),
        skynet::contender("spectrum-tasks", 2, leaves),
        skynet::contender("tokio", 2, leaves),
        skynet::contender("spectrum-fibers", 2, small),
        suite::Contender {
            name: "may coroutines".into(),
            family: "may",
            workers: 2,
            leaves: tiny,
            run: Box::new(move || may_skynet(tiny)),
        },
        skynet::contender("spectrum-channels", 2, leaves),
        skynet::contender("spectrum-actors", 2, leaves),
        skynet::contender("spectrum-streams", 2, leaves),
        skynet::contender("spectrum-streams-tasks", 2, leaves),
    ];
    let mut all = suite::run(reps, &mut cs, false);
    drop(cs);
    for (name, family, run) in [
        (
            "Go goroutines + unbuffered channels",
            "go",
            peers::go_skynet(leaves, reps, 2),
        ),
        (
            "Erlang processes + messages",
            "erlang",
            peers::erlang_skynet(leaves, reps, 2),
        ),
    ] {
        all.push(suite::peer(name, family, 2, leaves, run));
    }
    print!("{}", suite::table(reps, &all));
}
