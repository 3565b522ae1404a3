//! Whatever OHLCV file a user has: a pandas `DataFrame.to_csv()`, a `--columns` mapping,
//! naive times read in a stated zone, the time form and epoch unit stated in the summary,
//! keys repeated with different values reported, `--dry-run` storing nothing.

mod common;

use common::{migrated_database, run, scratch_dir, table_rows, write};

const PANDAS: &str = "\
,Open,High,Low,Close,Volume
2024-03-01 00:00:00,100.5,101,100,100.75,12
2024-03-01 01:00:00,100.75,102,100.5,101.25,7.5
";

fn bars(url: &str, symbol: &str) -> String {
    run(
        Some(url),
        &[
            "ohlcv",
            "--symbol",
            symbol,
            "--interval",
            "1h",
            "--from",
            "2024-02-29",
            "--to",
            "2024-03-02",
            "--format",
            "csv",
        ],
    )
    .ok()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pandas_files_with_naive_times_state_how_they_were_read() {
    let dir = scratch_dir("pandas");
    let file = write(&dir, "btc.csv", PANDAS);
    let url = migrated_database().await;
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
        ],
    );
    let summary = out.ok();
    assert!(
        summary.starts_with("imported 2 candles (2 distinct) for 1 symbol in "),
        "{summary}"
    );
    assert!(
        summary.contains("times: date-times without an offset, read as UTC (no --timezone given)"),
        "{summary}"
    );
    assert!(out.stderr.contains("format: pandas"), "{out:#?}");
    assert_eq!(
        bars(&url, "BTCUSDT"),
        "time,open,high,low,close,volume\n\
         2024-03-01T00:00:00Z,100.5,101,100,100.75,12\n\
         2024-03-01T01:00:00Z,100.75,102,100.5,101.25,7.5\n"
    );

    // The same file in a stated zone: two hours earlier in UTC.
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "ETHUSDT",
            "--interval",
            "1h",
            "--timezone",
            "+02:00",
        ],
    );
    assert!(out.ok().contains("read as +02:00"), "{out:#?}");
    assert!(bars(&url, "ETHUSDT").contains("\n2024-02-29T22:00:00Z,100.5,"));
    run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "X",
            "--interval",
            "1h",
            "--timezone",
            "Europe/Berlin",
        ],
    )
    .fails(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn columns_map_any_layout_and_epoch_units_are_stated() {
    let dir = scratch_dir("columns");
    let file = write(
        &dir,
        "odd.csv",
        "ticker,when,o,h,l,c,v\nSOLUSDT,1709251200000,1,2,0.5,1.5,10\nSOLUSDT,1709251260000,1.5,2,1,1,3\n",
    );
    let url = migrated_database().await;
    // Not detected without a mapping.
    run(
        Some(&url),
        &["import", "candles", &file, "--interval", "1m"],
    )
    .fails(3);
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--interval",
            "1m",
            "--columns",
            "time=When,open=o,high=h,low=l,close=c,volume=v,symbol=ticker",
        ],
    );
    assert!(out.ok().contains("times: epoch milliseconds"), "{out:#?}");
    assert_eq!(table_rows(&url, "candles"), 2);
    let stderr = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--interval",
            "1m",
            "--columns",
            "time=when,open=o",
        ],
    )
    .fails(2)
    .to_owned();
    assert!(
        stderr.contains("no column given for high, low, close, volume"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_keys_with_other_values_are_reported_and_the_last_wins() {
    let dir = scratch_dir("repeats");
    let file = write(
        &dir,
        "dup.csv",
        "time,symbol,interval,open,high,low,close,volume\n\
         2024-03-01T00:00:00Z,BTCUSDT,1h,1,2,1,1,5\n\
         2024-03-01T00:00:00Z,BTCUSDT,1h,1,2,1,1,5\n\
         2024-03-01T00:00:00Z,BTCUSDT,1h,1,2,1,2,9\n",
    );
    let url = migrated_database().await;
    let summary = run(Some(&url), &["import", "candles", &file])
        .ok()
        .to_owned();
    assert!(summary.contains("(1 distinct)"), "{summary}");
    assert!(
        summary.contains("1 key repeated with different values, the last row winning (e.g. line 4 replaces line 3)"),
        "{summary}"
    );
    assert!(bars(&url, "BTCUSDT").ends_with("2024-03-01T00:00:00Z,1,2,1,2,9\n"));
}

#[test]
fn a_dry_run_needs_no_database_and_stores_nothing() {
    let dir = scratch_dir("dry-run");
    let file = write(&dir, "btc.csv", PANDAS);
    let out = run(
        None,
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
            "--dry-run",
        ],
    );
    let text = out.ok();
    assert!(text.starts_with("dry run of "), "{text}");
    assert!(
        text.contains("2 valid candles (2 distinct) for 1 symbol, 0 bad lines"),
        "{text}"
    );
    assert!(
        text.contains(
            "time,symbol,interval,open,high,low,close,volume\n\
             2024-03-01T00:00:00Z,BTCUSDT,1h,100.5,101,100,100.75,12\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("nothing stored (dry run)\n"), "{text}");
}
