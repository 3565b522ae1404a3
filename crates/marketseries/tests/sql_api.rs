//! The SQL API (`get_ohlcv`, `price_change_percent`, `market_overview_at` and its view,
//! `sentiment_summary_at`, `whale_activity_between`) on both real backends answers what the
//! Rust API answers on the same data, with part of the aggregates materialized and part
//! pending (plain PostgreSQL) or real-time (TimescaleDB).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries::{
    open_backend, Backend, BackendChoice, Clock, Config, FixedClock, Interval, OhlcvQuery,
    TimeRange, WhaleQuery,
};
use marketseries_testkit::conformance::{fixture_now, Fixture};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use rust_decimal::Decimal;
use tokio_postgres::NoTls;

fn days(n: i64) -> TimeRange {
    TimeRange::new(fixture_now() - TimeDelta::days(n), fixture_now()).expect("range")
}

type Bar = (DateTime<Utc>, Decimal, Decimal, Decimal, Decimal, Decimal);

async fn answers_as_the_api(kind: ServerKind, backend: Backend) {
    let db = fresh_database(kind).await.expect("test database");
    let mut config = Config::new(db.url()).with_backend(BackendChoice::Explicit(backend));
    // The embedded TimescaleDB serves one client at a time per database.
    config.store.pool_size = 1;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(fixture_now()));
    let store = open_backend(&config, clock)
        .await
        .expect("open")
        .into_store();
    store.migrate().await.expect("migrate");
    store
        .store_candles(&Fixture::market_candles())
        .await
        .expect("candles");
    store
        .store_sentiments(&Fixture::market_sentiment())
        .await
        .expect("sentiment");
    store
        .store_flows(&Fixture::market_flows())
        .await
        .expect("flows");
    // Half materialized, half pending / real-time: the functions read either.
    store
        .refresh(Some(
            TimeRange::new(
                fixture_now() - TimeDelta::days(4),
                fixture_now() - TimeDelta::days(1),
            )
            .expect("range"),
        ))
        .await
        .expect("refresh");

    // Each SQL statement on a connection of its own, closed before the next API call
    // (the embedded server serves one client at a time).
    // Over the last 3 days (partly pending), and over a materialized day with nothing
    // pending (the rollup table read directly).
    let settled = TimeRange::new(
        fixture_now() - TimeDelta::days(3),
        fixture_now() - TimeDelta::days(2),
    )
    .expect("range");
    let cases = ["1m", "5m", "15m", "1h", "2h", "4h", "1d", "1w", "7m", "3d"]
        .map(|i| (i, days(3)))
        .into_iter()
        .chain(["5m", "15m", "1h", "4h"].map(|i| (i, settled)));
    for (i, range) in cases {
        let interval: Interval = i.parse().expect("interval");
        let api: Vec<Bar> = store
            .ohlcv(&OhlcvQuery::new("BTCUSDT", interval, range))
            .await
            .expect("ohlcv")
            .bars
            .into_iter()
            .map(|b| (b.time, b.open, b.high, b.low, b.close, b.volume))
            .collect();
        let rows = query(
            db.url(),
            "SELECT * FROM get_ohlcv($1, $2, $3, $4)",
            &[&"BTCUSDT", &i, &range.from(), &range.to()],
        )
        .await
        .expect("get_ohlcv");
        let got: Vec<Bar> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect();
        assert!(!api.is_empty(), "{i}");
        assert_eq!(got, api, "get_ohlcv {i} on {backend}");
    }
    let e = query(
        db.url(),
        "SELECT * FROM get_ohlcv('BTCUSDT', '30s', now(), now())",
        &[],
    )
    .await
    .expect_err("30s from 1m candles must fail");
    assert_eq!(e.code().map(|c| c.code()), Some("22023"), "{e}");
    let none = query(
        db.url(),
        "SELECT * FROM get_ohlcv('NOSUCH', '1h', now() - interval '1 day', now())",
        &[],
    )
    .await
    .expect("unknown symbol");
    assert!(none.is_empty());

    let change = store
        .price_change("BTCUSDT", TimeDelta::hours(24))
        .await
        .expect("change")
        .and_then(|c| c.percent());
    let rows = query(
        db.url(),
        "SELECT price_change_percent('BTCUSDT', interval '24 hours', $1)",
        &[&fixture_now()],
    )
    .await
    .expect("price_change_percent");
    assert_eq!(rows[0].get::<_, Option<Decimal>>(0), change, "price change");
    assert!(change.is_some());

    let api: Vec<(String, DateTime<Utc>, Decimal, Option<Decimal>)> = store
        .market_overview()
        .await
        .expect("overview")
        .into_iter()
        .map(|o| {
            (
                o.latest.symbol,
                o.latest.time,
                o.latest.price,
                o.change_24h.and_then(|c| c.percent()),
            )
        })
        .collect();
    let rows = query(
        db.url(),
        "SELECT symbol, time, price, change_percent_24h FROM market_overview_at($1)",
        &[&fixture_now()],
    )
    .await
    .expect("market_overview_at");
    let got: Vec<(String, DateTime<Utc>, Decimal, Option<Decimal>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(got, api, "market overview on {backend}");
    assert!(api.iter().all(|o| o.3.is_some()));
    let view = query(db.url(), "SELECT symbol, price FROM market_overview", &[])
        .await
        .expect("market_overview view");
    assert_eq!(view.len(), api.len(), "the view lists every symbol");

    let whales = store
        .whale_activity(&WhaleQuery {
            asset: None,
            range: days(2),
            min_amount: Decimal::from(50),
        })
        .await
        .expect("whales");
    let api: Vec<(String, String, DateTime<Utc>)> = whales
        .into_iter()
        .map(|f| (f.asset, f.reference, f.time))
        .collect();
    let rows = query(
        db.url(),
        "SELECT asset, reference, time FROM whale_activity_between($1, $2, $3)",
        &[&Decimal::from(50), &days(2).from(), &days(2).to()],
    )
    .await
    .expect("whale_activity_between");
    let got: Vec<(String, String, DateTime<Utc>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(!api.is_empty());
    assert_eq!(got, api, "whale activity on {backend}");
    query(db.url(), "SELECT * FROM whale_activity", &[])
        .await
        .expect("whale_activity view");

    let summary = store
        .sentiment_summary(TimeDelta::hours(24))
        .await
        .expect("summary");
    let api: Vec<(String, i64, i64)> = summary
        .into_iter()
        .map(|s| {
            (
                s.asset,
                i64::try_from(s.readings).expect("count"),
                i64::try_from(s.distribution.bullish).expect("count"),
            )
        })
        .collect();
    let rows = query(
        db.url(),
        "SELECT asset, readings, bullish FROM sentiment_summary_at(interval '24 hours', $1)",
        &[&fixture_now()],
    )
    .await
    .expect("sentiment_summary_at");
    let got: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(!api.is_empty());
    assert_eq!(got, api, "sentiment summary on {backend}");
    query(db.url(), "SELECT * FROM sentiment_summary", &[])
        .await
        .expect("sentiment_summary view");
}

/// Runs `sql` on a connection of its own, closed before returning.
async fn query(
    url: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("sql connection");
    let task = tokio::spawn(connection);
    let rows = client.query(sql, params).await;
    drop(client);
    let _ = task.await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_api_answers_as_the_rust_api_on_plain_postgres() {
    answers_as_the_api(ServerKind::Postgres, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_api_answers_as_the_rust_api_on_timescaledb() {
    answers_as_the_api(ServerKind::Timescale, Backend::Timescaledb).await;
}
