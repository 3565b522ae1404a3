//! Plain-PostgreSQL read paths against a real server: routed reads through pending rollup
//! spans answer as the in-memory reference does, whatever part of the window is pending,
//! and a refresh leaves planner statistics for what it and the load before it wrote.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::{
    Candle, Clock, FixedClock, MemoryStore, OhlcvQuery, PriceStore, TimeRange, TimeSeriesStore,
};
use marketseries_testkit::generate::CandleSpec;
use rust_decimal::Decimal;

use common::store;

fn now() -> DateTime<Utc> {
    "2024-06-15T12:00:00Z".parse().expect("timestamp")
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

/// Candles of two natives (1m, 30m) over four days, 1m ones 30 s off the grid.
fn candles() -> Vec<Candle> {
    let start = now() - TimeDelta::days(4);
    let mut all: Vec<Candle> = CandleSpec::minutes(2, 4, start, 11)
        .generate()
        .into_iter()
        .map(|mut c| {
            c.time += TimeDelta::seconds(30);
            c
        })
        .collect();
    all.extend(
        CandleSpec {
            candles: 4 * 48,
            interval: "30m".parse().expect("interval"),
            ..CandleSpec::minutes(1, 0, start, 12)
        }
        .generate()
        .into_iter()
        .map(|c| Candle {
            symbol: "ETHUSDT".to_owned(),
            ..c
        }),
    );
    all
}

/// Windows and intervals that read the rollups directly (5m ... 1d) or re-aggregate them
/// (30m, 2h, 3d, 1w), with ends on and off the buckets.
fn queries(symbol: &str) -> Vec<OhlcvQuery> {
    let windows = [
        (t("2024-06-11T12:00:00Z"), t("2024-06-15T12:00:00Z")),
        (t("2024-06-12T03:17:00Z"), t("2024-06-13T21:41:00Z")),
        (t("2024-06-13T00:00:00Z"), t("2024-06-13T06:00:00Z")),
        (t("2024-06-14T23:59:00Z"), t("2024-06-15T00:01:00Z")),
        (t("2024-06-01T00:00:00Z"), t("2024-07-01T00:00:00Z")),
    ];
    let intervals = ["5m", "15m", "30m", "1h", "2h", "4h", "1d", "3d", "1w"];
    let mut out = Vec::new();
    for (from, to) in windows {
        for interval in intervals {
            let range = TimeRange::new(from, to).expect("range");
            out.push(OhlcvQuery::new(
                symbol,
                interval.parse().expect("interval"),
                range,
            ));
        }
    }
    out
}

async fn assert_same(pg: &dyn PriceStore, reference: &MemoryStore, stage: &str) {
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for q in queries(symbol) {
            let want = reference.ohlcv(&q).await.expect("reference");
            let got = pg.ohlcv(&q).await.expect("postgres");
            assert_eq!(
                got.bars, want.bars,
                "{stage}: {symbol} {} over {:?}",
                q.interval, q.range
            );
        }
    }
}

/// Reads whose window holds pending spans, partly or whole, in the middle or at an edge,
/// give the in-memory store's answer: before any refresh (everything pending), with late
/// rows and corrections over refreshed buckets, and after the refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_through_pending_spans_equal_the_reference() {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now()));
    let pg = store(clock.clone()).await;
    let reference = MemoryStore::with_clock(clock);
    let all = candles();
    let (late, early): (Vec<Candle>, Vec<Candle>) = all
        .iter()
        .cloned()
        .partition(|c| c.time >= t("2024-06-13T02:00:00Z") && c.time < t("2024-06-13T05:00:00Z"));
    for batch in early.chunks(2_500) {
        pg.store_candles(batch).await.expect("store");
        reference.store_candles(batch).await.expect("reference");
    }
    assert_same(&pg, &reference, "all pending").await;

    pg.refresh(None).await.expect("refresh");
    pg.store_candles(&late).await.expect("late");
    reference.store_candles(&late).await.expect("reference");
    let corrections: Vec<Candle> = all
        .iter()
        .step_by(331)
        .map(|c| Candle {
            high: c.high + Decimal::TWO,
            close: c.close + Decimal::ONE,
            volume: c.volume * Decimal::TEN,
            ..c.clone()
        })
        .collect();
    pg.store_candles(&corrections).await.expect("corrections");
    reference
        .store_candles(&corrections)
        .await
        .expect("reference");
    assert_same(&pg, &reference, "late rows over refreshed buckets").await;

    pg.refresh(None).await.expect("refresh");
    assert_same(&pg, &reference, "after the refresh").await;
}

#[derive(QueryableByName)]
struct Analyzed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    analyzed: bool,
    #[diesel(sql_type = diesel::sql_types::Float)]
    reltuples: f32,
}

/// A refresh analyzes the raw partitions the load filled, the rollup tables it wrote and
/// the pending spans it emptied, so the planner need not wait for autovacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_leaves_planner_statistics() {
    let pg = store(Arc::new(FixedClock::new(now()))).await;
    let candles = CandleSpec::minutes(2, 2, now() - TimeDelta::days(2), 3).generate();
    pg.store_candles(&candles).await.expect("store");
    pg.refresh(None).await.expect("refresh");

    let mut conn = pg.conn().await.expect("conn");
    let rows: Vec<Analyzed> = diesel::sql_query(
        "SELECT c.relname::text AS name, \
                (s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL) AS analyzed, \
                c.reltuples \
         FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid \
         WHERE c.relname IN ('ohlcv_5m_materialized', 'ohlcv_15m_materialized', \
                             'ohlcv_1h_materialized', 'ohlcv_4h_materialized', \
                             'ohlcv_1d_materialized', 'ohlcv_pending') \
            OR c.oid IN (SELECT inhrelid FROM pg_inherits \
                         WHERE inhparent = 'candles'::regclass) \
         ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .expect("statistics");
    // Two days from noon: three daily partitions, five rollups, the pending spans.
    assert_eq!(
        rows.len(),
        9,
        "{:?}",
        rows.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    for r in &rows {
        assert!(r.analyzed, "{} has no statistics", r.name);
        if r.name != "ohlcv_pending" {
            assert!(r.reltuples > 0.0, "{} looks empty to the planner", r.name);
        }
    }
}
