//! `cargo xtask bench [OPTIONS] [-- CRITERION ARGS]`: the benchmark of
//! `benches/benches/marketseries.rs` (see `docs/benchmarks.md`).
//!
//! Starts the launcher's PostgreSQL and TimescaleDB servers (or uses the ones
//! `--postgres-url` / `--timescale-url` name, through the launcher's `DATABASE_URL` /
//! `TIMESCALEDB_URL`), builds the `marketseries` CLI for the import comparison, runs the
//! criterion binary with the options as `MARKETSERIES_BENCH_*` variables, prints the
//! report (`target/bench/report.md`) and fails when any operation failed or answered
//! differently from the Rust API. The servers are left running (`cargo xtask db stop`).

use std::error::Error;
use std::path::PathBuf;

use marketseries_testkit::launcher::{self, ServerKind};

use crate::cmd;

const USAGE: &str = "usage: cargo xtask bench [OPTIONS] [-- CRITERION ARGS]
  --quick               tiny data, every operation once on every target, answers checked
                        (CI: a few minutes; its times are no performance figures)
  --scale N             days multiplier of the main run (1 = 90 days, 4 = a year)
  --symbols K           symbols (default 10)
  --targets LIST        comma-separated: plain,postgres,timescale (default all three)
  --no-growth           skip the 4x growth run and the 100-symbol overview
  --postgres-url URL    plain PostgreSQL server to use instead of the launcher's
  --timescale-url URL   TimescaleDB server to use instead of the launcher's
  CRITERION ARGS        e.g. `-- --sample-size 20`
The report is written to target/bench/report.md (with chart.svg and results.json);
criterion's HTML to target/criterion/report/index.html.";

/// Runs `cargo xtask bench`; `args` are the words after `bench`.
///
/// # Errors
/// Bad options, a server that cannot be started, a build or benchmark failure.
pub fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut criterion_args: Vec<String> = Vec::new();
    let mut quick = false;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match word.as_str() {
            "help" | "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--quick" => quick = true,
            "--no-growth" => env.push(("MARKETSERIES_BENCH_GROWTH", "0".into())),
            "--scale" => env.push(("MARKETSERIES_BENCH_SCALE", value("--scale")?)),
            "--symbols" => env.push(("MARKETSERIES_BENCH_SYMBOLS", value("--symbols")?)),
            "--targets" => env.push(("MARKETSERIES_BENCH_TARGETS", value("--targets")?)),
            "--postgres-url" => env.push((
                ServerKind::Postgres.override_var(),
                value("--postgres-url")?,
            )),
            "--timescale-url" => env.push((
                ServerKind::Timescale.override_var(),
                value("--timescale-url")?,
            )),
            "--" => criterion_args.extend(words.by_ref().cloned()),
            other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
        }
    }
    if quick {
        env.push(("MARKETSERIES_BENCH_QUICK", "1".into()));
    }
    // Quick runs are about code paths, not speed: they reuse the test build (dev profile)
    // instead of compiling the workspace again with optimizations.
    let profile = if quick { "dev" } else { "release" };
    let target_dir = target_dir();
    let mut build = cmd::cargo();
    build.args(["build", "-p", "marketseries-cli", "--profile", profile]);
    cmd::run(build)?;
    let cli = target_dir
        .join(if quick { "debug" } else { "release" })
        .join("marketseries");

    // The launcher reads the override variables from the process environment.
    for (k, v) in &env {
        if k.ends_with("_URL") {
            std::env::set_var(k, v);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for kind in [ServerKind::Postgres, ServerKind::Timescale] {
        let server = runtime.block_on(launcher::ensure_server(kind))?;
        println!(
            "{} server: {} ({})",
            kind.label(),
            launcher::redact(server.url()),
            server.flavor
        );
    }

    let out = target_dir.join("bench");
    let mut bench = cmd::cargo();
    bench
        .args([
            "bench",
            "-p",
            "marketseries-benches",
            "--bench",
            "marketseries",
        ])
        .args(["--profile", if quick { "dev" } else { "bench" }])
        .env("MARKETSERIES_BENCH_OUT", &out)
        .env("MARKETSERIES_BENCH_CLI", &cli)
        .env("CRITERION_HOME", target_dir.join("criterion"))
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .arg("--")
        .args(&criterion_args);
    let result = cmd::run(bench);
    if !out.join("report.md").is_file() {
        eprintln!("no report in {}", out.display());
    }
    println!("\nthe servers are left running; stop them with `cargo xtask db stop` when done");
    result
}

/// `$CARGO_TARGET_DIR`, else `<root>/target`.
fn target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| cmd::root().join("target"), PathBuf::from);
    if dir.is_absolute() {
        dir
    } else {
        cmd::root().join(dir)
    }
}
