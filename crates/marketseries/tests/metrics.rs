//! The metrics decorator around both real backends: after real writes and reads, every
//! counter equals the calls the test made, errors are counted by kind, failed batches
//! count no insert, refreshes and aggregate lag are reported. Fails, never skips, without a
//! server.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries::metrics::prometheus::proto::{MetricFamily, MetricType};
use marketseries::metrics::prometheus::Registry;
use marketseries::metrics::{names, MetricsOptions, MetricsStore};
use marketseries::{
    open_with_clock, Backend, BackendChoice, Candle, Config, ErrorKind, FixedClock, Flow,
    FlowStore, FlowType, Interval, OhlcvQuery, PriceStore, TimeRange, TimeSeriesStore,
};
use marketseries_testkit::launcher::{fresh_database, ServerKind, TestDatabase};

fn now() -> DateTime<Utc> {
    "2024-03-10T00:00:00Z".parse().expect("now")
}

fn candle(symbol: &str, minutes_ago: i64) -> Candle {
    let price = "61000.5".parse().expect("price");
    Candle {
        symbol: symbol.into(),
        interval: Interval::M1,
        time: now() - TimeDelta::minutes(minutes_ago),
        open: price,
        high: price,
        low: price,
        close: price,
        volume: "2".parse().expect("volume"),
    }
}

/// The value of the series of `name` whose labels include every pair of `labels`, summed
/// (counters and gauges: the value; histograms: the sample count).
fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(family) = families.iter().find(|f| f.name() == name) else {
        return 0.0;
    };
    family
        .get_metric()
        .iter()
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| match family.get_field_type() {
            MetricType::COUNTER => m.get_counter().get_value(),
            MetricType::GAUGE => m.get_gauge().get_value(),
            MetricType::HISTOGRAM => {
                f64::from(u32::try_from(m.get_histogram().get_sample_count()).expect("count"))
            }
            other => panic!("{name}: unexpected type {other:?}"),
        })
        .sum()
}

async fn decorated(kind: ServerKind, backend: Backend) -> (MetricsStore, Registry, TestDatabase) {
    let db = fresh_database(kind).await.expect("test database");
    let mut config = Config::new(db.url()).with_backend(BackendChoice::Explicit(backend));
    // The embedded TimescaleDB serves one client at a time per database.
    config.store.pool_size = 1;
    let clock = Arc::new(FixedClock::new(now()));
    let store = open_with_clock(&config, clock.clone()).await.expect("open");
    store.migrate().await.expect("migrate");
    let registry = Registry::new();
    let store = MetricsStore::new(Arc::from(store), &registry, MetricsOptions::default())
        .expect("decorator")
        .with_clock(clock);
    (store, registry, db)
}

async fn counts_what_it_forwards(kind: ServerKind, backend: Backend) {
    let (store, registry, _db) = decorated(kind, backend).await;
    store
        .store_candles(&[
            candle("BTCUSDT", 3),
            candle("BTCUSDT", 2),
            candle("ETHUSDT", 2),
        ])
        .await
        .expect("candles");
    store
        .store_candle(&candle("ETHUSDT", 1))
        .await
        .expect("one candle");
    let mut bad = candle("BTCUSDT", 1);
    bad.low = "70000".parse().expect("low");
    let err = store
        .store_candles(&[candle("BTCUSDT", 1), bad])
        .await
        .expect_err("low above high");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    store
        .store_flows(&[Flow {
            asset: "BTC".into(),
            time: now() - TimeDelta::minutes(5),
            flow_type: FlowType::ExchangeInflow,
            amount: "12.5".parse().expect("amount"),
            usd_value: "762506.25".parse().expect("usd"),
            source: "binance".into(),
            reference: "tx1".into(),
        }])
        .await
        .expect("flow");
    for _ in 0..2 {
        let latest = store.latest_price("BTCUSDT").await.expect("latest");
        assert!(latest.is_some(), "the written price");
    }
    let range = TimeRange::new(now() - TimeDelta::hours(2), now()).expect("range");
    let series = store
        .ohlcv(&OhlcvQuery::new("BTCUSDT", Interval::H1, range))
        .await
        .expect("ohlcv");
    store.refresh(None).await.expect("refresh");
    let stats = store.stats().await.expect("stats");

    let m = registry.gather();
    let q = |dataset: &str, query: &str| {
        value(
            &m,
            names::QUERIES,
            &[("dataset", dataset), ("query", query)],
        )
    };
    assert_eq!(
        value(
            &m,
            names::PRICE_INSERTS,
            &[("symbol", "BTCUSDT"), ("interval", "1m")]
        ),
        2.0,
        "the failed batch counts no insert"
    );
    assert_eq!(
        value(
            &m,
            names::PRICE_INSERTS,
            &[("symbol", "ETHUSDT"), ("interval", "1m")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            names::FLOW_INSERTS,
            &[("asset", "BTC"), ("flow_type", "exchange_inflow")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, names::PRICE_BATCH_SIZE, &[]),
        3.0,
        "three batches"
    );
    assert_eq!(q("price", "store_candles"), 3.0);
    assert_eq!(q("price", "latest_price"), 2.0);
    assert_eq!(q("price", "ohlcv"), 1.0);
    assert_eq!(q("maintenance", "refresh"), 1.0);
    assert_eq!(
        value(
            &m,
            names::QUERY_SECONDS,
            &[("dataset", "price"), ("query", "latest_price")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            names::QUERY_ROWS,
            &[("dataset", "price"), ("query", "latest_price")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            names::ERRORS,
            &[
                ("dataset", "price"),
                ("query", "store_candles"),
                ("kind", "invalid_input")
            ]
        ),
        1.0
    );
    assert_eq!(value(&m, names::ERRORS, &[]), 1.0, "no other error");
    let route = match series.route {
        marketseries::Route::NoData => "no_data",
        marketseries::Route::Raw { .. } => "raw",
        marketseries::Route::Materialized { .. } => "materialized",
        marketseries::Route::ReAggregate { .. } => "re_aggregated",
    };
    assert_eq!(value(&m, names::OHLCV_ROUTES, &[("route", route)]), 1.0);
    assert_eq!(value(&m, names::REFRESH_SECONDS, &[("outcome", "ok")]), 1.0);
    assert!(
        value(&m, names::REFRESH_STEPS, &[]) >= 1.0,
        "a refresh after writes commits at least one step"
    );
    let with_watermark: Vec<_> = stats
        .aggregates
        .iter()
        .filter(|a| a.watermark.is_some())
        .collect();
    assert!(
        !with_watermark.is_empty(),
        "refreshed aggregates have watermarks"
    );
    for agg in with_watermark {
        let lag = value(
            &m,
            names::AGGREGATE_LAG,
            &[("aggregate", agg.name.as_str())],
        );
        let behind = now() - agg.watermark.expect("watermark");
        let expected = f64::from(i32::try_from(behind.num_seconds()).expect("seconds"));
        assert_eq!(lag, expected, "{}: watermark {:?}", agg.name, agg.watermark);
    }
    // A second decorator cannot take the same registry's names.
    let again = MetricsStore::new(store.inner().clone(), &registry, MetricsOptions::default());
    assert_eq!(again.err().map(|e| e.kind()), Some(ErrorKind::Config));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_postgresql_calls_are_counted() {
    counts_what_it_forwards(ServerKind::Postgres, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timescaledb_calls_are_counted() {
    counts_what_it_forwards(ServerKind::Timescale, Backend::Timescaledb).await;
}
