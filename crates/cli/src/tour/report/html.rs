//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

use std::fmt::Write;

use super::svg::{self, escape, Bar, Series, BLUE, GREEN, RED};
use super::{cheat_sheet, failures, picking, section, thousands, Table};
use crate::tour::workload::{describe, format_bytes, metric, Workload};
use crate::tour::{Report, RowInfo};

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #475569; } .note { color: #475569; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid #e2e8f0; padding: 4px 8px; vertical-align: top; }
th { background: #f1f5f9; text-align: left; } td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.na td { color: #94a3b8; }
code { font-size: 12px; background: #f1f5f9; padding: 0 3px; border-radius: 3px; }
td code { word-break: break-word; } table.props td { max-width: 300px; } table.props code { word-break: break-all; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 24px; }
svg.chart { font-size: 12px; background: #fff; }
svg .ct { font-weight: 600; font-size: 13px; } svg .cl { text-anchor: end; fill: #334155; } svg .cv { fill: #0f172a; } svg .ca { fill: #64748b; font-size: 11px; text-anchor: end; }
.err { color: #b91c1c; }
"#;

/// Escapes `s` for HTML and turns Markdown code spans (`` `x` ``) into `<code>`.
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>spectrum tour</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>spectrum tour: every model, the same workloads, measured</h1><p class=\"meta\">Command <code>{}</code> · {} sizes · {} CPUs · {} · load average {:.1} → {:.1} · Spectrum {} · took {:.0} s. Each (model, workload) pair ran in a fresh child process that read its own <code>VmRSS</code> / <code>VmHWM</code> from <code>/proc/self/status</code>; every number on this page comes from this run.</p>",
        escape(&r.command),
        escape(&r.sizes.profile),
        r.machine.cpus,
        escape(&r.machine.os),
        r.machine.load.0,
        r.machine.load.1,
        escape(&r.spectrum_version),
        r.took_s
    );
    table(&mut h, &cheat_sheet(r), &[]);
    properties(&mut h, r);
    table(&mut h, &picking(r), &[]);

    // 1. Fan-out.
    workload_section(&mut h, r, 1, &[Workload::FanOut]);
    charts(
        &mut h,
        &[
            chart(
                r,
                Workload::FanOut,
                "throughput",
                "Fan-out throughput (requests/s)",
                BLUE,
            ),
            chart(r, Workload::FanOut, "p99_ms", "Fan-out p99 latency", RED),
            chart(
                r,
                Workload::FanOut,
                "bytes_per_inflight",
                "Memory per in-flight request",
                GREEN,
            ),
        ],
    );
    // 2. Connections.
    workload_section(&mut h, r, 2, &[Workload::Connections]);
    charts(
        &mut h,
        &[
            chart(
                r,
                Workload::Connections,
                "bytes_per_conn",
                "Server memory per connection",
                GREEN,
            ),
            chart(
                r,
                Workload::Connections,
                "roundtrips",
                "Echo round trips per second",
                BLUE,
            ),
        ],
    );
    // 3. Pipelines.
    workload_section(
        &mut h,
        r,
        3,
        &[Workload::PipelineBounded, Workload::PipelineUnbounded],
    );
    charts(&mut h, &[pipeline_peaks(r)]);
    pipeline_series(&mut h, r);
    // 4. Cancellation.
    workload_section(&mut h, r, 4, &[Workload::Cancel]);
    charts(
        &mut h,
        &[
            chart(
                r,
                Workload::Cancel,
                "cancel_ms",
                "Cancel → every unit stopped",
                RED,
            ),
            chart(
                r,
                Workload::Cancel,
                "bytes_per_unit",
                "Memory per running unit",
                GREEN,
            ),
        ],
    );
    // 5. Spawn and stack cost.
    workload_section(&mut h, r, 5, &[Workload::Spawn, Workload::Parked]);
    charts(
        &mut h,
        &[
            chart(
                r,
                Workload::Spawn,
                "ns_per_unit",
                "Spawn + join, per unit",
                BLUE,
            ),
            chart(
                r,
                Workload::Parked,
                "bytes_per_unit",
                "Memory per parked unit (stack cost)",
                GREEN,
            ),
        ],
    );

    let failed = failures(r);
    if !failed.is_empty() {
        h.push_str("<h2>Failed runs</h2><ul>");
        for s in failed {
            let _ = write!(
                h,
                "<li class=\"err\"><b>{} / {}</b>: {}</li>",
                escape(&s.model),
                escape(&s.workload),
                escape(s.error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("<h2>What each number is</h2><table><tr><th>Workload</th><th>Figure</th><th>What it is</th></tr>");
    for (w, m) in crate::tour::workload::METRICS {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.id(),
            escape(m.label),
            escape(m.what)
        );
    }
    h.push_str("</table><p class=\"note\">Memory is resident memory (RSS) as the kernel counts it: pages touched, not address space reserved. Freed memory often stays with the allocator, so RSS after a run says little; the cancellation workload counts drops instead. The machine is shared and noisy: compare rows of one run, not runs.</p></body></html>\n");
    h
}

fn table(h: &mut String, t: &Table, numeric_from: &[usize]) {
    let _ = write!(h, "<h2>{}</h2>", escape(&t.title));
    if !t.about.is_empty() {
        let _ = write!(h, "<p class=\"note\">{}</p>", text(&t.about));
    }
    table_body(h, t, numeric_from);
}

fn table_body(h: &mut String, t: &Table, numeric_from: &[usize]) {
    h.push_str("<table><tr>");
    for c in &t.header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>");
    for row in &t.rows {
        let na = row.get(1).is_some_and(|c| c == "not yet available");
        let _ = write!(h, "<tr{}>", if na { " class=\"na\"" } else { "" });
        for (i, c) in row.iter().enumerate() {
            let class = if numeric_from.contains(&i) {
                " class=\"n\""
            } else {
                ""
            };
            let span = if na && i == 1 && row.len() == 2 {
                format!(" colspan=\"{}\"", t.header.len() - 1)
            } else {
                String::new()
            };
            let _ = write!(h, "<td{class}{span}>{}</td>", text(c));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// The cheat-sheet properties with the tests that demonstrate them.
fn properties(h: &mut String, r: &Report) {
    h.push_str("<h3>Where each property is demonstrated</h3><p class=\"note\">Repository paths of the tests that show each cheat-sheet property (<code>file::test</code>).</p><table class=\"props\"><tr><th>Model</th><th>Surface</th><th>Sync-style code</th><th>Cancellation</th><th>Backpressure</th></tr>");
    for row in &r.rows {
        let prop = |p: &crate::tour::Property| {
            let tests = if p.tests.is_empty() {
                if row.available {
                    "<br><span class=\"note\">no test in the model's crate (the tour's own version)</span>".to_string()
                } else {
                    String::new()
                }
            } else {
                p.tests
                    .iter()
                    .map(|t| format!("<br><code>{}</code>", escape(t)))
                    .collect()
            };
            format!("{}{tests}", text(&p.value))
        };
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if row.available { "" } else { " class=\"na\"" },
            escape(&row.name),
            text(&row.surface),
            if row.available {
                String::new()
            } else {
                format!("<br><b>{}</b>", text(&row.why_not))
            },
            prop(&row.sync_style),
            prop(&row.cancellation),
            prop(&row.backpressure)
        );
    }
    h.push_str("</table>");
}

/// A workload section: its table, what it is, and what each model's version does.
fn workload_section(h: &mut String, r: &Report, which: usize, ws: &[Workload]) {
    let t = section(r, which);
    let numeric: Vec<usize> = (1..t.header.len()).collect();
    let _ = write!(h, "<h2>{}</h2>", escape(&t.title));
    let mut said: Vec<String> = Vec::new();
    for w in ws {
        let d = describe(*w, &r.sizes);
        if !said.contains(&d) {
            let _ = write!(h, "<p>{}</p>", text(&d));
            said.push(d);
        }
    }
    table_body(h, &t, &numeric);
    let _ = write!(
        h,
        "<details><summary>What each model's version does</summary><table><tr><th>Model</th>"
    );
    for w in ws {
        let _ = write!(h, "<th>{}</th>", w.id());
    }
    h.push_str("</tr>");
    for row in r.rows.iter().filter(|row| row.available) {
        let _ = write!(h, "<tr><td>{}</td>", escape(&row.name));
        for w in ws {
            let note = r
                .sample(&row.id, *w)
                .map(|s| s.note.clone())
                .filter(|n| !n.is_empty())
                .map_or(String::new(), |n| format!(" <i>({})</i>", escape(&n)));
            let _ = write!(
                h,
                "<td>{}{note}</td>",
                text(row.does.get(w.id()).map_or("", String::as_str))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></details>");
}

fn charts(h: &mut String, svgs: &[String]) {
    h.push_str("<div class=\"charts\">");
    for s in svgs {
        h.push_str(s);
    }
    h.push_str("</div>");
}

fn available(r: &Report) -> impl Iterator<Item = &RowInfo> {
    r.rows.iter().filter(|row| row.available)
}

fn bar(r: &Report, row: &RowInfo, w: Workload, key: &str) -> Bar {
    let value = r.metric(&row.id, w, key);
    Bar {
        label: row.name.clone(),
        value,
        text: super::cell(r, &row.id, w, key),
    }
}

/// One metric across the models, as a bar chart (log scale when they span decades).
fn chart(r: &Report, w: Workload, key: &str, title: &str, color: &str) -> String {
    let bars: Vec<Bar> = available(r).map(|row| bar(r, row, w, key)).collect();
    let log = svg::wants_log(bars.iter().filter_map(|b| b.value));
    let unit_note = metric(w, key).map_or("", |m| m.label);
    svg::bars(&format!("{title} — {unit_note}"), &bars, color, log)
}

fn pipeline_peaks(r: &Report) -> String {
    let series = [
        Series {
            name: "bounded",
            color: BLUE,
        },
        Series {
            name: "unbounded",
            color: RED,
        },
    ];
    let groups: Vec<(String, Vec<Bar>)> = available(r)
        .map(|row| {
            (
                row.name.clone(),
                vec![
                    bar(r, row, Workload::PipelineBounded, "peak_bytes"),
                    bar(r, row, Workload::PipelineUnbounded, "peak_bytes"),
                ],
            )
        })
        .collect();
    let log = svg::wants_log(
        groups
            .iter()
            .flat_map(|(_, b)| b.iter().filter_map(|b| b.value)),
    );
    svg::grouped(
        "Pipeline peak memory, bounded vs unbounded",
        &series,
        &groups,
        log,
    )
}

/// Resident memory over time, bounded against unbounded, one small chart per model.
fn pipeline_series(h: &mut String, r: &Report) {
    h.push_str("<h3>Resident memory over time (sampled every 5 ms)</h3><div class=\"charts\">");
    for row in available(r) {
        let series: Vec<(Series, Vec<(f64, f64)>)> = [
            (
                Workload::PipelineBounded,
                Series {
                    name: "bounded",
                    color: BLUE,
                },
            ),
            (
                Workload::PipelineUnbounded,
                Series {
                    name: "unbounded",
                    color: RED,
                },
            ),
        ]
        .into_iter()
        .filter_map(|(w, s)| {
            let sample = r.sample(&row.id, w).filter(|s| s.error.is_none())?;
            let base = sample.series.first().map_or(0.0, |p| p[1]);
            Some((
                s,
                sample
                    .series
                    .iter()
                    .map(|p| (p[0], (p[1] - base).max(0.0)))
                    .collect(),
            ))
        })
        .collect();
        if series.is_empty() {
            continue;
        }
        h.push_str(&svg::lines(
            &format!("{}: RSS above start (sampled)", row.name),
            &series,
            "ms",
            &format_bytes,
        ));
    }
    let _ = write!(
        h,
        "</div><p class=\"note\">{} items per run. The bounded line stays flat at the bound; the unbounded one climbs while the producer outruns the consumer, then falls as the consumer drains (if the allocator returns the pages).</p>",
        thousands(r.sizes.pipe_items)
    );
}
