//! Which path a candle batch takes on plain PostgreSQL (binary `COPY` for append-only
//! batches, the upsert for the rest), and that every path leaves the same data and the same
//! real-time answers as the reference store.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::memory::MemoryStore;
use marketseries_core::{
    Candle, Clock, FixedClock, Interval, OhlcvQuery, PriceStore, TimeRange, TimeSeriesStore,
};
use marketseries_postgres::{PgStore, WritePaths};
use marketseries_testkit::generate::CandleSpec;
use rust_decimal::Decimal;

fn start() -> DateTime<Utc> {
    "2024-06-01T00:00:00Z".parse().expect("timestamp")
}

async fn store() -> PgStore {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(start() + TimeDelta::days(10)));
    common::store(clock).await
}

fn paths(store: &PgStore) -> WritePaths {
    store.flavor().write_paths()
}

/// Asserts that `store` answers like `reference` at 1m (raw), 1h (rollup view) and 2h
/// (re-aggregated) for every symbol.
async fn assert_same_answers(store: &PgStore, reference: &MemoryStore, stage: &str) {
    let range =
        TimeRange::new(start() - TimeDelta::days(1), start() + TimeDelta::days(9)).expect("range");
    for symbol in reference.symbols().await.expect("symbols") {
        for interval in [Interval::M1, Interval::H1, "2h".parse().expect("2h")] {
            let q = OhlcvQuery::new(symbol.as_str(), interval, range);
            let got = store.ohlcv(&q).await.expect("ohlcv").bars;
            let want = reference.ohlcv(&q).await.expect("reference").bars;
            assert_eq!(got, want, "{stage}: {symbol} at {interval}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_only_batches_are_copied_and_the_rest_upserted() {
    let pg = store().await;
    let reference = MemoryStore::new();
    let candles = CandleSpec::minutes(3, 2, start(), 7).generate();
    let (first, second) = candles.split_at(candles.len() / 2);
    let write = async |rows: &[Candle]| {
        pg.store_candles(rows).await.expect("store");
        reference.store_candles(rows).await.expect("reference");
    };

    write(first).await;
    assert_eq!(
        paths(&pg),
        WritePaths {
            copied: 1,
            upserted: 0
        },
        "a fresh batch is copied"
    );
    write(second).await;
    assert_eq!(
        paths(&pg),
        WritePaths {
            copied: 2,
            upserted: 0
        },
        "a batch appended after the stored rows is copied"
    );
    assert_same_answers(&pg, &reference, "after appends").await;

    write(first).await;
    assert_eq!(paths(&pg).upserted, 1, "a re-ingested batch is upserted");
    let corrections: Vec<Candle> = second
        .iter()
        .step_by(2)
        .map(|c| Candle {
            high: c.high + Decimal::ONE,
            volume: c.volume + Decimal::TEN,
            ..c.clone()
        })
        .collect();
    assert!(corrections.len() >= 1_000, "large enough for the COPY path");
    write(&corrections).await;
    assert_eq!(paths(&pg).upserted, 2, "corrections are upserted");
    // New keys between stored rows (30 s off the grid).
    let between: Vec<Candle> = first
        .iter()
        .map(|c| Candle {
            time: c.time + TimeDelta::seconds(30),
            ..c.clone()
        })
        .collect();
    write(&between).await;
    assert_eq!(
        paths(&pg),
        WritePaths {
            copied: 3,
            upserted: 2
        },
        "new keys between stored rows are copied"
    );
    let small = CandleSpec {
        candles: 10,
        ..CandleSpec::minutes(1, 0, start() + TimeDelta::days(5), 9)
    }
    .generate();
    assert_eq!(small.len(), 10);
    write(&small).await;
    assert_eq!(
        paths(&pg),
        WritePaths {
            copied: 3,
            upserted: 3
        },
        "a small batch is upserted"
    );
    assert_same_answers(&pg, &reference, "after upserts, before a refresh").await;
    pg.refresh(None).await.expect("refresh");
    assert_same_answers(&pg, &reference, "after a refresh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_the_same_keys_both_succeed() {
    let pg = store().await;
    let candles = CandleSpec::minutes(2, 1, start(), 11).generate();
    let raised: Vec<Candle> = candles
        .iter()
        .map(|c| Candle {
            volume: c.volume + Decimal::ONE,
            ..c.clone()
        })
        .collect();
    let (a, b) = tokio::join!(pg.store_candles(&candles), pg.store_candles(&raised));
    a.expect("first writer");
    b.expect("second writer");
    // Whichever copied first, the other's COPY hit the keys taken and it upserted over them.
    assert_eq!(
        paths(&pg),
        WritePaths {
            copied: 1,
            upserted: 1
        }
    );
    let range = TimeRange::new(start(), start() + TimeDelta::days(2)).expect("range");
    let stored = pg
        .ohlcv(&OhlcvQuery::new(
            candles[0].symbol.as_str(),
            Interval::M1,
            range,
        ))
        .await
        .expect("ohlcv")
        .bars;
    let expected = candles
        .iter()
        .filter(|c| c.symbol == candles[0].symbol)
        .count();
    assert_eq!(stored.len(), expected, "every key stored once");
    let first_volume = stored[0].volume;
    assert!(
        first_volume == candles[0].volume || first_volume == raised[0].volume,
        "a whole batch won"
    );
}
