//! `select` over 4 ready channels: Spectrum's `select!` (and its reusable `Select` builder)
//! against crossbeam-channel's `select!`, in the same process, alternating, median of several
//! repetitions.
//!
//! Each iteration selects a receive among 4 channels that always hold values, then puts the
//! value back, so every case is ready every time and the choice among them is random.
//!
//! ```text
//! cargo bench -p spectrum-chan --bench select
//! ```

// The dev-dependencies (peers, runtime helpers) are not built under `cfg(loom)`.
#[cfg(not(loom))]
mod imp {
    use std::time::{Duration, Instant};

    use spectrum_rt::Wait;

    fn spectrum_macro(iters: usize) -> Duration {
        let chans: Vec<_> = (0..4)
            .map(|_| spectrum_chan::bounded::<usize>(64))
            .collect();
        for (tx, _) in &chans {
            for i in 0..32 {
                tx.try_send(i).unwrap();
            }
        }
        let (r0, r1, r2, r3) = (&chans[0].1, &chans[1].1, &chans[2].1, &chans[3].1);
        let start = Instant::now();
        for _ in 0..iters {
            let (i, v) = spectrum_chan::select! {
                wait;
                recv(r0) -> v => (0, v),
                recv(r1) -> v => (1, v),
                recv(r2) -> v => (2, v),
                recv(r3) -> v => (3, v),
            };
            chans[i].0.try_send(v.unwrap()).unwrap();
        }
        start.elapsed()
    }

    fn spectrum_builder(iters: usize) -> Duration {
        let chans: Vec<_> = (0..4)
            .map(|_| spectrum_chan::bounded::<usize>(64))
            .collect();
        for (tx, _) in &chans {
            for i in 0..32 {
                tx.try_send(i).unwrap();
            }
        }
        let mut sel = spectrum_chan::Select::new();
        for (_, rx) in &chans {
            sel.recv(rx);
        }
        let start = Instant::now();
        for _ in 0..iters {
            let op = sel.select().wait();
            let i = op.index();
            let v = op.recv(&chans[i].1).unwrap();
            chans[i].0.try_send(v).unwrap();
        }
        start.elapsed()
    }

    fn crossbeam(iters: usize) -> Duration {
        let chans: Vec<_> = (0..4)
            .map(|_| crossbeam_channel::bounded::<usize>(64))
            .collect();
        for (tx, _) in &chans {
            for i in 0..32 {
                tx.try_send(i).unwrap();
            }
        }
        let (r0, r1, r2, r3) = (&chans[0].1, &chans[1].1, &chans[2].1, &chans[3].1);
        let start = Instant::now();
        for _ in 0..iters {
            let (i, v) = crossbeam_channel::select! {
                recv(r0) -> v => (0, v),
                recv(r1) -> v => (1, v),
                recv(r2) -> v => (2, v),
                recv(r3) -> v => (3, v),
            };
            chans[i].0.try_send(v.unwrap()).unwrap();
        }
        start.elapsed()
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    pub(crate) fn main() {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let iters = env("SPECTRUM_BENCH_MSGS", 1_000_000);
        let reps = env("SPECTRUM_BENCH_REPS", 5);
        type Run = (&'static str, fn(usize) -> Duration);
        let entries: [Run; 3] = [
            ("spectrum select!", spectrum_macro),
            ("spectrum Select (reused)", spectrum_builder),
            ("crossbeam select!", crossbeam),
        ];
        for (_, f) in &entries {
            f(iters / 10);
        }
        let mut rates = vec![Vec::new(); entries.len()];
        for _ in 0..reps {
            for (i, (_, f)) in entries.iter().enumerate() {
                rates[i].push(iters as f64 / f(iters).as_secs_f64());
            }
        }
        let med: Vec<f64> = rates.into_iter().map(median).collect();
        println!("median of {reps} alternating runs, {iters} selects each, M selects/s");
        let cells: Vec<String> = entries
            .iter()
            .zip(&med)
            .map(|((n, _), m)| format!("{n}={:.2}M", m / 1e6))
            .collect();
        println!(
            "{:<28} {}  | spectrum select!/crossbeam = {:.2}x",
            "select 4 ready channels",
            cells.join(" "),
            med[0] / med[2]
        );
    }
}

fn main() {
    #[cfg(not(loom))]
    imp::main();
}
