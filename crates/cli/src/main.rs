//! The `spectrum` command: every async model on one scheduler, measured.
//!
//! - `spectrum tour` runs the same five workloads (fan-out server, connection per user,
//!   pipeline with backpressure, cancellation, spawn and stack cost) under every model, each
//!   (model, workload) pair in a child process of its own, prints the seed's cheat sheet with
//!   measured columns and writes a self-contained HTML report.
//! - `spectrum bench` runs skynet (1M leaves in a 10-ary tree) on Spectrum's tasks, fibers,
//!   channels, actors and reactive streams beside tokio in the same process, and beside Go and
//!   Erlang where they are installed.
//! - `spectrum demo` is the runtime core alone on real work.
//! - `spectrum dump <pid>` prints the task dump of a running program that serves one
//!   (`spectrum_diag`).
#![forbid(unsafe_code)]

mod bench;
mod demo;
mod dump;
mod tour;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "spectrum",
    version,
    about = "Every async model on one scheduler, measured."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every model through the same workloads; print the measured cheat sheet and write an
    /// HTML report.
    Tour {
        /// Small sizes (about 10 s).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Large sizes (several minutes).
        #[arg(long)]
        full: bool,
        /// Print the whole report as JSON on stdout (the tables are not printed).
        #[arg(long)]
        json: bool,
        /// Where to write the HTML report (the JSON goes beside it, `.json`); default: a
        /// `spectrum-tour` folder in the system's temporary directory.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only these models (comma-separated ids: threads, callbacks, promises, tasks, fibers,
        /// actors, channels, streams).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Only these workloads (comma-separated: fan-out, connections, pipeline-bounded,
        /// pipeline-unbounded, cancel, spawn, parked).
        #[arg(long, value_delimiter = ',')]
        workloads: Vec<String>,
        /// Multiply every count by this factor (for tests).
        #[arg(long, default_value_t = 1.0, hide = true)]
        scale: f64,
        /// Render the tables and the HTML report again from a report's JSON, without running.
        #[arg(long, value_name = "JSON")]
        from_json: Option<PathBuf>,
    },
    /// Skynet (1M leaves in a 10-ary tree) on Spectrum tasks, fibers, channels, actors and streams
    /// beside tokio, and beside Go and Erlang where installed; prints ratios.
    Bench {
        /// Fewer repetitions and a smaller tree (100k leaves).
        #[arg(long)]
        quick: bool,
        /// Print the results as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Repetitions per contender (median reported).
        #[arg(long)]
        reps: Option<usize>,
        /// Only the contenders whose name or family contains this (e.g. `tokio`, `fibers`, `go`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Run the runtime through real workloads and print what was measured.
    Demo {
        /// Smaller sizes (a few seconds).
        #[arg(long)]
        quick: bool,
        /// Worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Print the task dump of a running Spectrum program (run with SPECTRUM_DUMP=1, or calling
    /// `spectrum_diag::serve`): the tree of tasks and scopes and what each one waits on.
    Dump {
        /// The program's process id.
        #[arg(required_unless_present = "socket")]
        pid: Option<u32>,
        /// Print the dump as JSON.
        #[arg(long)]
        json: bool,
        /// Ask the endpoint at this socket instead (a second runtime's `<pid>-2.sock`, say).
        #[arg(long, value_name = "PATH", conflicts_with = "pid")]
        socket: Option<PathBuf>,
    },
    /// A program stuck three ways that serves a dump endpoint (for the tests of `dump`).
    #[command(name = "__dump-demo", hide = true)]
    DumpDemo,
    /// One (model, workload) pair of the tour, in this process (the tour runs it in a child).
    #[command(name = "__tour-child", hide = true)]
    TourChild {
        #[arg(long)]
        model: String,
        #[arg(long)]
        workload: String,
        #[arg(long)]
        sizes: String,
    },
    /// The clients of the tour's connections workload (run by its child).
    #[command(name = "__tour-client", hide = true)]
    TourClient {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        clients: usize,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        bytes: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tour {
            quick,
            full,
            json,
            out,
            models,
            workloads,
            scale,
            from_json,
        } => {
            let profile = if quick {
                "quick"
            } else if full {
                "full"
            } else {
                "default"
            };
            tour::run(&tour::Options {
                profile: profile.into(),
                scale,
                json,
                out,
                models,
                workloads,
                from_json,
            })
            .map_err(|e| ("tour", e))
        }
        Command::Bench {
            quick,
            json,
            reps,
            only,
        } => bench::run(quick, json, reps, only.as_deref()).map_err(|e| ("bench", e)),
        Command::Demo { quick, workers } => demo::run(quick, workers).map_err(|e| ("demo", e)),
        Command::Dump { pid, json, socket } => {
            dump::run(pid, socket.as_deref(), json).map_err(|e| ("dump", e))
        }
        Command::DumpDemo => dump::demo().map_err(|e| ("dump demo", e)),
        Command::TourChild {
            model,
            workload,
            sizes,
        } => std::process::exit(tour::child::main(&model, &workload, &sizes)),
        Command::TourClient {
            addr,
            clients,
            rounds,
            bytes,
        } => tour::client::main(addr, clients, rounds, bytes).map_err(|e| ("tour client", e)),
    };
    if let Err((what, e)) = result {
        eprintln!("spectrum {what}: {e}");
        std::process::exit(1);
    }
}
