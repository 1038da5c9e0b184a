//! `spectrum tour --quick --json` end to end at tiny sizes: every available model runs every
//! workload in its own child process, the JSON has the documented shape, and the HTML report is
//! self-contained (no network references) with one SVG per chart that carries the measured
//! numbers.

use std::process::Command;

use serde_json::Value;

const WORKLOADS: [&str; 7] = [
    "fan-out",
    "connections",
    "pipeline-bounded",
    "pipeline-unbounded",
    "cancel",
    "spawn",
    "parked",
];

/// The metrics each workload must report (see `METRICS` in `src/tour/workload.rs`).
fn required(workload: &str) -> &'static [&'static str] {
    match workload {
        "fan-out" => &[
            "throughput",
            "p50_ms",
            "p99_ms",
            "peak_bytes",
            "bytes_per_inflight",
        ],
        "connections" => &["bytes_per_conn", "roundtrips", "connect_ms"],
        "pipeline-bounded" | "pipeline-unbounded" => &["peak_bytes", "max_queued", "items_per_s"],
        "cancel" => &["cancel_ms", "bytes_per_unit", "left"],
        "spawn" => &["ns_per_unit", "peak_bytes_per_unit"],
        "parked" => &["bytes_per_unit"],
        _ => unreachable!(),
    }
}

#[test]
fn quick_json_tour_runs_every_model_and_writes_a_self_contained_report() {
    let dir = std::env::temp_dir().join(format!("spectrum-tour-test-{}", std::process::id()));
    let html_path = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_spectrum"))
        .args(["tour", "--quick", "--json", "--scale", "0.05", "--out"])
        .arg(&html_path)
        .output()
        .expect("run spectrum tour");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tour failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");

    // Rows: the seed's eight, in its order; the ones not yet built say so.
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "threads",
            "callbacks",
            "promises",
            "tasks",
            "fibers",
            "actors",
            "channels",
            "streams"
        ]
    );
    let available: Vec<&str> = rows
        .iter()
        .filter(|r| r["available"] == true)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(available.len() >= 6, "{available:?}");
    for r in rows {
        for p in ["sync_style", "cancellation", "backpressure"] {
            assert!(r[p]["value"].as_str().is_some_and(|v| !v.is_empty()), "{r}");
        }
        if r["available"] == false {
            assert!(r["why_not"].as_str().unwrap().contains("not yet available"));
        } else {
            assert_eq!(r["does"].as_object().unwrap().len(), WORKLOADS.len());
        }
    }

    // Samples: one per (available model, workload), none failed, every figure present.
    let samples = report["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), available.len() * WORKLOADS.len());
    for model in &available {
        for w in WORKLOADS {
            let s = samples
                .iter()
                .find(|s| s["model"] == *model && s["workload"] == w)
                .unwrap_or_else(|| panic!("no sample for {model} / {w}"));
            assert!(s.get("error").is_none(), "{model} / {w} failed: {s}");
            assert!(s["units"].as_u64().unwrap() > 0, "{model} / {w}: {s}");
            assert!(
                s["mem"]["peak"].as_u64().unwrap() > 0,
                "{model} / {w}: no memory figure"
            );
            for key in required(w) {
                let v = s["metrics"][key].as_f64();
                assert!(
                    v.is_some_and(f64::is_finite),
                    "{model} / {w}: no `{key}` in {s}"
                );
            }
            if w == "cancel" {
                assert_eq!(
                    s["metrics"]["left"], 0.0,
                    "{model}: units left after cancel"
                );
            }
            if w.starts_with("pipeline") {
                assert!(s["series"].as_array().is_some_and(|p| !p.is_empty()));
            }
            if w == "pipeline-bounded" {
                let cap = report["sizes"]["pipe_cap"].as_f64().unwrap();
                let queued = s["metrics"]["max_queued"].as_f64().unwrap();
                // The producer counts an item just before handing it over: the bound, plus at
                // most one in hand per producer and consumer.
                assert!(
                    queued <= cap + 2.0,
                    "{model}: {queued} queued past the bound {cap}"
                );
            }
        }
    }

    // The HTML: written where asked, self-contained, a chart per figure with its numbers.
    let html = std::fs::read_to_string(&html_path).expect("the HTML report");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "network reference"
    );
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "external resource"
    );
    let charts = 10 + available.len(); // 9 bar charts, 1 grouped, 1 memory-over-time chart per model
    assert_eq!(html.matches("<svg").count(), charts, "one <svg> per chart");
    // Every fan-out throughput shows in its chart, formatted as in the tables.
    let fan_chart = html
        .split("<svg")
        .find(|c| c.contains("Fan-out throughput"))
        .expect("the fan-out throughput chart");
    for model in &available {
        let v = samples
            .iter()
            .find(|s| s["model"] == *model && s["workload"] == "fan-out")
            .unwrap()["metrics"]["throughput"]
            .as_f64()
            .unwrap();
        let shown = format_rate(v);
        assert!(
            fan_chart.contains(&format!(">{shown}<")),
            "{model}: {shown} not in the chart"
        );
    }
    assert!(
        std::fs::metadata(html_path.with_extension("json")).is_ok(),
        "JSON beside the HTML"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report's rate format (`Unit::PerSecond`).
fn format_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k/s", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1} k/s", v / 1e3)
    } else {
        format!("{v:.0} /s")
    }
}

#[test]
fn unknown_models_and_workloads_are_refused() {
    for args in [["--models", "nope"], ["--workloads", "nope"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_spectrum"))
            .arg("tour")
            .args(args)
            .output()
            .expect("run spectrum tour");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no "));
    }
}
