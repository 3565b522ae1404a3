//! `cargo xtask bench [ARGS]`: the criterion benchmarks of `marketseries-benches` against
//! the throwaway native PostgreSQL server, followed by a ratio summary.
//!
//! The server is started (or reused) through `launcher::ensure_server` and left running
//! afterwards (stop it with `cargo xtask db stop`). `ARGS` go to the benchmark binaries
//! (`cargo bench -p marketseries-benches -- ARGS`): a criterion filter such as `ingest`, or
//! options such as `--sample-size 20`. The summary reads the mean point estimate of every
//! benchmark this run measured from `target/criterion/**/new/estimates.json` (results
//! older than the run are ignored) and prints API-versus-COPY ingest ratios.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use marketseries_testkit::launcher::{self, ServerKind};
use serde_json::Value;

use crate::cmd;

const USAGE: &str = "usage: cargo xtask bench [ARGS]
  runs `cargo bench -p marketseries-benches -- ARGS` against the throwaway native
  PostgreSQL server (started if needed, left running), then prints a ratio summary.
  ARGS: a criterion filter (e.g. `ingest`, `ohlcv`) and criterion options.";

/// DESIGN §5: batch ingest through the store API >= 0.8x binary COPY throughput.
const INGEST_TARGET: f64 = 0.8;

/// DESIGN §5: the Rust API adds at most this fraction over the same SQL issued directly.
const API_OVERHEAD_TARGET: f64 = 0.2;

/// One measured benchmark.
struct Measured {
    group: String,
    function: String,
    /// Mean time per iteration, in nanoseconds.
    mean_ns: f64,
    /// Elements per iteration, when the benchmark declared a throughput.
    elements: Option<u64>,
}

/// Runs `cargo xtask bench`; `args` are the words after `bench`.
///
/// # Errors
///
/// The server cannot be started, `cargo bench` fails, or criterion's results cannot be
/// read.
pub fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    if matches!(
        args.first().map(String::as_str),
        Some("help" | "--help" | "-h")
    ) {
        println!("{USAGE}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let server = runtime.block_on(launcher::ensure_server(ServerKind::Postgres))?;
    println!(
        "postgres server: {} ({})",
        launcher::redact(server.url()),
        server.flavor
    );
    let started = SystemTime::now();
    let mut bench = cmd::cargo();
    bench.args(["bench", "-p", "marketseries-benches", "--"]);
    bench.args(args);
    cmd::run(bench)?;
    let measured = collect(&criterion_dir(), started)?;
    summarize(&measured);
    println!("\nthe postgres server is left running; stop it with `cargo xtask db stop` when done");
    Ok(())
}

/// Where criterion writes its results: `$CRITERION_HOME`, else
/// `<target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| cmd::root().join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        cmd::root().join(target)
    };
    target.join("criterion")
}

/// Every benchmark under `dir` whose `new/estimates.json` was written at or after `since`.
fn collect(dir: &Path, since: SystemTime) -> Result<Vec<Measured>, Box<dyn Error>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(m) = read_measured(&path, since)? {
                    found.push(m);
                }
            } else if path.file_name().is_none_or(|n| n != "report") {
                pending.push(path);
            }
        }
    }
    found.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    Ok(found)
}

/// Reads `<bench>/new/{benchmark,estimates}.json`; `None` when absent or older than `since`.
fn read_measured(new: &Path, since: SystemTime) -> Result<Option<Measured>, Box<dyn Error>> {
    let estimates = new.join("estimates.json");
    let Ok(meta) = fs::metadata(&estimates) else {
        return Ok(None);
    };
    if meta.modified()? < since {
        return Ok(None);
    }
    let read = |path: &Path| -> Result<Value, Box<dyn Error>> {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("could not parse {}: {e}", path.display()).into())
    };
    let id = read(&new.join("benchmark.json"))?;
    let est = read(&estimates)?;
    let mean_ns = est["mean"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("no mean point estimate in {}", estimates.display()))?;
    let group = id["group_id"].as_str().unwrap_or_default().to_owned();
    let function = [id["function_id"].as_str(), id["value_str"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    Ok(Some(Measured {
        group,
        function,
        mean_ns,
        elements: id["throughput"]["Elements"].as_u64(),
    }))
}

/// `ns` as a human duration (`1.23 s`, `4.56 ms`, `789 µs`).
fn duration(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// Elements per second, from a count and nanoseconds per iteration.
fn rate(elements: u64, ns: f64) -> f64 {
    // Counts here are benchmark sizes (at most millions): exact in an f64.
    let elements = f64::from(u32::try_from(elements).unwrap_or(u32::MAX));
    elements / (ns / 1e9)
}

fn summarize(measured: &[Measured]) {
    if measured.is_empty() {
        println!("\nno benchmark results from this run (did the filter match anything?)");
        return;
    }
    println!("\nsummary (criterion mean per iteration, this run only):");
    for m in measured {
        let throughput = m
            .elements
            .map(|n| format!("  ({:.0} rows/s)", rate(n, m.mean_ns)))
            .unwrap_or_default();
        println!(
            "  {:<40} {:>12}{throughput}",
            format!("{}/{}", m.group, m.function),
            duration(m.mean_ns)
        );
    }

    let mut groups: BTreeMap<&str, Vec<&Measured>> = BTreeMap::new();
    for m in measured {
        groups.entry(m.group.as_str()).or_default().push(m);
    }
    let mut ingest: Vec<(u64, &str, Vec<&Measured>)> = groups
        .iter()
        .filter_map(|(g, ms)| {
            let rows = g.strip_prefix("ingest/postgres/")?.parse().ok()?;
            Some((rows, *g, ms.clone()))
        })
        .collect();
    ingest.sort_by_key(|(rows, _, _)| *rows);
    if !ingest.is_empty() {
        println!(
            "\ningest, API vs binary COPY of the same rows into the same table (target >= {INGEST_TARGET}x):"
        );
    }
    for (rows, _, ms) in &ingest {
        let Some(copy) = ms.iter().find(|m| m.function == "copy") else {
            println!("  ingest {rows} rows: no `copy` result in this run");
            continue;
        };
        for api in ms.iter().filter(|m| m.function.starts_with("api")) {
            let ratio = copy.mean_ns / api.mean_ns;
            // The target is for appending batches; the refresh and re-ingest variants are
            // context for it.
            let appending = api.function.starts_with("api_batch") && api.function.ends_with('k');
            let verdict = match (appending, ratio >= INGEST_TARGET) {
                (true, true) => "meets the target",
                (true, false) => "misses the target",
                (false, _) => "for reference",
            };
            println!(
                "  ingest {rows} rows: {} {}, copy {} -> api = {ratio:.2}x COPY throughput ({verdict})",
                api.function,
                duration(api.mean_ns),
                duration(copy.mean_ns),
            );
        }
        if let Some(upsert) = ms.iter().find(|m| m.function == "upsert_sql") {
            println!(
                "  ingest {rows} rows: upsert_sql (the unnest statement alone, no rollups) {} -> {:.2}x COPY throughput",
                duration(upsert.mean_ns),
                copy.mean_ns / upsert.mean_ns
            );
        }
    }

    if let Some(ms) = groups.get("ohlcv/postgres") {
        query_summary(ms);
    }
}

/// Ratios of the `ohlcv/postgres` group against the DESIGN §5 read targets.
fn query_summary(ms: &[&Measured]) {
    let find = |f: &str| ms.iter().find(|m| m.function == f);
    println!(
        "
reads, 3 symbols x 30 days of 1m candles (client round trips):"
    );
    if let (Some(api), Some(sql)) = (find("hourly_30d"), find("hourly_30d_rollup_sql")) {
        println!(
            "  1h x 30d: api {} vs its rollup SQL direct {} -> {}",
            duration(api.mean_ns),
            duration(sql.mean_ns),
            overhead(api.mean_ns, sql.mean_ns)
        );
        if let Some(lookup) = find("native_intervals_sql") {
            let both = lookup.mean_ns + sql.mean_ns;
            println!(
                "  1h x 30d: api {} vs the two statements it issues, direct (native-interval lookup {} + rollup read) {} -> api adds {:+.0}%",
                duration(api.mean_ns),
                duration(lookup.mean_ns),
                duration(both),
                (api.mean_ns / both - 1.0) * 100.0
            );
        }
    }
    if let Some(raw) = find("hourly_30d_raw_sql") {
        for (name, label) in [
            ("hourly_30d", "routed api"),
            ("hourly_30d_pending", "routed api with a pending span"),
            ("hourly_30d_rollup_sql", "rollup SQL"),
        ] {
            if let Some(m) = find(name) {
                println!(
                    "  1h x 30d: raw aggregation SQL {} vs {label} {} -> {:.1}x faster (target >= 8x)",
                    duration(raw.mean_ns),
                    duration(m.mean_ns),
                    raw.mean_ns / m.mean_ns
                );
            }
        }
    }
    if let (Some(re), Some(mat)) = (find("2h_30d"), find("hourly_30d")) {
        println!(
            "  2h (re-aggregated) {} vs 1h (materialized) {} -> {:.2}x (target <= 2x)",
            duration(re.mean_ns),
            duration(mat.mean_ns),
            re.mean_ns / mat.mean_ns
        );
    }
    let roundtrip = find("roundtrip");
    if let Some(rt) = roundtrip {
        println!(
            "  round trip (SELECT 1, prepared): {}",
            duration(rt.mean_ns)
        );
    }
    for name in ["latest_price", "market_overview"] {
        let Some(api) = find(name) else {
            continue;
        };
        let Some(sql) = find(&format!("{name}_sql")) else {
            println!("  {name}: api {}", duration(api.mean_ns));
            continue;
        };
        println!(
            "  {name}: api {} vs its SQL direct {} -> {}",
            duration(api.mean_ns),
            duration(sql.mean_ns),
            overhead(api.mean_ns, sql.mean_ns)
        );
        if let Some(fast) = find(&format!("{name}_unverified")) {
            println!(
                "  {name}: api without the verifying checkout {} vs its SQL direct {} -> {}",
                duration(fast.mean_ns),
                duration(sql.mean_ns),
                overhead(fast.mean_ns, sql.mean_ns)
            );
        }
        if let Some(rt) = roundtrip {
            // A prepared statement's round trip minus `SELECT 1`'s is its server time (plus
            // the transfer of its rows), which is what the target is about.
            let server = sql.mean_ns - rt.mean_ns;
            let verdict = if server < 1e6 { "meets" } else { "misses" };
            println!(
                "  {name}: server time ~ SQL direct - round trip = {} ({verdict} the sub-millisecond target)",
                duration(server)
            );
        }
    }
}

/// `api` over `sql` as a percentage, with the DESIGN §5 verdict.
fn overhead(api_ns: f64, sql_ns: f64) -> String {
    let extra = api_ns / sql_ns - 1.0;
    let verdict = if extra <= API_OVERHEAD_TARGET {
        "meets"
    } else {
        "misses"
    };
    format!(
        "api overhead {:+.0}% ({verdict} the <= +{:.0}% target)",
        extra * 100.0,
        API_OVERHEAD_TARGET * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(1.5e9), "1.500 s");
        assert_eq!(duration(2.25e6), "2.25 ms");
        assert_eq!(duration(750.0e3), "750.0 µs");
        assert!((rate(200_000, 1e9) - 200_000.0).abs() < 1e-6);
    }

    #[test]
    fn overhead_reads_as_a_verdict() {
        assert_eq!(
            overhead(1.1e6, 1e6),
            "api overhead +10% (meets the <= +20% target)"
        );
        assert_eq!(
            overhead(3e6, 1e6),
            "api overhead +200% (misses the <= +20% target)"
        );
    }
}
