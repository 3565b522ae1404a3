//! CLI import against `psql \copy`: the same CSV file into the same table.
//!
//! The file has the CLI's generic header (`time,symbol,interval,open,high,low,close,volume`,
//! RFC 3339 UTC times). `marketseries import candles FILE` runs into a freshly migrated
//! database; `psql -c "\copy candles(...) FROM FILE (FORMAT csv, HEADER)"` into a second
//! one, whose daily partitions (plain PostgreSQL) exist already.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use marketseries_core::{Candle, Clock};

use crate::answer;
use crate::data::DataSet;
use crate::load::with_partitions;
use crate::results::{Key, Phase};
use crate::run::Runner;
use crate::target::{pg_error, Res, Target, TargetKind};

/// Writes `candles` as the CLI's generic CSV.
///
/// # Errors
/// The file cannot be written.
pub fn write_csv(path: &Path, candles: &[Candle]) -> Res<()> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    writeln!(out, "time,symbol,interval,open,high,low,close,volume").map_err(io)?;
    for c in candles {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            answer::time(&c.time),
            c.symbol,
            c.interval,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Runs `cmd`; returns its stderr.
fn run(mut cmd: Command, what: &str) -> Res<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    } else {
        Err(format!(
            "{what}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn rows_in(target: &mut Target) -> Res<i64> {
    target
        .client()
        .await?
        .query_one("SELECT count(*) FROM candles", &[])
        .await
        .map(|r| r.get(0))
        .map_err(|e| format!("count: {}", pg_error(&e)))
}

/// Times the CLI import and `psql \copy` of the same file on every target that has them
/// (`psql \copy` only on the plain table).
#[allow(clippy::too_many_arguments)]
pub fn compare(
    runner: &mut Runner,
    label: &str,
    targets: &[TargetKind],
    cli: Option<&PathBuf>,
    psql: &Path,
    csv: &Path,
    data: &DataSet,
    candles: &[Candle],
    clock: &Arc<dyn Clock>,
) {
    let expected = i64::try_from(candles.len()).unwrap_or(i64::MAX);
    let rows = u64::try_from(candles.len()).ok();
    for &kind in targets {
        let key = |op: &str| Key::new(label, Phase::Ingest, kind, op);
        if let (Some(cli), Some(backend)) = (cli, kind.backend()) {
            let mut target = match runner.rt.block_on(Target::create(kind, clock.clone())) {
                Ok(t) => t,
                Err(e) => return runner.results.fail(e),
            };
            if !with_partitions(runner, key("cli_partitions"), &mut target, data, candles) {
                continue;
            }
            runner.rt.block_on(target.release());
            let url = target.db.url().to_owned();
            let stderr = runner.once(
                key("cli_import"),
                "`marketseries import candles FILE` into a freshly migrated database",
                rows,
                || async {
                    let mut cmd = Command::new(cli);
                    cmd.args([
                        "--url",
                        &url,
                        "--backend",
                        backend.as_str(),
                        "import",
                        "candles",
                    ])
                    .arg(csv);
                    run(cmd, "marketseries import candles")
                },
            );
            // Where the import's time goes beyond storing: the checking pass before any
            // write, and the statistics update after the last (the CLI notes both).
            for line in stderr.iter().flat_map(|s| s.lines()) {
                let seconds = line
                    .rsplit_once(" in ")
                    .and_then(|(_, t)| t.strip_suffix(" s"))
                    .and_then(|t| t.parse::<f64>().ok());
                let what = if line.starts_with("checked ") {
                    "check_seconds"
                } else if line.starts_with("statistics updated") {
                    "analyze_seconds"
                } else {
                    continue;
                };
                if let Some(seconds) = seconds {
                    runner.results.fact(
                        format!("{label}.{kind}.cli_import.{what}"),
                        format!("{seconds:.2}"),
                    );
                }
            }
            match runner.rt.block_on(rows_in(&mut target)) {
                Ok(n) if n == expected => {}
                Ok(n) => runner.results.fail(format!(
                    "{kind}: the CLI import stored {n} of {expected} candles"
                )),
                Err(e) => runner.results.fail(e),
            }
            runner.rt.block_on(target.drop_database());
        }
        let mut target = match runner.rt.block_on(Target::create(kind, clock.clone())) {
            Ok(t) => t,
            Err(e) => return runner.results.fail(e),
        };
        if !with_partitions(runner, key("psql_partitions"), &mut target, data, candles) {
            continue;
        }
        runner.rt.block_on(target.release());
        let url = target.db.url().to_owned();
        runner.once(
            key("psql_copy"),
            "`psql -c \"\\copy candles(...) FROM FILE (FORMAT csv, HEADER)\"` into the same table",
            rows,
            || async {
                let mut cmd = Command::new(psql);
                cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c"]).arg(format!(
                    "\\copy candles (time, symbol, interval, open, high, low, close, volume) FROM '{}' WITH (FORMAT csv, HEADER true)",
                    csv.display()
                ));
                run(cmd, "psql \\copy").map(drop)
            },
        );
        match runner.rt.block_on(rows_in(&mut target)) {
            Ok(n) if n == expected => {}
            Ok(n) => runner.results.fail(format!(
                "{kind}: psql \\copy stored {n} of {expected} candles"
            )),
            Err(e) => runner.results.fail(e),
        }
        runner.rt.block_on(target.drop_database());
    }
}
