//! The child side of the tour: `spectrum __tour-child --model M --workload W --sizes JSON` runs
//! one (model, workload) pair in a fresh process, measures it, and prints one JSON line
//! ([`Sample`]). A fresh process per pair keeps each memory figure to that pair alone.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::scope::BoxError;

use super::measure::{hwm, quantile_ms, rss, Gauge, Live, Sampler};
use super::model::{self, Cx, Model};
use super::workload::{Sample, Sizes, Workload};

/// Runs the pair and prints its sample; returns the process exit code.
pub fn main(model: &str, workload: &str, sizes: &str) -> i32 {
    let mut sample = Sample {
        model: model.into(),
        workload: workload.into(),
        ..Sample::default()
    };
    if let Err(e) = run(model, workload, sizes, &mut sample) {
        sample.error = Some(e.to_string());
    }
    let line = serde_json::to_string(&sample).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    i32::from(sample.error.is_some())
}

fn run(model: &str, workload: &str, sizes: &str, sample: &mut Sample) -> Result<(), BoxError> {
    let m = model::find(model).ok_or_else(|| format!("no model `{model}`"))?;
    let w = Workload::from_id(workload).ok_or_else(|| format!("no workload `{workload}`"))?;
    let sizes: Sizes = serde_json::from_str(sizes)?;
    let rt = spectrum::Runtime::builder()
        .max_blocking_threads(sizes.fanout_pool)
        .build()?;
    let _entered = rt.enter();
    let cx = Cx {
        rt: &rt,
        sizes: &sizes,
    };
    let mut metrics = BTreeMap::new();
    let baseline = rss();
    let start = Instant::now();
    match w {
        Workload::FanOut => {
            let inflight = Arc::new(Gauge::default());
            let mut run = m.fan_out(&cx, &inflight)?;
            run.latencies.sort();
            let n = run.latencies.len();
            let peak = hwm().saturating_sub(baseline) as f64;
            sample.units = n;
            metrics.insert("throughput", n as f64 / run.total.as_secs_f64());
            metrics.insert("p50_ms", quantile_ms(&run.latencies, 0.50));
            metrics.insert("p99_ms", quantile_ms(&run.latencies, 0.99));
            metrics.insert("peak_bytes", peak);
            metrics.insert("max_inflight", inflight.max() as f64);
            metrics.insert("bytes_per_inflight", peak / inflight.max().max(1) as f64);
        }
        Workload::Connections => {
            let (before, with, connect, rounds) = connections(m, &cx)?;
            let n = sizes.conn_clients;
            sample.units = n;
            metrics.insert("bytes_per_conn", (with as f64 - before as f64) / n as f64);
            metrics.insert("connect_ms", connect.as_secs_f64() * 1e3);
            metrics.insert(
                "roundtrips",
                (n * sizes.conn_rounds) as f64 / rounds.as_secs_f64(),
            );
            sample.mem.baseline = before;
        }
        Workload::PipelineBounded | Workload::PipelineUnbounded => {
            let queued = Arc::new(Gauge::default());
            let sampler = Sampler::start(Duration::from_millis(5), queued.clone());
            let t = Instant::now();
            m.pipeline(&cx, w == Workload::PipelineBounded, &queued)?;
            let took = t.elapsed();
            sample.series = sampler.finish();
            sample.units = sizes.pipe_items;
            metrics.insert("items_per_s", sizes.pipe_items as f64 / took.as_secs_f64());
            metrics.insert("max_queued", queued.max() as f64);
            metrics.insert("peak_bytes", hwm().saturating_sub(baseline) as f64);
        }
        Workload::Cancel => {
            let n = m.info().cap(w, &sizes);
            let live = Live::default();
            let run = m.cancel(&cx, n, &live)?;
            sample.units = n;
            metrics.insert("cancel_ms", run.stop.as_secs_f64() * 1e3);
            metrics.insert(
                "bytes_per_unit",
                (run.rss_started as f64 - baseline as f64) / n as f64,
            );
            metrics.insert("left", live.live() as f64);
        }
        Workload::Spawn => {
            let n = m.info().cap(w, &sizes);
            let t = Instant::now();
            m.spawn_join(&cx, n)?;
            let took = t.elapsed();
            sample.units = n;
            metrics.insert("ns_per_unit", took.as_nanos() as f64 / n as f64);
            metrics.insert(
                "peak_bytes_per_unit",
                hwm().saturating_sub(baseline) as f64 / n as f64,
            );
        }
        Workload::Parked => {
            let n = m.info().cap(w, &sizes);
            let live = Live::default();
            let guard = m.parked(&cx, n, &live)?;
            let with = rss();
            sample.units = n;
            metrics.insert("bytes_per_unit", (with as f64 - baseline as f64) / n as f64);
            // The process exits next; tearing a million units down would only cost time.
            std::mem::forget(guard);
        }
    }
    sample.wall_s = start.elapsed().as_secs_f64();
    sample.metrics = metrics
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    if sample.mem.baseline == 0 {
        sample.mem.baseline = baseline;
    }
    sample.mem.peak = hwm();
    sample.mem.end = rss();
    let cap_note = match w {
        Workload::Cancel | Workload::Spawn | Workload::Parked
            if m.info().cap(w, &sizes) < full_count(w, &sizes) =>
        {
            format!(
                "capped at {} {} (of {})",
                m.info().cap(w, &sizes),
                m.info().id,
                full_count(w, &sizes)
            )
        }
        _ => String::new(),
    };
    sample.note = cap_note;
    // Leave without tearing the runtime down (it may hold a million parked units).
    std::mem::forget(rt);
    Ok(())
}

fn full_count(w: Workload, s: &Sizes) -> usize {
    match w {
        Workload::Cancel => s.cancel_units,
        Workload::Spawn => s.spawn_units,
        Workload::Parked => s.parked_units,
        _ => 0,
    }
}

/// The server side of the connections workload: starts the model's echo server, runs the client
/// process against it, and returns (VmRSS before the clients, VmRSS with all connected and idle,
/// time to connect all, time of the round trips).
fn connections(m: &dyn Model, cx: &Cx<'_>) -> Result<(u64, u64, Duration, Duration), BoxError> {
    let s = cx.sizes;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    m.echo_server(cx, listener)?;
    std::thread::sleep(Duration::from_millis(20));
    let before = rss();
    let mut client = Command::new(std::env::current_exe()?)
        .args([
            "__tour-client",
            "--addr",
            &addr.to_string(),
            "--clients",
            &s.conn_clients.to_string(),
            "--rounds",
            &s.conn_rounds.to_string(),
            "--bytes",
            &s.conn_bytes.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdin = client.stdin.take().ok_or("no client stdin")?;
    let mut lines = BufReader::new(client.stdout.take().ok_or("no client stdout")?).lines();
    let mut expect = |word: &str| -> Result<f64, BoxError> {
        let line = lines
            .next()
            .ok_or_else(|| format!("the client exited before `{word}`"))??;
        let v = line
            .strip_prefix(word)
            .ok_or_else(|| format!("the client said `{line}`, expected `{word}`"))?;
        Ok(v.trim().parse::<f64>()?)
    };
    let connect = expect("ready")?;
    // Let every server unit go back to waiting on its socket before reading memory.
    std::thread::sleep(Duration::from_millis(100));
    let with = rss();
    writeln!(stdin, "go")?;
    stdin.flush()?;
    let rounds = expect("done")?;
    drop(stdin);
    let status = client.wait()?;
    if !status.success() {
        return Err(format!("the client failed: {status}").into());
    }
    Ok((
        before,
        with,
        Duration::from_secs_f64(connect / 1e3),
        Duration::from_secs_f64(rounds),
    ))
}
