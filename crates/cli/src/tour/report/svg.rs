//! Inline SVG charts for the HTML report: horizontal bars (one series or grouped) and small line
//! charts. Every bar carries its value as text, so a chart shows the measured numbers, not only
//! their shape. No scripts, no external resources.

use std::fmt::Write;

/// One bar: its label, its value (none: not measured), and the value as the report prints it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub text: String,
}

/// A series of a grouped chart: its name and colour.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
}

pub const BLUE: &str = "#2563eb";
pub const RED: &str = "#dc2626";
pub const GREEN: &str = "#059669";
const GREY: &str = "#94a3b8";

const WIDTH: f64 = 720.0;
const LABEL_W: f64 = 150.0;
const TEXT_W: f64 = 110.0;
const ROW_H: f64 = 22.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps values to bar lengths in `0..=1`: linear from 0, or logarithmic over the decades the
/// values span (for figures that differ by orders of magnitude).
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Scale {
        let v: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
        let max = v.iter().copied().fold(0.0, f64::max);
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        if log && max > 0.0 {
            let lo = (min.log10().floor() - 0.3).min(max.log10() - 1.0);
            Scale {
                log: true,
                lo,
                hi: max.log10(),
            }
        } else {
            Scale {
                log: false,
                lo: 0.0,
                hi: if max > 0.0 { max } else { 1.0 },
            }
        }
    }

    fn frac(&self, v: f64) -> f64 {
        if !v.is_finite() || v <= 0.0 {
            return 0.0;
        }
        let f = if self.log {
            (v.log10() - self.lo) / (self.hi - self.lo)
        } else {
            v / self.hi
        };
        f.clamp(0.0, 1.0)
    }
}

/// Should these values be shown on a log scale (they span more than two decades)?
pub fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let v: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    let max = v.iter().copied().fold(0.0, f64::max);
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    max > 0.0 && min.is_finite() && max / min > 100.0
}

fn header(out: &mut String, height: f64, title: &str, log: bool) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{t}"><text x="0" y="16" class="ct">{t}{log}</text>"#,
        t = escape(title),
        log = if log { " (log scale)" } else { "" }
    );
}

/// A horizontal bar chart, one bar per row.
pub fn bars(title: &str, bars: &[Bar], color: &str, log: bool) -> String {
    let scale = Scale::new(bars.iter().filter_map(|b| b.value), log);
    let height = 28.0 + ROW_H * bars.len() as f64 + 6.0;
    let span = WIDTH - LABEL_W - TEXT_W;
    let mut out = String::new();
    header(&mut out, height, title, scale.log);
    for (i, b) in bars.iter().enumerate() {
        let y = 28.0 + ROW_H * i as f64;
        let len = b.value.map_or(0.0, |v| scale.frac(v) * span);
        let _ = write!(
            out,
            r#"<text x="{lx}" y="{ty}" class="cl">{label}</text>"#,
            lx = LABEL_W - 8.0,
            ty = y + 14.0,
            label = escape(&b.label)
        );
        if b.value.is_some() {
            let _ = write!(
                out,
                r#"<rect x="{LABEL_W}" y="{ry}" width="{len:.1}" height="{h}" fill="{color}"><title>{label}: {text}</title></rect>"#,
                ry = y + 3.0,
                h = ROW_H - 6.0,
                label = escape(&b.label),
                text = escape(&b.text)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{tx:.1}" y="{ty}" class="cv" fill="{fill}">{text}</text>"#,
            tx = LABEL_W + len + 6.0,
            ty = y + 14.0,
            fill = if b.value.is_some() { "#0f172a" } else { GREY },
            text = escape(&b.text)
        );
    }
    out.push_str("</svg>");
    out
}

/// A grouped horizontal bar chart: one group per row label, one bar per series in it.
pub fn grouped(title: &str, series: &[Series], groups: &[(String, Vec<Bar>)], log: bool) -> String {
    let scale = Scale::new(
        groups
            .iter()
            .flat_map(|(_, bs)| bs.iter().filter_map(|b| b.value)),
        log,
    );
    let per = series.len().max(1) as f64;
    let bar_h = 16.0;
    let group_h = bar_h * per + 10.0;
    let height = 28.0 + 20.0 + group_h * groups.len() as f64;
    let span = WIDTH - LABEL_W - TEXT_W;
    let mut out = String::new();
    header(&mut out, height, title, scale.log);
    // Legend.
    for (i, s) in series.iter().enumerate() {
        let x = LABEL_W + 150.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{x}" y="26" width="12" height="12" fill="{c}"/><text x="{tx}" y="36" class="cv">{n}</text>"#,
            c = s.color,
            tx = x + 16.0,
            n = escape(s.name)
        );
    }
    for (g, (label, bs)) in groups.iter().enumerate() {
        let y0 = 48.0 + group_h * g as f64;
        let _ = write!(
            out,
            r#"<text x="{lx}" y="{ty}" class="cl">{label}</text>"#,
            lx = LABEL_W - 8.0,
            ty = y0 + group_h / 2.0,
            label = escape(label)
        );
        for (i, b) in bs.iter().enumerate() {
            let y = y0 + bar_h * i as f64;
            let len = b.value.map_or(0.0, |v| scale.frac(v) * span);
            let color = series.get(i).map_or(GREY, |s| s.color);
            if b.value.is_some() {
                let _ = write!(
                    out,
                    r#"<rect x="{LABEL_W}" y="{ry}" width="{len:.1}" height="{h}" fill="{color}"><title>{label} {name}: {text}</title></rect>"#,
                    ry = y + 1.0,
                    h = bar_h - 3.0,
                    label = escape(label),
                    name = escape(series.get(i).map_or("", |s| s.name)),
                    text = escape(&b.text)
                );
            }
            let _ = write!(
                out,
                r#"<text x="{tx:.1}" y="{ty}" class="cv">{text}</text>"#,
                tx = LABEL_W + len + 6.0,
                ty = y + 12.0,
                text = escape(&b.text)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A small line chart: `series` of `(x, y)` points, axes from 0 to the largest values, with each
/// series' name and largest y printed beside the plot.
pub fn lines(
    title: &str,
    series: &[(Series, Vec<(f64, f64)>)],
    x_label: &str,
    y_fmt: &dyn Fn(f64) -> String,
) -> String {
    const W: f64 = 385.0;
    const H: f64 = 190.0;
    const L: f64 = 58.0;
    const R: f64 = 137.0;
    const T: f64 = 26.0;
    const B: f64 = 34.0;
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(0.0, f64::max)
        .max(1e-9);
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.0, f64::max)
        .max(1e-9);
    let px = |x: f64| L + (x / xmax) * (W - L - R);
    let py = |y: f64| H - B - (y / ymax) * (H - T - B);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart small" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><text x="0" y="16" class="ct">{t}</text>"#,
        t = escape(title)
    );
    // Axes with end ticks.
    let _ = write!(
        out,
        r##"<line x1="{L}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="#64748b"/><line x1="{L}" y1="{T}" x2="{L}" y2="{yb}" stroke="#64748b"/><text x="{lx}" y="{ty0}" class="ca">0</text><text x="{lx}" y="{tyt}" class="ca">{ytop}</text><text x="{L}" y="{txy}" class="ca" text-anchor="start">0</text><text x="{xr}" y="{txy}" class="ca" text-anchor="end">{xtop:.0} {xl}</text>"##,
        yb = H - B,
        xr = W - R,
        lx = L - 4.0,
        ty0 = H - B + 4.0,
        tyt = T + 8.0,
        ytop = escape(&y_fmt(ymax)),
        txy = H - B + 16.0,
        xtop = xmax,
        xl = escape(x_label),
    );
    for (i, (s, pts)) in series.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"><title>{n}</title></polyline>"#,
            c = s.color,
            p = path.join(" "),
            n = escape(s.name)
        );
        let peak = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let _ = write!(
            out,
            r#"<text x="{x}" y="{y:.1}" class="cv" fill="{c}">{n} {v}</text>"#,
            x = W - R + 4.0,
            y = T + 14.0 + 16.0 * i as f64,
            c = s.color,
            n = escape(s.name),
            v = escape(&y_fmt(peak))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, v: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            value: v,
            text: v.map_or("—".into(), |v| format!("{v} u")),
        }
    }

    #[test]
    fn bars_carry_their_numbers_and_scale_to_the_largest() {
        let svg = bars(
            "t",
            &[bar("a", Some(10.0)), bar("b", Some(5.0)), bar("c", None)],
            BLUE,
            false,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(">10 u<") && svg.contains(">5 u<") && svg.contains(">—<"));
        let span = WIDTH - LABEL_W - TEXT_W;
        assert!(svg.contains(&format!("width=\"{span:.1}\"")));
        assert!(svg.contains(&format!("width=\"{:.1}\"", span / 2.0)));
        assert_eq!(
            svg.matches("<rect").count(),
            2,
            "no bar for an unmeasured value"
        );
    }

    #[test]
    fn log_scale_when_values_span_decades() {
        assert!(wants_log([1.0, 1000.0].into_iter()));
        assert!(!wants_log([10.0, 50.0].into_iter()));
        let svg = bars(
            "t",
            &[bar("a", Some(1e6)), bar("b", Some(10.0))],
            BLUE,
            true,
        );
        assert!(svg.contains("(log scale)"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn lines_print_each_peak() {
        let s = Series {
            name: "bounded",
            color: BLUE,
        };
        let svg = lines("x", &[(s, vec![(0.0, 1.0), (10.0, 3.0)])], "ms", &|v| {
            format!("{v:.0} MB")
        });
        assert!(svg.contains(">bounded 3 MB<"));
        assert!(svg.contains("<polyline"));
    }
}
