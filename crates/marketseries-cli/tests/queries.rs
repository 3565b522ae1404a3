//! Every question command against both real backends: generated candles, sentiment and
//! flows imported through the CLI, then each command's `--format json` answer compared
//! with the in-memory reference store's answer to the same question (decimals exactly,
//! as strings; float means within rounding), its CSV parsed (header plus one record per
//! answer row), its table printed. Readings and flows exported as CSV import again into
//! another database unchanged. Bad invocations exit with the documented codes.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    AggregateBucket, FlowStore, FlowType, MemoryStore, PriceStore, SentimentStore, TimeRange,
    VolumeProfileQuery, WhaleQuery,
};
use marketseries_testkit::generate::{self, CandleSpec};
use marketseries_testkit::launcher::ServerKind;
use serde::Serialize;
use serde_json::Value;

use common::{
    flows_csv, generic_csv, migrated_database_on, rfc3339, run, same_json, scratch_dir,
    sentiment_csv, write,
};

fn start() -> DateTime<Utc> {
    "2024-03-01T00:00:00Z".parse().unwrap()
}

/// `head` then `tail`, owned.
fn with(head: &[&str], tail: &[&str]) -> Vec<String> {
    head.iter().chain(tail).map(|s| (*s).to_owned()).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// One question asked through the CLI and of the reference store.
struct Case<'a> {
    url: &'a str,
    /// Answers that held something (so the comparisons are not all of empty answers).
    answered: std::cell::Cell<usize>,
}

impl Case<'_> {
    /// Runs `args` with every format; the JSON must equal `want`, the CSV must hold one
    /// record per answer row, the table must print. Returns the CSV.
    fn check<T: Serialize>(&self, args: &[&str], want: &T) -> String {
        let what = args.join(" ");
        let want = serde_json::to_value(want).unwrap();
        let json = run(Some(self.url), &[args, &["--format", "json"]].concat());
        let got: Value = serde_json::from_str(json.ok())
            .unwrap_or_else(|e| panic!("{what}: not one JSON document ({e}): {json:#?}"));
        same_json(&what, &got, &want);

        let csv_run = run(Some(self.url), &[args, &["--format", "csv"]].concat());
        let csv_text = csv_run.ok().to_owned();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let header = reader.headers().expect("csv header").clone();
        assert!(!header.is_empty(), "{what}: empty CSV header");
        let records = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{what}: bad CSV ({e}): {csv_text}"));
        let expected_rows = match &want {
            Value::Array(a) => a.len(),
            Value::Null => 0,
            _ => 1,
        };
        if expected_rows > 0 && want != Value::Array(Vec::new()) {
            self.answered.set(self.answered.get() + 1);
        }
        assert_eq!(records.len(), expected_rows, "{what}: CSV rows\n{csv_text}");
        assert!(
            records.iter().all(|r| r.len() == header.len()),
            "{what}: ragged CSV\n{csv_text}"
        );

        let table = run(Some(self.url), args);
        assert!(!table.ok().trim().is_empty(), "{what}: empty table");
        csv_text
    }
}

async fn every_question_command_answers_like_the_reference(kind: ServerKind) {
    let url = migrated_database_on(kind).await;
    let dir = scratch_dir("queries");
    let t0 = start();
    let candles = CandleSpec::minutes(2, 3, t0, 5).generate();
    let readings = generate::sentiment(&["BTC", "ETH"], t0, TimeDelta::minutes(10), 432, 6);
    let flows = generate::flows(&["BTC", "ETH"], t0, 3, 40, 7);
    let files = [
        (
            "candles",
            write(&dir, "candles.csv", &generic_csv(&candles)),
        ),
        (
            "sentiment",
            write(&dir, "sentiment.csv", &sentiment_csv(&readings)),
        ),
        ("flows", write(&dir, "flows.csv", &flows_csv(&flows))),
    ];
    for (kind, file) in &files {
        let out = run(Some(&url), &["import", kind, file]);
        assert!(out.ok().starts_with("imported "), "{out:#?}");
    }
    let r = MemoryStore::new();
    r.store_candles(&candles).await.unwrap();
    r.store_sentiments(&readings).await.unwrap();
    r.store_flows(&flows).await.unwrap();

    let case = Case {
        url: &url,
        answered: std::cell::Cell::new(0),
    };
    let from = t0 + TimeDelta::hours(6) + TimeDelta::minutes(7);
    let to = t0 + TimeDelta::days(2) + TimeDelta::hours(13);
    let range = TimeRange::new(from, to).unwrap();
    let (from_s, to_s) = (rfc3339(from), rfc3339(to));
    let span = ["--from", from_s.as_str(), "--to", to_s.as_str()];
    let at = t0 + TimeDelta::days(2) + TimeDelta::hours(5) + TimeDelta::seconds(30);
    let at_s = rfc3339(at);

    // Price.
    case.check(&["symbols"], &r.symbols().await.unwrap());
    case.check(&["overview"], &r.market_overview().await.unwrap());
    for symbol in ["BTCUSDT", "ETHUSDT", "NOPE"] {
        case.check(
            &["latest", "--symbol", symbol],
            &r.latest_price(symbol).await.unwrap(),
        );
        for last in [("6h", TimeDelta::hours(6)), ("2d", TimeDelta::days(2))] {
            case.check(
                &[
                    "change", "--symbol", symbol, "--last", last.0, "--at", &at_s,
                ],
                &r.price_change_at(symbol, last.1, at).await.unwrap(),
            );
        }
        let args = with(&["range", "--symbol", symbol], &span);
        case.check(&refs(&args), &r.price_range(symbol, range).await.unwrap());
        // `--last` ending at `--at` is the same range as `--from`/`--to`.
        let last_range = TimeRange::last(at, TimeDelta::hours(12)).unwrap();
        case.check(
            &["range", "--symbol", symbol, "--last", "12h", "--at", &at_s],
            &r.price_range(symbol, last_range).await.unwrap(),
        );
        let args = with(
            &["volume-profile", "--symbol", symbol, "--step", "25"],
            &span,
        );
        let q = VolumeProfileQuery {
            symbol: symbol.to_owned(),
            range,
            price_step: "25".parse().unwrap(),
        };
        case.check(&refs(&args), &r.volume_profile(&q).await.unwrap());
    }

    // Sentiment.
    let exported = with(&["sentiment", "readings", "--asset", "BTC"], &span);
    let readings_csv = case.check(
        &refs(&exported),
        &r.sentiment_readings("BTC", range, None).await.unwrap(),
    );
    for asset in ["BTC", "ETH", "NONE"] {
        let args = with(
            &[
                "sentiment",
                "readings",
                "--asset",
                asset,
                "--source",
                "reddit",
            ],
            &span,
        );
        case.check(
            &refs(&args),
            &r.sentiment_readings(asset, range, Some("reddit"))
                .await
                .unwrap(),
        );
        for (bucket, b) in [
            ("hour", AggregateBucket::Hour),
            ("day", AggregateBucket::Day),
        ] {
            let args = with(
                &[
                    "sentiment",
                    "aggregates",
                    "--asset",
                    asset,
                    "--bucket",
                    bucket,
                ],
                &span,
            );
            case.check(
                &refs(&args),
                &r.sentiment_aggregates(asset, b, range).await.unwrap(),
            );
        }
        case.check(
            &[
                "sentiment",
                "trend",
                "--asset",
                asset,
                "--last",
                "6h",
                "--at",
                &at_s,
            ],
            &r.sentiment_trend_at(asset, TimeDelta::hours(6), at)
                .await
                .unwrap(),
        );
        let args = with(&["sentiment", "by-source", "--asset", asset], &span);
        case.check(
            &refs(&args),
            &r.sentiment_by_source(asset, range).await.unwrap(),
        );
        let args = with(&["sentiment", "distribution", "--asset", asset], &span);
        case.check(
            &refs(&args),
            &r.sentiment_distribution(asset, range).await.unwrap(),
        );
        for source in [None, Some("news")] {
            let mut args = vec!["sentiment", "latest", "--asset", asset];
            args.extend(source.map(|s| ["--source", s]).into_iter().flatten());
            case.check(&args, &r.latest_sentiment(asset, source).await.unwrap());
        }
    }
    case.check(
        &["sentiment", "summary", "--last", "24h", "--at", &at_s],
        &r.sentiment_summary_at(TimeDelta::hours(24), at)
            .await
            .unwrap(),
    );

    // Flows.
    let exported_flows = with(&["flows", "history", "--asset", "ETH"], &span);
    let flows_csv_out = case.check(
        &refs(&exported_flows),
        &r.flow_history("ETH", range, None).await.unwrap(),
    );
    for asset in ["BTC", "ETH", "NONE"] {
        let args = with(
            &[
                "flows",
                "history",
                "--asset",
                asset,
                "--type",
                "exchange_inflow",
            ],
            &span,
        );
        case.check(
            &refs(&args),
            &r.flow_history(asset, range, Some(FlowType::ExchangeInflow))
                .await
                .unwrap(),
        );
        for (bucket, b) in [
            ("hour", AggregateBucket::Hour),
            ("day", AggregateBucket::Day),
        ] {
            let args = with(
                &["flows", "aggregates", "--asset", asset, "--bucket", bucket],
                &span,
            );
            case.check(
                &refs(&args),
                &r.flow_aggregates(asset, b, range).await.unwrap(),
            );
        }
        let args = with(&["flows", "net", "--asset", asset], &span);
        case.check(&refs(&args), &r.net_flow(asset, range).await.unwrap());
        let args = with(&["flows", "exchanges", "--asset", asset], &span);
        case.check(
            &refs(&args),
            &r.exchange_breakdown(asset, range).await.unwrap(),
        );
        case.check(
            &[
                "flows", "velocity", "--asset", asset, "--last", "6h", "--at", &at_s,
            ],
            &r.flow_velocity_at(asset, TimeDelta::hours(6), at)
                .await
                .unwrap(),
        );
    }
    for (asset, min) in [(None, "20"), (Some("BTC"), "7.5")] {
        let mut args = with(&["flows", "whales", "--min-amount", min], &span);
        if let Some(a) = asset {
            args.extend(["--asset".to_owned(), a.to_owned()]);
        }
        let q = WhaleQuery {
            asset: asset.map(str::to_owned),
            range,
            min_amount: min.parse().unwrap(),
        };
        case.check(&refs(&args), &r.whale_activity(&q).await.unwrap());
    }

    // NONE, NOPE and a few empty windows answer nothing; everything else holds rows.
    assert!(
        case.answered.get() >= 45,
        "{} answers held rows",
        case.answered.get()
    );

    // CSV output of readings and flows is the import layout: it imports elsewhere unchanged.
    let other = migrated_database_on(kind).await;
    let readings_file = write(&dir, "exported-sentiment.csv", &readings_csv);
    let flows_file = write(&dir, "exported-flows.csv", &flows_csv_out);
    run(Some(&other), &["import", "sentiment", &readings_file]).ok();
    run(Some(&other), &["import", "flows", &flows_file]).ok();
    let again = |url: &str, args: &[String]| {
        let out = run(Some(url), &[refs(args), vec!["--format", "json"]].concat());
        serde_json::from_str::<Value>(out.ok()).unwrap()
    };
    assert_eq!(again(&other, &exported), again(&url, &exported));
    assert_eq!(again(&other, &exported_flows), again(&url, &exported_flows));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_question_command_answers_like_the_reference_on_postgres() {
    every_question_command_answers_like_the_reference(ServerKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_question_command_answers_like_the_reference_on_timescaledb() {
    every_question_command_answers_like_the_reference(ServerKind::Timescale).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_invocations_exit_with_the_documented_codes() {
    let url = migrated_database_on(ServerKind::Postgres).await;
    // 3: invalid input, found after parsing (an inverted range).
    let stderr = run(
        Some(&url),
        &[
            "range",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2024-03-02",
            "--to",
            "2024-03-01",
        ],
    )
    .fails(3)
    .to_owned();
    assert!(stderr.contains("range"), "{stderr}");
    // 2: usage, refused by the parser with the value named.
    let stderr = run(
        Some(&url),
        &["flows", "history", "--asset", "BTC", "--type", "inflow"],
    )
    .fails(2)
    .to_owned();
    assert!(stderr.contains("inflow"), "{stderr}");
    run(
        Some(&url),
        &["volume-profile", "--symbol", "BTCUSDT", "--step", "0"],
    )
    .fails(2);
    run(
        Some(&url),
        &["range", "--symbol", "BTCUSDT", "--from", "2024-03-01"],
    )
    .fails(2);
    run(
        Some(&url),
        &["change", "--symbol", "BTCUSDT", "--last", "0h"],
    )
    .fails(2);
    // 4: the database cannot be reached (nothing listens on port 1).
    let stderr = run(
        Some("postgres://nobody@127.0.0.1:1/none"),
        &["--connect-timeout", "2", "sentiment", "summary"],
    )
    .fails(4)
    .to_owned();
    assert!(
        !stderr.contains("nobody@"),
        "the URL is never printed: {stderr}"
    );
}

#[test]
fn completions_need_no_database() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(None, &["completions", shell]);
        let script = out.ok();
        assert!(
            script.contains("volume-profile") && script.contains("sentiment"),
            "{shell}: {script:.200}"
        );
    }
    run(None, &["completions", "powershell"]).fails(2);
}
