//! Candle layouts detected by header (Binance kline exports with and without a header,
//! Yahoo-style files), bad timestamps reported with their line, and the sentiment and
//! flow imports.

mod common;

use common::{migrated_database, run, scratch_dir, table_rows, write, Run};

fn ohlcv_csv(url: &str, symbol: &str, interval: &str) -> Run {
    run(
        Some(url),
        &[
            "ohlcv",
            "--symbol",
            symbol,
            "--interval",
            interval,
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-02",
            "--format",
            "csv",
        ],
    )
}

/// data.binance.vision layout: no header, 12 columns, epoch-millisecond open time.
const BINANCE: &str = "\
1709251200000,61000.01000000,61100.00000000,60900.50000000,61050.25000000,12.34500000,1709251259999,753100.12,1000,6.1,372000.5,0
1709251260000,61050.25000000,61200.00000000,61000.00000000,61150.00000000,3.50000000,1709251319999,214000.00,420,1.2,73000.1,0
";

#[tokio::test(flavor = "multi_thread")]
async fn binance_exports_with_and_without_header() {
    let url = migrated_database().await;
    let dir = scratch_dir("binance");

    // Headerless, symbol and interval from the flags.
    let file = write(&dir, "klines.csv", BINANCE);
    let out = run(Some(&url), &["import", "candles", &file]);
    assert!(out.fails(2).contains("--symbol"));
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
        ],
    );
    assert!(out
        .ok()
        .starts_with("imported 2 candles (2 distinct) for 1 symbol"));
    assert!(
        out.stderr.contains("format: Binance kline"),
        "{}",
        out.stderr
    );
    assert_eq!(
        ohlcv_csv(&url, "BTCUSDT", "1h").ok(),
        "time,open,high,low,close,volume\n\
         2024-03-01T00:00:00Z,61000.01000000,61200.00000000,60900.50000000,61150.00000000,15.84500000\n"
    );

    // With the export header; symbol and interval from Binance's file name.
    let header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                  taker_buy_volume,taker_buy_quote_volume,ignore\n";
    let file = write(
        &dir,
        "SOLUSDT-1m-2024-03-01.csv",
        &format!("{header}{BINANCE}"),
    );
    let out = run(Some(&url), &["import", "candles", &file]);
    assert!(out.ok().starts_with("imported 2 candles"), "{out:#?}");
    assert!(out
        .stderr
        .contains("symbol SOLUSDT, interval 1m from the file name"));
    let bars = ohlcv_csv(&url, "SOLUSDT", "1m");
    assert_eq!(bars.ok().lines().count(), 3, "{bars:#?}");
    assert!(bars.stdout.contains("2024-03-01T00:01:00Z,61050.25000000,"));

    // A bad open time is reported with its line (the header is line 1).
    let bad = format!(
        "{header}{}",
        BINANCE.replacen("1709251260000", "17092512x0000", 1)
    );
    let file = write(&dir, "ADAUSDT-1m-2024-03-01.csv", &bad);
    let stderr = run(Some(&url), &["import", "candles", &file])
        .fails(3)
        .to_owned();
    assert!(stderr.contains("line 3: time: "), "{stderr}");
    assert!(ohlcv_csv(&url, "ADAUSDT", "1m").ok().lines().count() == 1);
}

const YAHOO: &str = "\
Datetime,Open,High,Low,Close,Adj Close,Volume
2024-03-01 00:00:00+00:00,61234.5703125,61500.0,61100.25,61400.1015625,61400.1015625,1234567890
2024-03-01 01:00:00+01:00,61400.1015625,61450.0,61300.0,61350.0,61350.0,987654321
2024-03-01 01:00:00+00:00,61350.0,61600.0,61340.0,61590.5,61590.5,0
";

#[tokio::test(flavor = "multi_thread")]
async fn yahoo_files_with_offsets() {
    let url = migrated_database().await;
    let dir = scratch_dir("yahoo");
    let file = write(&dir, "btc-usd.csv", YAHOO);
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "BTC-USD",
            "--interval",
            "1h",
        ],
    );
    // Line 3's 01:00+01:00 is 00:00 UTC again: the same key as line 2, last one wins.
    assert!(
        out.ok()
            .starts_with("imported 3 candles (2 distinct) for 1 symbol"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("format: Yahoo"));
    assert_eq!(
        ohlcv_csv(&url, "BTC-USD", "1h").ok(),
        "time,open,high,low,close,volume\n\
         2024-03-01T00:00:00Z,61400.1015625,61450.0,61300.0,61350.0,987654321\n\
         2024-03-01T01:00:00Z,61350.0,61600.0,61340.0,61590.5,0\n"
    );

    // A timestamp without its offset, and one that is not a time at all.
    let bad = YAHOO
        .replacen("2024-03-01 01:00:00+01:00", "2024-03-01 01:00:00", 1)
        .replacen("2024-03-01 01:00:00+00:00", "01/03/2024 01:00", 1);
    let file = write(&dir, "eth-usd.csv", &bad);
    let out = run(
        Some(&url),
        &[
            "import",
            "candles",
            &file,
            "--symbol",
            "ETH-USD",
            "--interval",
            "1h",
        ],
    );
    let stderr = out.fails(3);
    assert!(
        stderr.contains("line 3: time: ") && stderr.contains("no UTC offset"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4: time: ") && stderr.contains("not a timestamp"),
        "{stderr}"
    );
    assert_eq!(ohlcv_csv(&url, "ETH-USD", "1h").ok().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sentiment_and_flows() {
    let url = migrated_database().await;
    let dir = scratch_dir("sentiment-flows");

    let sentiment = write(
        &dir,
        "sentiment.csv",
        "time,asset,source,score,label,mention_volume,engagement\n\
         2024-03-01T00:00:00Z,BTC,news,0.45,,120,3400.5\n\
         2024-03-01T00:00:00Z,BTC,reddit,-0.3,bearish,80,12\n\
         2024-03-01T01:00:00Z,ETH,twitter,0.05,,10,0\n",
    );
    let out = run(Some(&url), &["import", "sentiment", &sentiment]);
    assert!(
        out.ok()
            .starts_with("imported 3 sentiment readings (3 distinct) for 2 assets"),
        "{out:#?}"
    );
    assert_eq!(table_rows(&url, "sentiment"), 3);

    let bad = write(
        &dir,
        "bad-sentiment.csv",
        "time,asset,source,score\n2024-03-01T02:00:00Z,BTC,news,1.5\n2024-03-01T02:00:00Z,BTC,news,nan\n",
    );
    let stderr = run(Some(&url), &["import", "sentiment", &bad])
        .fails(3)
        .to_owned();
    assert!(
        stderr.contains("line 2: score: ") && stderr.contains("line 3: score: "),
        "{stderr}"
    );
    assert_eq!(table_rows(&url, "sentiment"), 3);

    let flows = write(
        &dir,
        "flows.csv",
        "time,asset,flow_type,amount,usd_value,source,reference\n\
         2024-03-01T00:10:00Z,BTC,exchange_inflow,12.50000000,775000.00,binance,0xabc\n\
         2024-03-01T00:20:00Z,BTC,exchange_outflow,3.25,201500.10,kraken,\n\
         2024-03-01T00:30:00Z,BTC,whale_transfer,oops,1,unknown,0xdef\n",
    );
    let out = run(Some(&url), &["import", "flows", &flows]);
    assert!(out.fails(3).contains("line 4: amount: "));
    assert_eq!(table_rows(&url, "flows"), 0);
    let out = run(Some(&url), &["import", "flows", &flows, "--skip-invalid"]);
    assert!(
        out.ok()
            .starts_with("imported 2 flows (2 distinct) for 1 asset"),
        "{out:#?}"
    );
    assert_eq!(table_rows(&url, "flows"), 2);
}
