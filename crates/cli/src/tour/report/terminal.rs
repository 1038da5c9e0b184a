//! The tour's terminal output: Markdown tables (readable as they are, and pasteable).

use std::fmt::Write;

use super::{cheat_sheet, failures, has_section, picking, section, Table};
use crate::tour::Report;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "spectrum tour: {} sizes, {} CPUs, {}, load average {:.1} → {:.1}; one child process \
         per (model, workload)\n",
        r.sizes.profile, r.machine.cpus, r.machine.os, r.machine.load.0, r.machine.load.1
    );
    table(&mut out, &cheat_sheet(r), true);
    table(&mut out, &picking(r), true);
    for i in (1..=5).filter(|&i| has_section(r, i)) {
        table(&mut out, &section(r, i), false);
    }
    let failed = failures(r);
    if !failed.is_empty() {
        let _ = writeln!(out, "Failed runs:");
        for s in failed {
            let _ = writeln!(
                out,
                "  {} / {}: {}",
                s.model,
                s.workload,
                s.error.as_deref().unwrap_or("")
            );
        }
    }
    let notes: Vec<_> = r
        .rows
        .iter()
        .filter(|row| !row.available)
        .map(|row| format!("  {}: {}", row.name, row.why_not))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "Rows not measured:\n{}", notes.join("\n"));
    }
    out
}

/// `text`: a table of words (left-aligned, with its introduction); else numbers (right-aligned).
fn table(out: &mut String, t: &Table, text: bool) {
    let left = text;
    let _ = writeln!(out, "## {}\n", t.title);
    if text && !t.about.is_empty() {
        let _ = writeln!(out, "{}\n", t.about);
    }
    let n = t.header.len();
    let width = |i: usize| {
        t.rows
            .iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([t.header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..n).map(width).collect();
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map_or("", String::as_str);
            let pad = w.saturating_sub(c.chars().count());
            if i == 0 || left {
                let _ = write!(s, " {c}{} |", " ".repeat(pad));
            } else {
                let _ = write!(s, " {}{c} |", " ".repeat(pad));
            }
        }
        s
    };
    let _ = writeln!(out, "{}", line(&t.header));
    let mut sep = String::from("|");
    for (i, w) in widths.iter().enumerate() {
        let _ = write!(
            sep,
            "{}|",
            if i == 0 || left {
                "-".repeat(w + 2)
            } else {
                format!("{}:", "-".repeat(w + 1))
            }
        );
    }
    let _ = writeln!(out, "{sep}");
    for r in &t.rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let _ = writeln!(out);
}
