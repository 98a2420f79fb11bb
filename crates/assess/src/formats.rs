//! The JUnit XML and self-contained HTML renderings of a [`Report`].

use std::fmt::Write as _;

use crate::history::Entry;
use crate::model::{Finding, Severity};
use crate::report::Report;

/// Checks whose (informational) finding means "could not run": JUnit
/// reports them as skipped test cases.
const SKIP_FINDINGS: [&str; 1] = ["CB-DEP-002"];

/// Escapes text for XML and HTML (content and attribute values). Control
/// characters XML 1.0 cannot carry are replaced.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
    out
}

fn finding_text(f: &Finding) -> String {
    let mut t = format!("subject: {}", f.subject);
    for e in &f.evidence {
        let _ = write!(t, "\n{e}");
    }
    t
}

impl Report {
    /// JUnit XML: one test suite, one test case per check that ran; a check
    /// with findings at low or above fails (one `<failure>` per finding,
    /// with its evidence), informational findings go to `<system-out>`.
    pub fn to_junit(&self, target: &str) -> String {
        let mut cases = String::new();
        let (mut failures, mut skipped) = (0, 0);
        for c in &self.checks {
            let mine: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| f.check_id == c.id)
                .collect();
            let class = c.id.rsplit_once('-').map_or(c.id, |(a, _)| a);
            let _ = write!(
                cases,
                "    <testcase classname=\"cryptobot.assess.{}\" name=\"{} {}\"",
                escape(class),
                escape(c.id),
                escape(c.title)
            );
            if mine.is_empty() {
                cases.push_str("/>\n");
                continue;
            }
            cases.push_str(">\n");
            if SKIP_FINDINGS.contains(&c.id) {
                skipped += 1;
                let why: Vec<String> = mine.iter().map(|f| finding_text(f)).collect();
                let _ = writeln!(
                    cases,
                    "      <skipped message=\"{}\"/>",
                    escape(&why.join("; "))
                );
            } else if c.severity == Severity::Info {
                let text: Vec<String> = mine.iter().map(|f| finding_text(f)).collect();
                let _ = writeln!(
                    cases,
                    "      <system-out>{}</system-out>",
                    escape(&text.join("\n\n"))
                );
            } else {
                failures += 1;
                for f in &mine {
                    let _ = writeln!(
                        cases,
                        "      <failure type=\"{}\" message=\"{}: {}\">{}\nfix: {}</failure>",
                        c.severity,
                        escape(c.title),
                        escape(&f.subject),
                        escape(&finding_text(f)),
                        escape(c.remediation)
                    );
                }
            }
            cases.push_str("    </testcase>\n");
        }
        let n = self.checks.len();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"cryptobot assess\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">"
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"cryptobot assess: {}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
            escape(target)
        );
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"score\" value=\"{}\"/>\n    </properties>",
            self.score()
        );
        out.push_str(&cases);
        if !self.notes.is_empty() {
            let _ = writeln!(
                out,
                "    <system-out>{}</system-out>",
                escape(&self.notes.join("\n"))
            );
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    /// One self-contained HTML page: the score, a chart of the score over
    /// time (inline SVG from `history`, oldest first), and the findings by
    /// severity with evidence and fix. No scripts, no external resources;
    /// everything from the host is escaped.
    pub fn to_html(&self, target: &str, generated: &str, history: &[Entry]) -> String {
        let mut o = String::new();
        o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
        o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(
            o,
            "<title>cryptobot assess: {} ({}/100)</title>",
            escape(target),
            self.score()
        );
        o.push_str(STYLE);
        o.push_str("</head>\n<body>\n<main>\n");
        let _ = writeln!(
            o,
            "<h1>cryptobot assess</h1>\n<p class=\"meta\">{} &middot; {} &middot; {} checks</p>",
            escape(target),
            escape(generated),
            self.checks.len()
        );
        let score = self.score();
        let class = match score {
            90.. => "good",
            70..=89 => "fair",
            _ => "poor",
        };
        let _ = write!(
            o,
            "<section class=\"summary\">\n<div class=\"score {class}\"><span>{score}</span>/100</div>\n<ul class=\"counts\">\n"
        );
        for (s, n) in self.counts() {
            let _ = writeln!(o, "<li class=\"sev-{s}\"><b>{n}</b> {s}</li>",);
        }
        o.push_str("</ul>\n</section>\n");
        o.push_str("<section>\n<h2>Score over time</h2>\n");
        o.push_str(&chart(history));
        o.push_str("</section>\n");
        o.push_str("<section>\n<h2>Findings</h2>\n");
        if self.findings.is_empty() {
            o.push_str("<p>No findings.</p>\n");
        }
        for sev in Severity::ALL {
            let group: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| Report::check(f).severity == sev)
                .collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "<h3 class=\"sev-{sev}\">{} ({})</h3>",
                sev.as_str().to_ascii_uppercase(),
                group.len()
            );
            for f in group {
                let c = Report::check(f);
                let _ = writeln!(
                    o,
                    "<article class=\"finding sev-{sev}\">\n<h4><code>{}</code> {}</h4>\n<p class=\"subject\">{}</p>\n<ul class=\"evidence\">",
                    escape(c.id),
                    escape(c.title),
                    escape(&f.subject)
                );
                for e in &f.evidence {
                    let _ = writeln!(o, "<li><code>{}</code></li>", escape(&e.to_string()));
                }
                let _ = writeln!(
                    o,
                    "</ul>\n<p class=\"fix\"><b>Fix:</b> {}{}</p>\n</article>",
                    escape(c.remediation),
                    if c.fixable {
                        " <span class=\"tag\">--fix</span>"
                    } else {
                        ""
                    }
                );
            }
        }
        o.push_str("</section>\n");
        if !self.notes.is_empty() {
            o.push_str("<section>\n<h2>Notes</h2>\n<ul>\n");
            for n in &self.notes {
                let _ = writeln!(o, "<li>{}</li>", escape(n));
            }
            o.push_str("</ul>\n</section>\n");
        }
        o.push_str("</main>\n</body>\n</html>\n");
        o
    }
}

const STYLE: &str = "<style>\n\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\n\
main{max-width:60rem;margin:0 auto;padding:1.5rem}\n\
h1{margin:0 0 .2rem}.meta{color:#5b6475;margin:0 0 1rem}\n\
.summary{display:flex;gap:2rem;align-items:center;background:#fff;border-radius:8px;padding:1rem 1.5rem}\n\
.score{font-size:1.2rem}.score span{font-size:3rem;font-weight:700}\n\
.good span{color:#1a7f37}.fair span{color:#9a6700}.poor span{color:#cf222e}\n\
.counts{list-style:none;display:flex;gap:1rem;padding:0;margin:0}\n\
section{margin-top:1.5rem}\n\
.finding{background:#fff;border-left:6px solid #8c959f;border-radius:6px;padding:.6rem 1rem;margin:.6rem 0}\n\
.finding h4{margin:.2rem 0}.subject{color:#5b6475;margin:.2rem 0}\n\
.evidence{margin:.3rem 0;padding-left:1.2rem}.evidence code{white-space:pre-wrap;word-break:break-all}\n\
.fix{margin:.3rem 0}.tag{font-size:.75rem;background:#ddf4ff;border-radius:4px;padding:0 .3rem}\n\
.finding.sev-critical{border-color:#82071e}.finding.sev-high{border-color:#cf222e}\n\
.finding.sev-medium{border-color:#bf8700}.finding.sev-low{border-color:#0969da}\n\
h3.sev-critical{color:#82071e}h3.sev-high{color:#cf222e}h3.sev-medium{color:#9a6700}h3.sev-low{color:#0969da}\n\
svg{background:#fff;border-radius:8px;max-width:100%;height:auto}\n\
svg text{font-size:11px;fill:#5b6475}\n\
</style>\n";

/// An inline SVG line chart of the score (0–100) over the runs.
fn chart(history: &[Entry]) -> String {
    let points: Vec<&Entry> = history
        .iter()
        .skip(history.len().saturating_sub(crate::history::CHART_POINTS))
        .collect();
    let (w, h, left, right, top, bottom) = (720.0_f64, 240.0_f64, 40.0, 12.0, 12.0, 28.0);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Score over time\">"
    );
    let plot_h = h - top - bottom;
    let plot_w = w - left - right;
    for v in [0, 25, 50, 75, 100] {
        let y = top + plot_h * (1.0 - f64::from(v) / 100.0);
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e1e4e8\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    if points.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no history yet</text>",
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
        o.push_str("</svg>\n");
        return o;
    }
    let (t0, t1) = (
        points.first().map_or(0, |e| e.unix),
        points.last().map_or(0, |e| e.unix),
    );
    let span = (t1 - t0).max(1) as f64;
    let xy: Vec<(f64, f64, &Entry)> = points
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let x = if points.len() == 1 {
                left + plot_w / 2.0
            } else if t1 > t0 {
                left + plot_w * ((e.unix - t0) as f64 / span)
            } else {
                left + plot_w * (i as f64 / (points.len() - 1) as f64)
            };
            let y = top + plot_h * (1.0 - f64::from(e.score.min(100)) / 100.0);
            (x, y, *e)
        })
        .collect();
    let line: Vec<String> = xy
        .iter()
        .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = writeln!(
        o,
        "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/>",
        line.join(" ")
    );
    for (x, y, e) in &xy {
        let _ = writeln!(
            o,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#0969da\"><title>{}: {}/100</title></circle>",
            escape(&e.time),
            e.score
        );
    }
    for (x, e, anchor) in [
        (xy.first().map_or(left, |p| p.0), points.first(), "start"),
        (xy.last().map_or(left, |p| p.0), points.last(), "end"),
    ] {
        if let Some(e) = e {
            let _ = writeln!(
                o,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                h - 8.0,
                escape(e.time.get(..10).unwrap_or(&e.time))
            );
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{fffd}"
        );
    }
}
