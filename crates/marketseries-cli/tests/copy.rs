//! `copy` and `export` against real servers: a generated month (candles, sentiment, flows,
//! indicators) copied from plain PostgreSQL to TimescaleDB and back answers every query
//! command identically; a copy killed mid-way completes when run again, skipping what was
//! done; export then import round-trips byte for byte; nothing is overwritten unasked.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use marketseries_core::{Candle, Interval};
use marketseries_testkit::generate::{self, CandleSpec};
use marketseries_testkit::launcher::ServerKind;
use serde_json::Value;

use common::{
    flows_csv, generic_csv, migrated_database_on, rfc3339, run, same_json, scratch_dir,
    sentiment_csv, table_rows, write,
};

fn start() -> DateTime<Utc> {
    "2024-03-01T00:00:00Z".parse().unwrap()
}

/// 15-minute candles of 2 symbols over `days` days.
fn candles(days: u32) -> Vec<Candle> {
    CandleSpec::minutes(2, days, start(), 21)
        .generate()
        .into_iter()
        .filter(|c| c.time.minute() % 15 == 0)
        .map(|c| Candle {
            interval: Interval::M15,
            ..c
        })
        .collect()
}

fn indicators_csv(days: i64) -> String {
    let mut out = String::from("time,symbol,interval,name,value\n");
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for h in 0..days * 24 {
            let t = start() + TimeDelta::hours(h);
            out.push_str(&format!(
                "{},{symbol},1h,rsi_14,{}.{:03}\n",
                rfc3339(t),
                30 + h % 40,
                h % 997
            ));
        }
    }
    out
}

/// A migrated database on `kind` holding the generated month, imported through the CLI.
async fn loaded(kind: ServerKind, days: u32) -> String {
    let url = migrated_database_on(kind).await;
    let dir = scratch_dir("copy-source");
    let t0 = start();
    let readings = generate::sentiment(
        &["BTC", "ETH"],
        t0,
        TimeDelta::hours(1),
        usize::try_from(days * 24).unwrap(),
        3,
    );
    let flows = generate::flows(&["BTC", "ETH"], t0, days, 20, 4);
    for (what, text) in [
        ("candles", generic_csv(&candles(days))),
        ("sentiment", sentiment_csv(&readings)),
        ("flows", flows_csv(&flows)),
        ("indicators", indicators_csv(i64::from(days))),
    ] {
        let file = write(&dir, &format!("{what}.csv"), &text);
        run(Some(&url), &["import", what, &file]).ok();
    }
    url
}

/// The questions every backend must answer alike after a copy.
fn questions() -> Vec<Vec<String>> {
    let from = rfc3339(start() + TimeDelta::days(3) + TimeDelta::minutes(7));
    let to = rfc3339(start() + TimeDelta::days(17));
    let at = rfc3339(start() + TimeDelta::days(12) + TimeDelta::hours(5));
    let span = ["--from", &from, "--to", &to];
    let mut out: Vec<Vec<&str>> = vec![
        vec!["symbols"],
        vec!["latest", "--symbol", "BTCUSDT"],
        vec!["change", "--symbol", "ETHUSDT", "--last", "3d", "--at", &at],
        vec!["sentiment", "summary", "--last", "2d", "--at", &at],
        vec![
            "sentiment",
            "trend",
            "--asset",
            "BTC",
            "--last",
            "1d",
            "--at",
            &at,
        ],
        vec!["sentiment", "latest", "--asset", "ETH"],
        vec![
            "flows", "velocity", "--asset", "BTC", "--last", "2d", "--at", &at,
        ],
        vec!["indicators", "latest", "--symbol", "BTCUSDT"],
        vec!["indicators", "list", "--symbol", "ETHUSDT"],
    ];
    let ranged: Vec<Vec<&str>> = vec![
        vec!["ohlcv", "--symbol", "BTCUSDT", "--interval", "1h"],
        vec!["ohlcv", "--symbol", "ETHUSDT", "--interval", "1d"],
        vec!["ohlcv", "--symbol", "ETHUSDT", "--interval", "2h"],
        vec!["range", "--symbol", "BTCUSDT"],
        vec!["volume-profile", "--symbol", "BTCUSDT", "--step", "50"],
        vec!["sentiment", "readings", "--asset", "BTC"],
        vec![
            "sentiment",
            "aggregates",
            "--asset",
            "ETH",
            "--bucket",
            "day",
        ],
        vec!["sentiment", "by-source", "--asset", "BTC"],
        vec!["sentiment", "distribution", "--asset", "ETH"],
        vec!["flows", "history", "--asset", "ETH"],
        vec!["flows", "aggregates", "--asset", "BTC", "--bucket", "hour"],
        vec!["flows", "net", "--asset", "BTC"],
        vec!["flows", "exchanges", "--asset", "ETH"],
        vec!["flows", "whales", "--min-amount", "10"],
        vec![
            "indicators",
            "series",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
            "--name",
            "rsi_14",
        ],
    ];
    for mut q in ranged {
        q.extend(span);
        out.push(q);
    }
    out.into_iter()
        .map(|q| q.into_iter().map(str::to_owned).collect())
        .collect()
}

fn answer(url: &str, question: &[String]) -> Value {
    let mut args: Vec<&str> = question.iter().map(String::as_str).collect();
    args.extend(["--format", "json"]);
    serde_json::from_str(run(Some(url), &args).ok()).unwrap()
}

fn copy(from: &str, to: &str, extra: &[&str]) -> String {
    let mut args = vec!["copy", "--from", from, "--to", to];
    args.extend(extra);
    run(None, &args).ok().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_copied_to_timescaledb_and_back_answers_alike() {
    let postgres = loaded(ServerKind::Postgres, 30).await;
    let timescale = migrated_database_on(ServerKind::Timescale).await;
    let back = migrated_database_on(ServerKind::Postgres).await;

    let out = copy(&postgres, &timescale, &["--batch-size", "2000"]);
    assert!(
        out.contains("copied 5760 candles: 5760 written, 0 already there"),
        "{out}"
    );
    assert!(out.contains("copied 4320 readings: 4320 written"), "{out}");
    assert!(out.contains("copied 1440 indicator values"), "{out}");
    assert!(
        out.contains("verified: 5760 candles on both sides"),
        "{out}"
    );
    assert!(out.contains("sampled OHLCV answers equal"), "{out}");
    let out = copy(&timescale, &back, &[]);
    assert!(out.contains("copied 5760 candles: 5760 written"), "{out}");

    for question in questions() {
        let want = answer(&postgres, &question);
        let what = question.join(" ");
        assert!(
            want != Value::Null && want != Value::Array(Vec::new()),
            "{what}: an empty answer proves nothing"
        );
        same_json(
            &format!("{what} on TimescaleDB"),
            &answer(&timescale, &question),
            &want,
        );
        same_json(
            &format!("{what} copied back"),
            &answer(&back, &question),
            &want,
        );
    }

    // Again: everything is there already.
    let out = copy(&postgres, &back, &["--datasets", "candles,flows"]);
    assert!(
        out.contains("copied 5760 candles: 0 written, 5760 already there (skipped)"),
        "{out}"
    );
    assert!(
        !out.contains("readings"),
        "only the datasets asked for: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_copy_completes_when_run_again() {
    let source = loaded(ServerKind::Postgres, 30).await;
    let destination = migrated_database_on(ServerKind::Postgres).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketseries"))
        .args([
            "copy",
            "--from",
            &source,
            "--to",
            &destination,
            "--batch-size",
            "5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn copy");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let copied = table_rows(&destination, "candles");
        if copied >= 500 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the copy finished before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "the copy made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    let partial = table_rows(&destination, "candles");
    assert!(partial < 5760, "killed after it finished: {partial}");

    let out = copy(&source, &destination, &[]);
    let line = out
        .lines()
        .find(|l| l.starts_with("copied 5760 candles: "))
        .unwrap_or_else(|| panic!("{out}"));
    let skipped: u64 = line
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // Every write is atomic: exactly what the first run stored is skipped.
    assert_eq!(skipped, partial, "{line}");
    assert!(
        out.contains("verified: 5760 candles on both sides"),
        "{out}"
    );
    assert_eq!(table_rows(&destination, "candles"), 5760);
    assert_eq!(
        table_rows(&destination, "flows"),
        table_rows(&source, "flows")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_round_trips_exactly() {
    let source = loaded(ServerKind::Postgres, 3).await;
    let other = migrated_database_on(ServerKind::Postgres).await;
    let dir = scratch_dir("export");
    for dataset in ["candles", "sentiment", "flows", "indicators"] {
        let file = dir.join(format!("{dataset}.csv"));
        let file = file.to_str().unwrap();
        let out = run(Some(&source), &["export", dataset, "--output", file]);
        out.ok();
        assert!(out.stderr.contains("exported "), "{out:#?}");
        run(Some(&other), &["import", dataset, file]).ok();
        let again = run(Some(&other), &["export", dataset]);
        assert_eq!(
            again.ok(),
            std::fs::read_to_string(file).unwrap(),
            "{dataset}: export of the import differs"
        );
        // An existing file is never replaced unless asked.
        let before = std::fs::read_to_string(file).unwrap();
        let stderr = run(
            Some(&source),
            &["export", dataset, "-o", file, "--symbols", "NONE"],
        )
        .fails(3)
        .to_owned();
        assert!(stderr.contains("--force"), "{stderr}");
        assert_eq!(std::fs::read_to_string(file).unwrap(), before);
    }
    // A selection: one symbol over one day.
    let out = run(
        Some(&source),
        &[
            "export",
            "candles",
            "--symbols",
            "ETHUSDT",
            "--since",
            "2024-03-02",
            "--until",
            "2024-03-03",
        ],
    );
    let text = out.ok();
    assert_eq!(text.lines().count(), 1 + 96, "{text:.300}");
    assert!(text
        .lines()
        .skip(1)
        .all(|l| l.contains(",ETHUSDT,15m,") && l.starts_with("2024-03-02T")));
    run(
        Some(&source),
        &[
            "export",
            "candles",
            "--since",
            "2024-03-03",
            "--until",
            "2024-03-02",
        ],
    )
    .fails(3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_table_copies_into_a_store() {
    let seed = marketseries_testkit::launcher::fresh_database(ServerKind::Postgres)
        .await
        .expect("seed database");
    let (client, connection) = tokio_postgres::connect(seed.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    // The seed's schema: no marketseries migration on this database.
    client
        .batch_execute(
            "CREATE SCHEMA legacy; \
             CREATE TABLE legacy.price_data (time TIMESTAMPTZ NOT NULL, symbol VARCHAR(20) NOT NULL, \
               interval VARCHAR(10) NOT NULL, open NUMERIC(20,8), high NUMERIC(20,8), \
               low NUMERIC(20,8), close NUMERIC(20,8), volume NUMERIC(30,8), \
               PRIMARY KEY (time, symbol, interval)); \
             INSERT INTO legacy.price_data \
               SELECT timestamptz '2024-03-01' + n * interval '1 hour', s, '1h', \
                      100 + n, 101 + n, 99 + n, 100.5 + n, n * 0.25 \
               FROM generate_series(0, 239) n, unnest(ARRAY['BTCUSDT', 'ETHUSDT', 'SOLUSDT']) s",
        )
        .await
        .expect("seed table");
    let destination = migrated_database_on(ServerKind::Postgres).await;
    let out = run(
        None,
        &[
            "copy",
            "--from",
            seed.url(),
            "--to",
            &destination,
            "--from-table",
            "legacy.price_data",
            "--batch-size",
            "100",
            "--symbols",
            "BTCUSDT,SOLUSDT",
        ],
    );
    let text = out.ok();
    assert!(text.contains("copied 480 candles: 480 written"), "{text}");
    assert!(
        text.contains("verified: 480 candles on both sides"),
        "{text}"
    );
    let csv = run(
        Some(&destination),
        &["export", "candles", "--symbols", "SOLUSDT"],
    );
    let csv = csv.ok();
    assert_eq!(csv.lines().count(), 241);
    assert!(
        csv.contains("\n2024-03-01T01:00:00Z,SOLUSDT,1h,101.00000000,102.00000000,100.00000000,101.50000000,0.25000000\n"),
        "{csv:.400}"
    );
    run(
        None,
        &[
            "copy",
            "--from",
            seed.url(),
            "--to",
            &destination,
            "--from-table",
            "price_data; DROP",
        ],
    )
    .fails(3);
}
