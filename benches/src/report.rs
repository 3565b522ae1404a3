//! `target/bench/report.md`, `chart.svg` and `results.json`: every measurement, every
//! DESIGN §5 target with its measured ratio and met / not met, the servers.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::results::{Key, Phase, Results};
use crate::target::{Res, TargetKind};

/// `ns` as a human duration (`1.23 s`, `4.56 ms`, `789.0 µs`).
pub fn duration(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// What a target asks of a ratio.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Goal {
    /// `baseline / this >= x` (speed-ups, throughput ratios).
    AtLeast(f64),
    /// `this / baseline <= x` (slow-downs, costs).
    AtMost(f64),
    /// `this (- baseline) <= x nanoseconds` (absolute times; the baseline, when present, is
    /// subtracted: a round trip, to estimate server time).
    WithinNs(f64),
    /// Storage reduction `1 - after / before >= x`.
    Reduction(f64),
}

/// One target of DESIGN §5 evaluated on this run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The target, in words.
    pub target: String,
    /// Which data set and target it was measured on.
    pub on: String,
    /// The measured value (a ratio, a fraction, or nanoseconds).
    pub value: f64,
    /// The goal.
    pub goal: Goal,
    /// Met, not met, or not a performance figure (embedded server).
    pub met: Option<bool>,
}

impl Verdict {
    fn value_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(_) | Goal::AtMost(_) => format!("{:.2}x", self.value),
            Goal::WithinNs(_) => duration(self.value),
            Goal::Reduction(_) => format!("{:.1}%", self.value * 100.0),
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(x) => format!(">= {x}x"),
            Goal::AtMost(x) => format!("<= {x}x"),
            Goal::WithinNs(x) => format!("<= {}", duration(x)),
            Goal::Reduction(x) => format!(">= {:.0}%", x * 100.0),
        }
    }

    /// How far the value is from its goal: >= 1 met (for the chart's common axis).
    fn score(&self) -> f64 {
        match self.goal {
            Goal::AtLeast(x) => self.value / x,
            Goal::AtMost(x) | Goal::WithinNs(x) => x / self.value.max(1e-9),
            Goal::Reduction(x) => self.value / x,
        }
    }
}

/// Labels of a run's data sets.
pub struct Labels<'a> {
    /// Main run (`1x`).
    pub main: &'a str,
    /// Growth run (`4x`), if any.
    pub growth: Option<&'a str>,
    /// Wide overview (`wide`), if any.
    pub wide: Option<&'a str>,
}

struct Judge<'a> {
    results: &'a Results,
    embedded: bool,
    quick: bool,
    out: Vec<Verdict>,
}

impl Judge<'_> {
    fn push(&mut self, target: &str, on: String, kind: TargetKind, value: f64, goal: Goal) {
        let met = match goal {
            Goal::AtLeast(x) => value >= x,
            Goal::AtMost(x) => value <= x,
            Goal::WithinNs(x) => value <= x,
            Goal::Reduction(x) => value >= x,
        };
        let no_figure = self.quick || (self.embedded && kind == TargetKind::Timescale);
        let met = (!no_figure).then_some(met);
        self.out.push(Verdict {
            target: target.to_owned(),
            on,
            value,
            goal,
            met,
        });
    }

    /// `this` against `base` with `goal` (both must have been measured).
    fn ratio(&mut self, target: &str, this: &Key, base: &Key, goal: Goal) {
        let (Some(t), Some(b)) = (self.results.ns(this), self.results.ns(base)) else {
            return;
        };
        let value = match goal {
            Goal::AtLeast(_) => b / t,
            _ => t / b,
        };
        let on = format!(
            "{} {} {}/{} vs {}/{}/{}",
            this.data,
            this.target,
            this.phase.name(),
            this.op,
            base.target,
            base.phase.name(),
            base.op
        );
        self.push(target, on, this.target, value, goal);
    }

    fn absolute(&mut self, target: &str, this: &Key, minus: Option<&Key>, ns: f64) {
        let Some(t) = self.results.ns(this) else {
            return;
        };
        let m = minus.and_then(|k| self.results.ns(k)).unwrap_or(0.0);
        let on = format!(
            "{} {} {}/{}{}",
            this.data,
            this.target,
            this.phase.name(),
            this.op,
            minus.map(|k| format!(" - {}", k.op)).unwrap_or_default()
        );
        self.push(
            target,
            on,
            this.target,
            (t - m).max(0.0),
            Goal::WithinNs(ns),
        );
    }
}

/// Every DESIGN §5 target this run's measurements can answer; none is met or missed in a
/// quick run, nor on the embedded TimescaleDB (their times are no figures).
pub fn verdicts(
    results: &Results,
    labels: &Labels<'_>,
    embedded_timescale: bool,
    quick: bool,
) -> Vec<Verdict> {
    use Phase::{Analyzed, Ingest, Loaded, Maintained};
    use TargetKind::{Plain, Postgres, Timescale};
    let mut j = Judge {
        results,
        embedded: embedded_timescale,
        quick,
        out: Vec::new(),
    };
    let k = |d: &str, p, t, op: &str| Key::new(d, p, t, op);
    let main = labels.main;
    let sized: Vec<&str> = std::iter::once(main).chain(labels.growth).collect();
    for &d in &sized {
        for t in [Postgres, Timescale] {
            j.ratio(
                "ingest through the API >= 0.9x binary COPY",
                &k(d, Ingest, t, "load_api"),
                &k(d, Ingest, t, "load_copy"),
                Goal::AtLeast(0.9),
            );
            j.ratio(
                "aggregates up to date after a bulk load <= 0.5x the load",
                &k(d, Ingest, t, "refresh_after_load"),
                &k(d, Ingest, t, "load_api"),
                Goal::AtMost(0.5),
            );
            // Not a target of its own: where the refresh's floor alone misses the target
            // above, the server is the limit (see docs/benchmarks.md).
            j.ratio(
                "(floor of the above) the 5m grouping of every raw row alone <= 0.5x the load",
                &k(d, Ingest, t, "refresh_floor"),
                &k(d, Ingest, t, "load_api"),
                Goal::AtMost(0.5),
            );
        }
    }
    for t in [Postgres, Timescale] {
        j.ratio(
            "CLI import >= 0.8x psql \\copy of the same file",
            &k(main, Ingest, t, "cli_import"),
            &k(main, Ingest, t, "psql_copy"),
            Goal::AtLeast(0.8),
        );
    }
    for &d in &sized {
        for t in [Postgres, Timescale] {
            // Routed reads and the materialized table answer for everything only once the
            // aggregates are up to date: before, reads go through pending spans (their own
            // target below) and the materialized table is empty.
            for op in ["ohlcv_1h_30d", "ohlcv_1d_1y"] {
                j.ratio(
                    "routed OHLCV >= 20x faster than raw aggregation on the plain table",
                    &k(d, Maintained, t, op),
                    &k(d, Loaded, Plain, op),
                    Goal::AtLeast(20.0),
                );
            }
            j.ratio(
                "plain PostgreSQL's ohlcv_1h view within 2x of ohlcv_1h_materialized",
                &k(d, Maintained, t, "view_ohlcv_1h_30d"),
                &k(d, Maintained, t, "ohlcv_1h_30d_sql"),
                Goal::AtMost(2.0),
            );
            for p in [Loaded, Maintained] {
                j.ratio(
                    "re-aggregated interval <= 2x a materialized one",
                    &k(d, p, t, "ohlcv_2h_30d"),
                    &k(d, p, t, "ohlcv_1h_30d"),
                    Goal::AtMost(2.0),
                );
                j.ratio(
                    "re-aggregated interval <= 2x a materialized one",
                    &k(d, p, t, "ohlcv_3d_1y"),
                    &k(d, p, t, "ohlcv_1d_1y"),
                    Goal::AtMost(2.0),
                );
                for (sql, api) in [
                    ("sql_get_ohlcv_1h_30d", "ohlcv_1h_30d"),
                    ("sql_market_overview_at", "market_overview"),
                    ("sql_market_overview", "market_overview"),
                    ("sql_price_change_percent", "price_change_24h"),
                    ("sql_sentiment_summary_at", "sentiment_summary_24h"),
                    ("sql_whale_activity_between", "whale_activity_7d"),
                ] {
                    j.ratio(
                        "SQL API within 2x of the Rust API",
                        &k(d, p, t, sql),
                        &k(d, p, t, api),
                        Goal::AtMost(2.0),
                    );
                }
                for (api, sql) in [
                    ("latest_price", "latest_price_sql"),
                    ("market_overview", "market_overview_sql"),
                ] {
                    j.ratio(
                        "the Rust API adds <= 20% over the same SQL",
                        &k(d, p, t, api),
                        &k(d, p, t, sql),
                        Goal::AtMost(1.2),
                    );
                }
                if p == Maintained {
                    j.ratio(
                        "the Rust API adds <= 20% over the same SQL",
                        &k(d, p, t, "ohlcv_1h_30d"),
                        &k(d, p, t, "ohlcv_1h_30d_sql"),
                        Goal::AtMost(1.2),
                    );
                }
            }
            j.ratio(
                "a read through pending spans never slower than raw aggregation",
                &k(d, Loaded, t, "ohlcv_1h_30d"),
                &k(d, Loaded, t, "ohlcv_1h_30d_raw"),
                Goal::AtMost(1.0),
            );
        }
    }
    let server_sets: Vec<&str> = sized.iter().copied().chain(labels.wide).collect();
    for &d in &server_sets {
        for t in [Postgres, Timescale] {
            for op in ["latest_price_sql", "market_overview_sql"] {
                j.absolute(
                    "latest price / market overview <= 1 ms server time warm",
                    &k(d, Maintained, t, op),
                    Some(&k(d, Maintained, t, "roundtrip")),
                    1e6,
                );
            }
            for op in [
                "latest_price_fresh",
                "market_overview_fresh",
                "latest_price_fresh_connect",
                "market_overview_fresh_connect",
            ] {
                j.absolute(
                    "first call on a fresh connection <= 20 ms",
                    &k(d, Maintained, t, op),
                    None,
                    20e6,
                );
            }
        }
    }
    // Reads right after an import within 1.3x of the same reads after maintenance: the
    // reads whose path maintenance does not change (a routed read before the refresh goes
    // through pending spans: its target is "never slower than raw aggregation" above).
    // Whether imports and maintenance leave the planner its statistics is what the control
    // shows: the same reads after maintenance against a database-wide ANALYZE.
    for m in &results.measurements {
        if m.key.target == Plain {
            continue;
        }
        if m.key.phase == Loaded && !crate::ops::through_aggregates(&m.key.op) {
            let after = Key {
                phase: Maintained,
                ..m.key.clone()
            };
            j.ratio(
                "reads right after an import within 1.3x of after maintenance",
                &m.key,
                &after,
                Goal::AtMost(1.3),
            );
        }
        if m.key.phase == Analyzed {
            let maintained = Key {
                phase: Maintained,
                ..m.key.clone()
            };
            j.ratio(
                "reads right after maintenance within 1.3x of after a full ANALYZE",
                &maintained,
                &m.key,
                Goal::AtMost(1.3),
            );
        }
    }
    if let Some(g) = labels.growth {
        for m in &results.measurements {
            if m.key.data == main && m.key.phase == Maintained && m.key.target != Plain {
                let grown = Key {
                    data: g.to_owned(),
                    ..m.key.clone()
                };
                // "Flat" is about what the cost grows with: partitions and chunks, not the
                // answer. A read whose answer grew with the data (a year of daily candles
                // when 90 days became 360) is no growth figure.
                let grown_rows = results
                    .measurements
                    .iter()
                    .find(|g| g.key == grown)
                    .and_then(|g| g.rows);
                if grown_rows.is_some() && grown_rows != m.rows {
                    continue;
                }
                j.ratio(
                    "flat with scale: each read at 4x within 1.3x of 1x",
                    &grown,
                    &m.key,
                    Goal::AtMost(1.3),
                );
            }
        }
    }
    for &d in &sized {
        for table in ["candles", "sentiment", "flows"] {
            let before = results.number(&format!(
                "{d}.timescale.{table}.compressed_chunks_bytes_before"
            ));
            let after = results.number(&format!(
                "{d}.timescale.{table}.compressed_chunks_bytes_after"
            ));
            if let (Some(b), Some(a)) = (before, after) {
                if b > 0.0 {
                    j.push(
                        "TimescaleDB storage reduction >= 90% on compressed chunks",
                        format!("{d} timescale {table}"),
                        Timescale,
                        1.0 - a / b,
                        Goal::Reduction(0.9),
                    );
                }
            }
        }
    }
    j.out
}

/// Writes `report.md`, `chart.svg` and `results.json` into `dir`; returns the report.
///
/// # Errors
/// A file cannot be written.
pub fn write(dir: &Path, header: &str, results: &Results, verdicts: &[Verdict]) -> Res<String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut md = String::new();
    let _ = writeln!(md, "# marketseries benchmark report\n\n{header}\n");
    let _ = writeln!(md, "## Servers and facts\n\n| fact | value |\n|---|---|");
    for (k, v) in &results.facts {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "\\|"));
    }
    let met = verdicts.iter().filter(|v| v.met == Some(true)).count();
    let missed = verdicts.iter().filter(|v| v.met == Some(false)).count();
    let _ = writeln!(
        md,
        "\n## Targets (DESIGN §5): {met} met, {missed} not met, {} not figures\n\n| target | measured on | value | goal | verdict |\n|---|---|---|---|---|",
        verdicts.len() - met - missed
    );
    for v in verdicts {
        let verdict = match v.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "no figure (quick run or embedded server)",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {verdict} |",
            v.target,
            v.on,
            v.value_text(),
            v.goal_text()
        );
    }
    let _ = writeln!(md, "\n## Every measurement\n\nMedian of criterion's samples, or one timed run (`once`).\n\n| data | phase | target | operation | time | rows | sampling | what |\n|---|---|---|---|---|---|---|---|");
    for m in &results.measurements {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:?} | {} |",
            m.key.data,
            m.key.phase.name(),
            m.key.target,
            m.key.op,
            duration(m.ns),
            m.rows.map(|r| r.to_string()).unwrap_or_default(),
            m.sampling,
            m.what.replace('|', "\\|")
        );
    }
    if !results.failures.is_empty() {
        let _ = writeln!(md, "\n## Failures\n");
        for f in &results.failures {
            let _ = writeln!(md, "- {}", f.replace('\n', " "));
        }
    }
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("report.md", &md)?;
    write("chart.svg", &chart(verdicts))?;
    let json = serde_json::json!({ "results": results, "verdicts": verdicts });
    write(
        "results.json",
        &serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?,
    )?;
    Ok(md)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A bar per verdict on one log axis: the value relative to its goal (right of the line:
/// met).
fn chart(verdicts: &[Verdict]) -> String {
    let shown: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| !v.target.starts_with("reads right after"))
        .collect();
    let (row, left, width) = (18.0, 520.0, 360.0);
    let height = 60.0 + row * f64::from(u32::try_from(shown.len()).unwrap_or(0));
    let x = |score: f64| {
        left + width / 2.0 + score.clamp(1.0 / 64.0, 64.0).log2() / 6.0 * (width / 2.0)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">marketseries: measured value relative to its DESIGN §5 goal (log scale; right of the line = met)</text>\n\
         <line x1=\"{mid}\" y1=\"30\" x2=\"{mid}\" y2=\"{bottom}\" stroke=\"black\"/>\n",
        w = left + width + 120.0,
        mid = x(1.0),
        bottom = height - 10.0,
    );
    for (i, v) in shown.iter().enumerate() {
        let y = 40.0 + row * f64::from(u32::try_from(i).unwrap_or(0));
        let s = v.score();
        let (x0, x1) = if s >= 1.0 {
            (x(1.0), x(s))
        } else {
            (x(s), x(1.0))
        };
        let colour = match v.met {
            Some(true) => "#3a7",
            Some(false) => "#d44",
            None => "#aaa",
        };
        let _ = writeln!(
            svg,
            "<text x=\"10\" y=\"{ty}\">{label}</text><rect x=\"{x0:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" fill=\"{colour}\"/><text x=\"{tx:.1}\" y=\"{ty}\">{value} ({goal})</text>",
            ty = y + 11.0,
            label = escape(&format!("{}: {}", v.target, v.on).chars().take(85).collect::<String>()),
            w = (x1 - x0).max(1.0),
            h = row - 4.0,
            tx = left + width + 5.0,
            value = escape(&v.value_text()),
            goal = escape(&v.goal_text()),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(1.5e9), "1.500 s");
        assert_eq!(duration(2.25e6), "2.25 ms");
        assert_eq!(duration(750.0e3), "750.0 µs");
    }

    #[test]
    fn verdicts_compare_the_right_way_round() {
        let mut r = Results::default();
        let m = |op: &str, ns: f64| crate::results::Measurement {
            key: Key::new("1x", Phase::Ingest, TargetKind::Postgres, op),
            what: String::new(),
            ns,
            sampling: crate::results::Sampling::Once,
            rows: None,
        };
        r.measurements.push(m("load_api", 10e9));
        r.measurements.push(m("load_copy", 8e9));
        r.measurements.push(m("refresh_after_load", 6e9));
        let labels = Labels {
            main: "1x",
            growth: None,
            wide: None,
        };
        let v = verdicts(&r, &labels, false, false);
        let ingest = v
            .iter()
            .find(|v| v.target.starts_with("ingest"))
            .expect("ingest verdict");
        assert!((ingest.value - 0.8).abs() < 1e-9);
        assert_eq!(ingest.met, Some(false));
        let refresh = v
            .iter()
            .find(|v| v.target.starts_with("aggregates"))
            .expect("refresh verdict");
        assert!((refresh.value - 0.6).abs() < 1e-9);
        assert_eq!(refresh.met, Some(false));
        assert!(chart(&v).contains("<svg"));
    }
}
