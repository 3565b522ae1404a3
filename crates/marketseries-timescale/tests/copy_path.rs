//! Large candle batches on TimescaleDB: appended by binary `COPY` where the server serves
//! several clients per database (a native server), through the upsert on the embedded one
//! (one client per database: a `COPY` client of its own would wait forever behind the
//! pool's connection). Either way re-ingests and corrections land, nothing is half-written,
//! and the answers are the reference store's.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::memory::MemoryStore;
use marketseries_core::{
    Candle, Clock, ErrorKind, FixedClock, Interval, OhlcvQuery, PriceStore, TimeRange,
};
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::launcher::{fresh_database, Flavor as ServerFlavor, ServerKind};
use marketseries_timescale::{PgConfig, TimescaleStore};
use rust_decimal::Decimal;

fn start() -> DateTime<Utc> {
    Interval::D1.floor(Utc::now() - TimeDelta::days(6))
}

async fn assert_same_answers(store: &TimescaleStore, reference: &MemoryStore, stage: &str) {
    let range =
        TimeRange::new(start() - TimeDelta::days(1), start() + TimeDelta::days(4)).expect("range");
    for symbol in reference.symbols().await.expect("symbols") {
        for interval in [Interval::M1, Interval::H1, "2h".parse().expect("2h")] {
            let q = OhlcvQuery::new(symbol.as_str(), interval, range);
            let got = store.ohlcv(&q).await.expect("ohlcv").bars;
            let want = reference.ohlcv(&q).await.expect("reference").bars;
            assert_eq!(got, want, "{stage}: {symbol} at {interval}");
        }
        let got = store.latest_price(&symbol).await.expect("latest");
        let want = reference.latest_price(&symbol).await.expect("reference");
        assert_eq!(got, want, "{stage}: latest {symbol}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_take_copy_where_the_server_allows_and_every_path_agrees() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("test database");
    let mut config = PgConfig::new(db.url());
    // One connection in the pool, as on the embedded server (and in the CLI).
    config.pool_size = 1;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(start() + TimeDelta::days(3)));
    let store = TimescaleStore::connect_with_clock(config, clock)
        .await
        .expect("connect");
    marketseries_core::TimeSeriesStore::migrate(&store)
        .await
        .expect("migrate");
    assert_eq!(
        store.flavor().copies(),
        db.flavor() != ServerFlavor::Embedded,
        "COPY on a server of flavor {}",
        db.flavor()
    );

    let reference = MemoryStore::new();
    let candles = CandleSpec::minutes(3, 2, start(), 5).generate();
    let (first, second) = candles.split_at(candles.len() / 2);
    let write = async |rows: &[Candle]| {
        store.store_candles(rows).await.expect("store");
        reference.store_candles(rows).await.expect("reference");
    };
    // Appends, then a re-ingest (a COPY would hit stored keys and fall back), then
    // corrections of stored rows.
    write(first).await;
    write(second).await;
    assert_same_answers(&store, &reference, "after appends").await;
    write(first).await;
    let corrections: Vec<Candle> = second
        .iter()
        .map(|c| Candle {
            close: c.close + Decimal::ONE,
            high: c.high + Decimal::ONE,
            ..c.clone()
        })
        .collect();
    write(&corrections).await;
    assert_same_answers(&store, &reference, "after re-ingest and corrections").await;

    // A batch of new rows with one bad row stores nothing.
    let later = CandleSpec::minutes(3, 1, start() + TimeDelta::days(2), 9).generate();
    let mut bad = later.clone();
    bad[1_500].volume = -Decimal::ONE;
    let err = store.store_candles(&bad).await.expect_err("bad row");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_same_answers(&store, &reference, "after a rejected batch").await;
    write(&later).await;
    assert_same_answers(&store, &reference, "after the good batch").await;
}
