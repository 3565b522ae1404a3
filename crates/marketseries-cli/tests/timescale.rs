//! The CLI unchanged on TimescaleDB: a `postgres://` URL of a TimescaleDB database selects
//! the TimescaleDB backend by itself; import, `ohlcv` at 1h / 2h / 1d / 1w equal to the
//! reference store, `maintain --compress`, and `stats` showing compression, aggregates and
//! jobs. Runs against the launcher's TimescaleDB (embedded unless a native one exists).

mod common;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use marketseries_core::{Interval, MemoryStore, OhlcvQuery, PriceStore, TimeRange};
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::launcher::ServerKind;

use common::{
    bars_csv, generic_csv, migrated_database_on, rfc3339, run, scratch_dir, table_rows, write,
};

fn stats_json(url: &str) -> serde_json::Value {
    serde_json::from_str(run(Some(url), &["stats", "--format", "json"]).ok()).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn import_query_compress_and_stats_on_timescaledb() {
    let url = migrated_database_on(ServerKind::Timescale).await;
    let stats = stats_json(&url);
    assert_eq!(stats["backend"], "timescaledb", "{stats}");

    // Fifteen days from a Monday, so that 1w has whole and partial weeks, ending over a
    // week ago: `maintain --compress` compresses what the stored 7-day compression policy
    // would, so data younger than that would stay uncompressed.
    let week: Interval = "1w".parse().unwrap();
    let start: DateTime<Utc> = week.floor(Utc::now() - TimeDelta::days(22));
    assert_eq!(start.weekday(), chrono::Weekday::Mon, "{start}");
    let candles = CandleSpec::minutes(2, 15, start, 7).generate();
    let dir = scratch_dir("timescale");
    let file = write(&dir, "candles.csv", &generic_csv(&candles));
    let out = run(Some(&url), &["import", "candles", &file]);
    assert!(out.ok().starts_with("imported 43200 candles"), "{out:#?}");
    assert_eq!(table_rows(&url, "candles"), 43_200);

    let reference = MemoryStore::new();
    reference.store_candles(&candles).await.unwrap();
    let range = TimeRange::new(start, start + TimeDelta::days(15)).unwrap();
    let mut expected = Vec::new();
    for interval in ["1h", "2h", "1d", "1w"] {
        let query = OhlcvQuery::new("ETHUSDT", interval.parse::<Interval>().unwrap(), range);
        expected.push((interval, reference.ohlcv(&query).await.unwrap().bars));
    }
    let answers = |phase: &str| {
        for (interval, bars) in &expected {
            let out = run(
                Some(&url),
                &[
                    "ohlcv",
                    "--symbol",
                    "ETHUSDT",
                    "--interval",
                    interval,
                    "--from",
                    &rfc3339(range.from()),
                    "--to",
                    &rfc3339(range.to()),
                    "--format",
                    "csv",
                ],
            );
            assert_eq!(out.ok(), bars_csv(bars), "{interval} ({phase})");
            assert!(out.stderr.starts_with("route: "), "{}", out.stderr);
        }
    };
    answers("after import");

    let maintain = run(Some(&url), &["maintain", "--compress"]);
    let report = maintain.ok();
    assert!(
        report.contains("compression: price: compressed 15 chunks"),
        "fifteen days from midnight are fifteen daily chunks: {report}"
    );
    // The refresh reports a line per window of each aggregate on stderr, finest first.
    let progress: Vec<&str> = maintain
        .stderr
        .lines()
        .filter(|l| l.starts_with("refresh: "))
        .collect();
    assert!(
        progress
            .first()
            .is_some_and(|l| l.starts_with("refresh: ohlcv_5m: step 1 of ")),
        "{maintain:#?}"
    );
    answers("after compression");

    let stats = stats_json(&url);
    let candles_stats = stats["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "candles")
        .unwrap();
    assert!(
        candles_stats["compressed_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{candles_stats}"
    );
    assert!(
        !stats["aggregates"].as_array().unwrap().is_empty(),
        "{stats}"
    );
    assert!(!stats["jobs"].as_array().unwrap().is_empty(), "{stats}");
    let table = run(Some(&url), &["stats"]);
    let text = table.ok();
    assert!(text.starts_with("backend: timescaledb\n"), "{text}");
    assert!(
        text.contains("ohlcv_1h") && text.contains("materialized up to"),
        "{text}"
    );
    assert!(
        text.contains("Columnstore Policy") || text.contains("Compression Policy"),
        "{text}"
    );
    let candles_line = text.lines().find(|l| l.starts_with("candles")).unwrap();
    assert!(candles_line.ends_with('%'), "a compression saving: {text}");

    // The same database through the explicit scheme.
    let explicit = url.replacen("postgres://", "timescaledb://", 1);
    let latest = run(Some(&explicit), &["latest", "--symbol", "BTCUSDT"]);
    assert!(latest.ok().contains("BTCUSDT"), "{latest:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn compression_is_refused_on_plain_postgres_and_backend_flags_are_checked() {
    let url = migrated_database_on(ServerKind::Postgres).await;
    assert_eq!(stats_json(&url)["backend"], "postgres");
    let out = run(Some(&url), &["maintain", "--compress"]);
    let err = out.fails(2);
    assert!(
        err.contains("--compress needs the TimescaleDB backend"),
        "{err}"
    );
    // Refused before anything was done: no policies applied, so no partitions created ahead.
    let stats = stats_json(&url);
    let partitions: u64 = stats["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["partitions"].as_u64().unwrap())
        .sum();
    assert_eq!(partitions, 0, "{stats}");
    let explicit = url.replacen("postgres://", "timescaledb://", 1);
    let out = run(Some(&explicit), &["--backend", "postgres", "stats"]);
    let err = out.fails(2);
    assert!(err.contains("contradict"), "{err}");
    // Forcing TimescaleDB onto a server without it is a clear error, not a hang.
    let out = run(Some(&url), &["--backend", "timescaledb", "stats"]);
    let err = out.fails(3);
    assert!(err.contains("TimescaleDB"), "{err}");
}
