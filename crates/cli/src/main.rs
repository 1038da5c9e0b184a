//! The `spectrum` command: demonstrates the runtime doing real work and prints what it measured.
//!
//! `spectrum demo` runs a handful of workloads (spawning, fan-out with timeouts, structured
//! cancellation, timers, TCP echo, parked-task memory) on the Spectrum runtime and prints a table.
//! It grows into `spectrum tour` as the other models land.
#![forbid(unsafe_code)]

mod demo;

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
    /// Run the runtime through real workloads and print what was measured.
    Demo {
        /// Smaller sizes (a few seconds).
        #[arg(long)]
        quick: bool,
        /// Worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { quick, workers } => {
            if let Err(e) = demo::run(quick, workers) {
                eprintln!("spectrum demo: {e}");
                std::process::exit(1);
            }
        }
    }
}
