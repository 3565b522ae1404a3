//! Real-time OHLCV reads across the aggregates' watermarks, against the launcher's
//! TimescaleDB server: part of the data refreshed, part only raw, late corrections on both
//! sides of each watermark, every answer compared with the reference store.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::Timestamptz;
use diesel_async::RunQueryDsl;
use marketseries_core::{
    Candle, Clock, FixedClock, Freshness, Interval, MemoryStore, OhlcvQuery, PriceStore, Route,
    TimeRange, TimeSeriesStore,
};
use marketseries_testkit::conformance::{fixture_now, Fixture};
use marketseries_timescale::TimescaleStore;
use rust_decimal::Decimal;

use common::store;

fn fixed() -> Arc<dyn Clock> {
    Arc::new(FixedClock::new(fixture_now()))
}

fn iv(s: &str) -> Interval {
    s.parse().expect("interval")
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

/// A reference store holding `candles`, then those of `late` that `keep` admits.
async fn reference_with(
    candles: &[Candle],
    late: &[Candle],
    keep: impl Fn(&Candle) -> bool,
) -> MemoryStore {
    let reference = MemoryStore::with_clock(fixed());
    reference.store_candles(candles).await.expect("candles");
    let admitted: Vec<Candle> = late.iter().filter(|c| keep(c)).cloned().collect();
    if !admitted.is_empty() {
        reference.store_candles(&admitted).await.expect("late");
    }
    reference
}

async fn watermarks(store: &TimescaleStore) -> HashMap<String, DateTime<Utc>> {
    store
        .stats()
        .await
        .expect("stats")
        .aggregates
        .into_iter()
        .filter_map(|a| Some((a.name, a.watermark?)))
        .collect()
}

/// Refreshes everything up to 09:07 of the day before the fixture's now (each aggregate
/// over the range's covering buckets, so the coarser the aggregate, the later its
/// watermark), then `ohlcv_5m` alone three hours further (whole buckets only: its watermark, 12:05, passes those of
/// `ohlcv_15m` and `ohlcv_1h`). Late corrections go below every watermark, between them,
/// and above all of them. A real-time read then answers, for each bucket of the aggregate it
/// reads, what that aggregate materialized below its own watermark and the raw candles as
/// they are now at or after it: a correction shows exactly where the aggregate read had
/// not materialized the bucket, whatever the finer aggregates had materialized. Refreshed
/// reads, and real-time reads after a full refresh, give the reference's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_reads_across_the_watermarks_match_the_reference() {
    let store = store(fixed()).await;
    let candles = Fixture::market_candles();
    store.store_candles(&candles).await.expect("candles");
    if !store.capabilities().real_time_aggregates {
        eprintln!("NOTE: no continuous aggregates on this server; nothing to check");
        return;
    }
    let data_start = candles.iter().map(|c| c.time).min().expect("candles");
    let cut = at("2024-03-09T09:07:00Z");
    store
        .refresh(Some(TimeRange::new(data_start, cut).expect("range")))
        .await
        .expect("refresh");
    {
        let mut conn = store.conn().await.expect("conn");
        diesel::sql_query(
            "CALL refresh_continuous_aggregate('ohlcv_5m', $1::timestamptz, $2::timestamptz)",
        )
        .bind::<Timestamptz, _>(cut)
        .bind::<Timestamptz, _>(cut + TimeDelta::hours(3))
        .execute(&mut conn)
        .await
        .expect("refresh ohlcv_5m further");
    }
    let marks = watermarks(&store).await;
    let mark = |w: &str| marks[&format!("ohlcv_{w}")];
    assert_eq!(mark("5m"), at("2024-03-09T12:05:00Z"), "{marks:?}");
    assert_eq!(mark("15m"), at("2024-03-09T09:15:00Z"), "{marks:?}");
    assert_eq!(mark("1h"), at("2024-03-09T10:00:00Z"), "{marks:?}");
    assert_eq!(mark("4h"), at("2024-03-09T12:00:00Z"), "{marks:?}");
    assert_eq!(mark("1d"), at("2024-03-10T00:00:00Z"), "{marks:?}");

    // Below every watermark; between those of 1h and 5m (below 4h and 1d); above 5m, 15m,
    // 1h and 4h but below 1d; above all.
    let late: Vec<Candle> = [
        "2024-03-08T20:00:00Z",
        "2024-03-09T11:30:00Z",
        "2024-03-09T14:00:00Z",
        "2024-03-10T03:00:00Z",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, t)| {
        let mut c = candles
            .iter()
            .find(|c| c.symbol == "BTCUSDT" && c.time == at(t))
            .expect("candle")
            .clone();
        c.high += Decimal::from(1000 + i64::try_from(i).expect("small"));
        c.low /= Decimal::TWO;
        c.volume += Decimal::new(7_770_001, 4);
        c
    })
    .collect();
    store.store_candles(&late).await.expect("late upserts");

    let fresh = reference_with(&candles, &late, |_| true).await;
    let mut as_read = HashMap::new();
    for w in ["5m", "15m", "1h", "4h", "1d"] {
        let (width, mark) = (iv(w), mark(w));
        let r = reference_with(&candles, &late, |c| width.floor(c.time) >= mark).await;
        as_read.insert(width, r);
    }
    let ranges = [
        TimeRange::new(fixture_now() - TimeDelta::days(3), fixture_now()).expect("range"),
        TimeRange::new(at("2024-03-09T07:41:13Z"), at("2024-03-09T16:02:00Z")).expect("range"),
    ];
    let intervals = [
        "1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "1d", "3d", "1w",
    ];
    let mut aggregates_read = Vec::new();
    for r in ranges {
        for i in intervals {
            let q = OhlcvQuery::new("BTCUSDT", iv(i), r);
            let got = store.ohlcv(&q).await.expect("ohlcv");
            let reference = match got.route {
                Route::Materialized { aggregate, .. } | Route::ReAggregate { aggregate, .. } => {
                    aggregates_read.push(aggregate);
                    &as_read[&aggregate]
                }
                Route::Raw { .. } | Route::NoData => &fresh,
            };
            let expected = reference.ohlcv(&q).await.expect("ohlcv").bars;
            assert!(
                got.bars == expected,
                "{i} over {r:?} by {}: {:?}\nexpected {expected:?}",
                got.route,
                got.bars
            );
        }
    }
    for w in ["5m", "15m", "1h", "4h", "1d"] {
        assert!(aggregates_read.contains(&iv(w)), "{w} was never read");
    }
    // The 1h read shows the correction at 11:30 (not materialized in ohlcv_1h), although
    // ohlcv_5m has that bucket materialized from before the correction.
    let original = reference_with(&candles, &late, |_| false).await;
    let q = OhlcvQuery::new("BTCUSDT", iv("1h"), ranges[1]);
    let hour_of = |bars: Vec<marketseries_core::Bar>| {
        bars.into_iter()
            .find(|b| b.time == at("2024-03-09T11:00:00Z"))
            .expect("bar")
    };
    let got = hour_of(store.ohlcv(&q).await.expect("ohlcv").bars);
    assert_eq!(got, hour_of(fresh.ohlcv(&q).await.expect("ohlcv").bars));
    assert_ne!(got, hour_of(original.ohlcv(&q).await.expect("ohlcv").bars));

    for r in ranges {
        for i in intervals {
            let q = OhlcvQuery::new("BTCUSDT", iv(i), r).with_freshness(Freshness::Refreshed);
            let got = store.ohlcv(&q).await.expect("ohlcv").bars;
            let expected = fresh.ohlcv(&q).await.expect("ohlcv").bars;
            assert!(got == expected, "{i} over {r:?}, refreshed");
        }
    }
    store.refresh(None).await.expect("full refresh");
    for r in ranges {
        for i in intervals {
            let q = OhlcvQuery::new("BTCUSDT", iv(i), r);
            let got = store.ohlcv(&q).await.expect("ohlcv").bars;
            let expected = fresh.ohlcv(&q).await.expect("ohlcv").bars;
            assert!(got == expected, "{i} over {r:?} after a full refresh");
        }
    }
}
