//! Indicators through the CLI on plain PostgreSQL and TimescaleDB: `import indicators`
//! (several series, two intervals, an exact decimal at the edge of what a Decimal holds,
//! the time forms and header aliases the other imports accept), `indicators list`,
//! `latest`, `series` over a half-open range and the as-of lookup `at` before the first
//! value, exactly at one and between two; re-importing is idempotent; a bad file fails
//! with exit code 1 naming every bad line and field, and stores nothing.

mod common;

use marketseries_testkit::launcher::ServerKind;

use common::{migrated_database_on, run, scratch_dir, table_rows, write, Run};

/// The exact decimal of the round trip: 28 significant digits, negative.
const EXACT: &str = "-12345678901234.123456789012";

/// Eight values of four series of two symbols, in the time forms the other imports accept
/// (RFC 3339 with `Z` or an offset, a space instead of `T`, epoch seconds and
/// milliseconds, a bare date). Trailing zeros are part of the values.
fn indicators_csv() -> String {
    format!(
        "time,symbol,interval,name,value\n\
         2024-03-01T10:00:00Z,BTCUSDT,1h,rsi_14,48.25\n\
         2024-03-01T12:00:00+01:00,BTCUSDT,1h,rsi_14,55.50\n\
         1709294400,BTCUSDT,1h,rsi_14,61\n\
         2024-03-01 10:00:00,BTCUSDT,1h,macd.signal,3.5\n\
         1709290800000,BTCUSDT,1h,macd.signal,{EXACT}\n\
         2024-03-01,BTCUSDT,1d,rsi_14,50.00\n\
         2024-03-02T00:00:00Z,BTCUSDT,1d,rsi_14,47.10\n\
         2024-03-01T10:00:00Z,ETHUSDT,1h,rsi_14,0.000000001\n"
    )
}

fn indicators(url: &str, args: &[&str]) -> Run {
    run(Some(url), &[&["indicators"][..], args].concat())
}

fn at(url: &str, name: &str, interval: &str, time: &str, format: &str) -> Run {
    indicators(
        url,
        &[
            "at",
            "--symbol",
            "BTCUSDT",
            "--interval",
            interval,
            "--name",
            name,
            "--at",
            time,
            "--format",
            format,
        ],
    )
}

fn series(url: &str, name: &str, interval: &str, from: &str, to: &str, format: &str) -> Run {
    indicators(
        url,
        &[
            "series",
            "--symbol",
            "BTCUSDT",
            "--interval",
            interval,
            "--name",
            name,
            "--from",
            from,
            "--to",
            to,
            "--format",
            format,
        ],
    )
}

const LIST_TABLE: &str = "\
interval  name
1h        macd.signal
1h        rsi_14
1d        rsi_14
";

fn latest_csv() -> String {
    format!(
        "time,symbol,interval,name,value\n\
         2024-03-01T11:00:00Z,BTCUSDT,1h,macd.signal,{EXACT}\n\
         2024-03-01T12:00:00Z,BTCUSDT,1h,rsi_14,61\n\
         2024-03-02T00:00:00Z,BTCUSDT,1d,rsi_14,47.10\n"
    )
}

/// What the store answers after the good file, checked after every later import.
fn check_answers(url: &str, phase: &str) {
    // Ordered by interval width (1h before 1d, unlike text order), then name bytes.
    assert_eq!(
        indicators(url, &["list", "--symbol", "BTCUSDT"]).ok(),
        LIST_TABLE,
        "{phase}"
    );
    let out = indicators(url, &["list", "--symbol", "BTCUSDT", "--format", "csv"]);
    assert_eq!(
        out.ok(),
        "interval,name\n1h,macd.signal\n1h,rsi_14\n1d,rsi_14\n",
        "{phase}"
    );
    let out = indicators(url, &["list", "--symbol", "ETHUSDT", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{"interval": "1h", "name": "rsi_14"}]),
        "{phase}"
    );

    let out = indicators(url, &["latest", "--symbol", "BTCUSDT", "--format", "csv"]);
    assert_eq!(out.ok(), latest_csv(), "{phase}");
    let out = indicators(url, &["latest", "--symbol", "BTCUSDT"]);
    assert_eq!(
        out.ok(),
        format!(
            "interval  name         time                                         value\n\
             1h        macd.signal  2024-03-01T11:00:00Z  {EXACT}\n\
             1h        rsi_14       2024-03-01T12:00:00Z                            61\n\
             1d        rsi_14       2024-03-02T00:00:00Z                         47.10\n"
        ),
        "{phase}"
    );
    let out = indicators(url, &["latest", "--symbol", "ETHUSDT", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(json[0]["value"], "0.000000001", "{phase}");
    assert_eq!(json[0]["time"], "2024-03-01T10:00:00Z", "{phase}");

    // [10:00, 12:00): the 12:00 value is outside; the 1d series never mixes in.
    let range = ("2024-03-01T10:00:00Z", "2024-03-01T12:00:00Z");
    let out = series(url, "rsi_14", "1h", range.0, range.1, "csv");
    assert_eq!(
        out.ok(),
        "time,symbol,interval,name,value\n\
         2024-03-01T10:00:00Z,BTCUSDT,1h,rsi_14,48.25\n\
         2024-03-01T11:00:00Z,BTCUSDT,1h,rsi_14,55.50\n",
        "{phase}"
    );
    let out = series(url, "rsi_14", "1h", "2024-03-01", "2024-03-02", "table");
    assert_eq!(
        out.ok(),
        "time                  value\n\
         2024-03-01T10:00:00Z  48.25\n\
         2024-03-01T11:00:00Z  55.50\n\
         2024-03-01T12:00:00Z     61\n",
        "{phase}"
    );
    let out = series(url, "rsi_14", "1d", "2024-03-01", "2024-03-03", "csv");
    assert_eq!(
        out.ok(),
        "time,symbol,interval,name,value\n\
         2024-03-01T00:00:00Z,BTCUSDT,1d,rsi_14,50.00\n\
         2024-03-02T00:00:00Z,BTCUSDT,1d,rsi_14,47.10\n",
        "{phase}"
    );
    let out = series(
        url,
        "macd.signal",
        "1h",
        "1709251200",
        "1709337600000",
        "json",
    );
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    let values: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["value"].as_str().expect("decimal as string"))
        .collect();
    assert_eq!(values, ["3.5", EXACT], "{phase}");
    // Names are compared byte for byte: no `RSI_14` series exists.
    let out = series(url, "RSI_14", "1h", "2024-03-01", "2024-03-02", "csv");
    assert_eq!(out.ok(), "time,symbol,interval,name,value\n", "{phase}");

    // As of: before the first value there is none; exactly at a value it is that value;
    // between two values the earlier holds; after the last, the last.
    let out = at(url, "rsi_14", "1h", "2024-03-01T09:59:59.999999Z", "table");
    assert_eq!(
        out.ok(),
        "no rsi_14 (1h) value for BTCUSDT at or before 2024-03-01T09:59:59.999999Z\n",
        "{phase}"
    );
    let out = at(url, "rsi_14", "1h", "2024-03-01T09:00:00Z", "json");
    assert_eq!(out.ok(), "null\n", "{phase}");
    let out = at(url, "rsi_14", "1h", "2024-03-01T09:00:00Z", "csv");
    assert_eq!(out.ok(), "time,symbol,interval,name,value\n", "{phase}");
    let exactly = "time,symbol,interval,name,value\n\
                   2024-03-01T11:00:00Z,BTCUSDT,1h,rsi_14,55.50\n";
    assert_eq!(
        at(url, "rsi_14", "1h", "2024-03-01T11:00:00Z", "csv").ok(),
        exactly,
        "{phase}"
    );
    assert_eq!(
        at(url, "rsi_14", "1h", "2024-03-01 11:59:59", "csv").ok(),
        exactly,
        "{phase}"
    );
    let out = at(url, "macd.signal", "1h", "2024-03-01T11:30:00Z", "table");
    assert_eq!(
        out.ok(),
        format!(
            "symbol   interval  name         time                                         value\n\
             BTCUSDT  1h        macd.signal  2024-03-01T11:00:00Z  {EXACT}\n"
        ),
        "{phase}"
    );
    let out = at(url, "rsi_14", "1d", "2099-12-31", "json");
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "symbol": "BTCUSDT",
            "interval": "1d",
            "name": "rsi_14",
            "time": "2024-03-02T00:00:00Z",
            "value": "47.10",
        }),
        "{phase}"
    );
}

async fn round_trip(kind: ServerKind) {
    let url = migrated_database_on(kind).await;
    let dir = scratch_dir("indicators");
    let file = write(&dir, "indicators.csv", &indicators_csv());

    // Nothing stored yet: clear answers, not errors.
    assert_eq!(
        indicators(&url, &["list", "--symbol", "BTCUSDT"]).ok(),
        "no indicators for BTCUSDT\n"
    );
    assert_eq!(
        indicators(&url, &["latest", "--symbol", "BTCUSDT"]).ok(),
        "no indicators for BTCUSDT\n"
    );

    // A batch size of 3 so the import spans several batches.
    let out = run(
        Some(&url),
        &["import", "indicators", &file, "--batch-size", "3"],
    );
    assert!(
        out.ok()
            .starts_with("imported 8 indicator values (8 distinct) for 2 symbols in "),
        "{out:#?}"
    );
    assert_eq!(table_rows(&url, "indicators"), 8);
    check_answers(&url, "after import");

    // Re-importing the same file changes nothing.
    let out = run(Some(&url), &["import", "indicators", &file]);
    assert!(
        out.ok().starts_with("imported 8 indicator values"),
        "{out:#?}"
    );
    assert_eq!(table_rows(&url, "indicators"), 8);
    check_answers(&url, "after re-import");

    // `latest --format csv` is in the import layout: importing it again changes nothing.
    let exported = write(&dir, "latest.csv", &latest_csv());
    run(Some(&url), &["import", "indicators", &exported]).ok();
    assert_eq!(table_rows(&url, "indicators"), 8);

    // Header aliases and normalisation: `Indicator` for `name`, `Timestamp` for `time`.
    let alias = write(
        &dir,
        "alias.csv",
        "\u{feff}Timestamp,Symbol,Interval,Indicator,Value\n\
         1709251200000,SOLUSDT,4h,ema-20,131.0500\n",
    );
    let out = run(Some(&url), &["import", "indicators", &alias]);
    assert!(
        out.ok()
            .starts_with("imported 1 indicator value (1 distinct) for 1 symbol in "),
        "{out:#?}"
    );
    let out = indicators(&url, &["latest", "--symbol", "SOLUSDT", "--format", "csv"]);
    assert_eq!(
        out.ok(),
        "time,symbol,interval,name,value\n2024-03-01T00:00:00Z,SOLUSDT,4h,ema-20,131.0500\n"
    );
    check_answers(&url, "after the alias file");

    bad_files_store_nothing(&url, &dir);
    check_answers(&url, "after the bad files");
    assert_eq!(table_rows(&url, "indicators"), 9);

    // Bad query arguments: an empty range and a sub-microsecond instant.
    let out = series(&url, "rsi_14", "1h", "2024-03-02", "2024-03-01", "table");
    assert!(out.fails(3).contains("must be earlier"), "{out:#?}");
    let out = at(
        &url,
        "rsi_14",
        "1h",
        "2024-03-01T11:00:00.0000001Z",
        "table",
    );
    assert!(out.fails(3).contains("invalid argument `at`"), "{out:#?}");
    let out = at(&url, "rsi_14", "90x", "2024-03-01", "table");
    assert!(out.fails(2).contains("invalid interval"), "{out:#?}");
}

/// Lines 3 (a name with a space) and 5 (a value that is no number) are bad; line 2 would
/// overwrite a stored value and line 4 add one. Neither may happen.
fn bad_files_store_nothing(url: &str, dir: &std::path::Path) {
    let bad = write(
        dir,
        "bad.csv",
        "time,symbol,interval,name,value\n\
         2024-03-01T11:00:00Z,BTCUSDT,1h,rsi_14,99\n\
         2024-03-01T13:00:00Z,BTCUSDT,1h,rsi 14,62\n\
         2024-03-01T13:00:00Z,BTCUSDT,1h,rsi_14,62\n\
         2024-03-01T13:00:00Z,ADAUSDT,1h,rsi_14,abc\n",
    );
    let out = run(Some(url), &["import", "indicators", &bad]);
    let stderr = out.fails(3);
    assert!(
        stderr.contains("line 3: name: ") && stderr.contains("' '"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: value: \"abc\" is not a decimal number"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 bad lines in ") && stderr.contains("nothing stored"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 2:") && !stderr.contains("line 4:"));
    assert_eq!(
        indicators(url, &["list", "--symbol", "ADAUSDT"]).ok(),
        "no indicators for ADAUSDT\n"
    );

    // A file whose header lacks a required column is refused before the first row.
    let headless = write(dir, "no-value.csv", "time,symbol,interval,name\n");
    let stderr = run(Some(url), &["import", "indicators", &headless])
        .fails(3)
        .to_owned();
    assert!(
        stderr.contains("unrecognised indicator header `time,symbol,interval,name`")
            && stderr.contains("missing column(s) value"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn indicators_round_trip_on_postgres() {
    round_trip(ServerKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn indicators_round_trip_on_timescaledb() {
    round_trip(ServerKind::Timescale).await;
}

#[test]
fn a_bad_file_is_rejected_before_connecting() {
    let dir = scratch_dir("indicators-offline");
    let file = write(
        &dir,
        "bad.csv",
        "time,symbol,interval,name,value\n2024-03-01T00:00:00Z,BTCUSDT,1h,rsi_14,NaN\n",
    );
    let out = run(
        Some("postgres://nobody@127.0.0.1:1/none"),
        &["import", "indicators", &file],
    );
    let stderr = out.fails(3);
    assert!(
        stderr.contains("line 2: value: must be a finite number"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot open the database"), "{stderr}");
}
