//! Issue acceptance: a generated generic CSV imported through the CLI reads back with
//! `ohlcv --format csv` at 1h, 2h and 1d exactly as the in-memory reference store answers.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{Interval, MemoryStore, OhlcvQuery, PriceStore, TimeRange};
use marketseries_testkit::generate::CandleSpec;

use common::{bars_csv, generic_csv, migrated_database, rfc3339, run, scratch_dir, write};

/// `ohlcv` of `symbol` at `interval` over `[start, end)` as CSV.
fn ohlcv_csv_args(
    symbol: &str,
    interval: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    [
        "ohlcv",
        "--symbol",
        symbol,
        "--interval",
        interval,
        "--from",
        &rfc3339(start),
        "--to",
        &rfc3339(end),
        "--format",
        "csv",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_csv_reads_back_like_the_reference_store() {
    let url = migrated_database().await;
    let start: DateTime<Utc> = "2024-03-01T00:00:00Z".parse().unwrap();
    let candles = CandleSpec::minutes(2, 3, start, 11).generate();
    assert_eq!(candles.len(), 2 * 3 * 1_440);
    let dir = scratch_dir("round-trip");
    let file = write(&dir, "candles.csv", &generic_csv(&candles));

    // A small batch size so the import spans several batches.
    let out = run(
        Some(&url),
        &["import", "candles", &file, "--batch-size", "1000"],
    );
    let summary = out.ok();
    assert!(
        summary.starts_with("imported 8640 candles (8640 distinct) for 2 symbols in "),
        "{summary}"
    );

    let reference = MemoryStore::new();
    reference.store_candles(&candles).await.unwrap();
    let end = start + TimeDelta::days(3);
    let range = TimeRange::new(start, end).unwrap();
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for interval in ["1h", "2h", "1d"] {
            let query = OhlcvQuery::new(symbol, interval.parse::<Interval>().unwrap(), range);
            let expected = bars_csv(&reference.ohlcv(&query).await.unwrap().bars);
            let args = ohlcv_csv_args(symbol, interval, start, end);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(Some(&url), &args);
            assert_eq!(out.ok(), expected, "{symbol} at {interval}");
            assert!(out.stderr.starts_with("route: "), "{}", out.stderr);
            // Forcing a refresh first must not change the answer.
            let mut fresh = args.clone();
            fresh.push("--fresh");
            assert_eq!(
                run(Some(&url), &fresh).ok(),
                expected,
                "{symbol} at {interval} --fresh"
            );
        }
    }

    // Re-importing the same file changes nothing (idempotent upserts).
    run(Some(&url), &["import", "candles", &file]).ok();
    assert_eq!(common::table_rows(&url, "candles"), 8_640);

    // The reporting commands work on the imported data. The overview asks the store for
    // the last 24 hours of "now", which must be whole microseconds to be a valid range.
    let overview = run(Some(&url), &["overview"]);
    let lines: Vec<&str> = overview.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{overview:#?}");
    assert!(
        lines[1].starts_with("BTCUSDT  2024-03-03T23:59:00Z"),
        "{lines:?}"
    );
    let stats = run(Some(&url), &["stats"]);
    assert!(stats.ok().contains("candles"), "{stats:#?}");
    // A bad connection count is a usage error, before anything is done.
    let refused = run(Some(&url), &["maintain", "--jobs", "0"]);
    assert!(refused.fails(2).contains("--jobs"), "{refused:#?}");
    let maintain = run(Some(&url), &["maintain", "--jobs", "2"]);
    assert!(
        maintain.ok().contains("retention: skipped"),
        "{maintain:#?}"
    );
    // The re-import left spans pending for both symbols: on two connections each symbol
    // is one step, and the refresh reports both on stderr (not a terminal here, so as
    // lines of their own).
    for step in ["step 1 of 2 (through ", "step 2 of 2 (through "] {
        assert!(
            maintain
                .stderr
                .lines()
                .any(|l| l.starts_with(&format!("refresh: ohlcv rollups: {step}"))),
            "{step}: {maintain:#?}"
        );
    }
    assert_eq!(common::table_rows(&url, "candles"), 8_640);
    // Nothing is left to do: one connection finds no step.
    let again = run(Some(&url), &["maintain"]);
    assert!(!again.stderr.contains("step 1"), "{again:#?}");
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let query = OhlcvQuery::new(symbol, Interval::D1, range);
        let expected = bars_csv(&reference.ohlcv(&query).await.unwrap().bars);
        let args = ohlcv_csv_args(symbol, "1d", start, end);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(
            run(Some(&url), &args).ok(),
            expected,
            "{symbol} after maintain"
        );
    }
}
