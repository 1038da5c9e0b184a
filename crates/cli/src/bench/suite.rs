//! Runs benchmark contenders interleaved (A, B, C, A, B, C, ... so drift on a shared machine hits
//! them alike), keeps each one's median, adds the external peers, and prints ratios.
//!
//! Shared by `spectrum bench` and `benches/skynet.rs` (which adds may).

use std::time::Duration;

use super::peers::PeerRun;

/// One in-process contender: a name, its family (for ratios), its worker count, the tree size it
/// runs, and one run returning (answer, time).
pub struct Contender<'a> {
    pub name: String,
    pub family: &'static str,
    pub workers: usize,
    pub leaves: u64,
    pub run: Box<dyn FnMut() -> (u64, Duration) + 'a>,
}

/// What one contender (or peer) measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub name: String,
    pub family: String,
    pub workers: usize,
    pub leaves: u64,
    /// Median time of one skynet, in milliseconds; `None` when it did not run.
    pub median_ms: Option<f64>,
    pub runs_ms: Vec<f64>,
    pub correct: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Skynet's answer for `leaves` leaves: the sum of `0..leaves`.
pub fn answer_for(leaves: u64) -> u64 {
    leaves * leaves.saturating_sub(1) / 2
}

/// Units in the tree: every node, leaves included.
pub fn units(leaves: u64) -> u64 {
    (0..)
        .map(|d| 10u64.pow(d))
        .take_while(|&n| n <= leaves)
        .sum()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Runs every contender `reps` times, interleaved, after one uncounted warm-up each.
pub fn run(reps: usize, contenders: &mut [Contender<'_>], progress: bool) -> Vec<Outcome> {
    let mut times = vec![Vec::new(); contenders.len()];
    let mut correct = vec![true; contenders.len()];
    for round in 0..=reps {
        for (i, c) in contenders.iter_mut().enumerate() {
            if progress {
                eprint!("\r\x1b[2Kround {round}/{reps}: {}", c.name);
            }
            let (answer, t) = (c.run)();
            correct[i] &= answer == answer_for(c.leaves);
            if round > 0 {
                times[i].push(t.as_secs_f64() * 1e3);
            }
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    contenders
        .iter()
        .zip(times)
        .zip(correct)
        .map(|((c, runs), ok)| Outcome {
            name: c.name.clone(),
            family: c.family.into(),
            workers: c.workers,
            leaves: c.leaves,
            median_ms: median(runs.clone()),
            runs_ms: runs,
            correct: ok,
            note: (!ok).then(|| format!("wrong answer (expected {})", answer_for(c.leaves))),
        })
        .collect()
}

/// An external peer's outcome.
pub fn peer(
    name: &str,
    family: &'static str,
    workers: usize,
    leaves: u64,
    run: PeerRun,
) -> Outcome {
    let want = answer_for(leaves);
    match run {
        PeerRun::Ran { times, result } => {
            let runs: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
            Outcome {
                name: name.into(),
                family: family.into(),
                workers,
                leaves,
                median_ms: median(runs.clone()),
                runs_ms: runs,
                correct: result == want,
                note: (result != want).then(|| format!("answered {result}, expected {want}")),
            }
        }
        PeerRun::Missing(why) | PeerRun::Failed(why) => Outcome {
            name: name.into(),
            family: family.into(),
            workers,
            leaves,
            median_ms: None,
            runs_ms: Vec::new(),
            correct: false,
            note: Some(why),
        },
    }
}

/// Time per unit of the tree, in nanoseconds.
fn per_unit(o: &Outcome) -> Option<f64> {
    o.median_ms.map(|m| m * 1e6 / units(o.leaves) as f64)
}

fn find<'a>(all: &'a [Outcome], family: &str, workers: usize) -> Option<&'a Outcome> {
    all.iter()
        .find(|o| o.family == family && o.workers == workers && o.median_ms.is_some())
}

/// The results as a Markdown table. Ratios compare time per unit of the tree (the same as total
/// time where the trees are the same size); below 1.0 is faster than the peer.
pub fn table(reps: usize, all: &[Outcome]) -> String {
    let mut out = format!(
        "skynet: a 10-ary tree of units, each summing its children's answers (1M leaves: \
         1,111,111 units, answer 499999500000); median of {reps} runs, the Rust contenders \
         interleaved in this process, each on a fresh runtime; Go and Erlang in their own \
         processes\n\n"
    );
    out.push_str(
        "| contender | workers | leaves | median | per unit | vs tokio (same workers) | vs Go |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let go = all.iter().find(|o| o.family == "go").and_then(per_unit);
    for o in all {
        let (Some(m), Some(u)) = (o.median_ms, per_unit(o)) else {
            out.push_str(&format!(
                "| {} | {} | {} | not run: {} | | | |\n",
                o.name,
                o.workers,
                o.leaves,
                o.note.as_deref().unwrap_or("")
            ));
            continue;
        };
        let tokio = if o.family == "tokio" {
            None
        } else {
            find(all, "tokio", o.workers).and_then(per_unit)
        };
        let ratio = |base: Option<f64>| base.map_or("—".to_string(), |b| format!("{:.2}", u / b));
        out.push_str(&format!(
            "| {}{} | {} | {} | {:.1} ms | {:.0} ns | {} | {} |\n",
            o.name,
            if o.correct { "" } else { " (WRONG ANSWER)" },
            o.workers,
            o.leaves,
            m,
            u,
            ratio(tokio),
            if o.family == "go" {
                "—".into()
            } else {
                ratio(go)
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        let mut cs = vec![
            Contender {
                name: "a".into(),
                family: "spectrum-tasks",
                workers: 1,
                leaves: 10,
                run: Box::new(|| (45, Duration::from_millis(2))),
            },
            Contender {
                name: "t".into(),
                family: "tokio",
                workers: 1,
                leaves: 10,
                run: Box::new(|| (45, Duration::from_millis(4))),
            },
        ];
        let mut all = run(3, &mut cs, false);
        assert_eq!(all[0].median_ms, Some(2.0));
        assert!(all.iter().all(|o| o.correct));
        all.push(peer(
            "Go",
            "go",
            2,
            10,
            PeerRun::Missing("`go` is not installed".into()),
        ));
        let t = table(3, &all);
        assert!(t.contains("| a | 1 | 10 | 2.0 ms |"), "{t}");
        assert!(t.contains("| 0.50 |"), "ratio against tokio: {t}");
        assert!(t.contains("not run: `go` is not installed"), "{t}");
    }
}
