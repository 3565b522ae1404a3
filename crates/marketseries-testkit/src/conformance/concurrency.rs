//! Concurrent writers (issue 12): several writers of overlapping keys and buckets, with
//! refresh and retention running between their batches, lose nothing: every aggregate at
//! the end equals the reference store's, which received the same rows one after another.

use std::sync::Arc;

use chrono::TimeDelta;
use marketseries_core::{
    AggregateBucket, Candle, Flow, FlowStore, Interval, OhlcvQuery, PriceStore, SentimentReading,
    SentimentStore, TimeRange, TimeSeriesStore,
};

use super::approx::Approx;
use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;
use crate::generate::{self, CandleSpec};

/// Writers running at once.
const WRITERS: usize = 4;
/// Rows per batch: small, so that many transactions interleave.
const BATCH: usize = 500;

/// What one writer stores: its own sentiment source and flow source (so that every writer
/// adds to the same hourly and daily buckets of the same assets), and the same candles as
/// every other writer, in its own order (overlapping keys, equal values).
struct Share {
    sentiment: Vec<SentimentReading>,
    flows: Vec<Flow>,
    candles: Vec<Candle>,
}

fn shares() -> Vec<Share> {
    let start = fixture_now() - TimeDelta::days(3);
    let candles = CandleSpec::minutes(2, 3, start, 77).generate();
    (0..WRITERS)
        .map(|w| {
            let mut sentiment = generate::sentiment(
                &["BTC", "ETH"],
                start,
                TimeDelta::minutes(2),
                2_000,
                40 + w as u64,
            );
            sentiment.retain(|r| r.time < fixture_now());
            for r in &mut sentiment {
                r.source = format!("{}-w{w}", r.source);
            }
            let mut flows = generate::flows(&["BTC", "ETH"], start, 3, 1_500, 60 + w as u64);
            for f in &mut flows {
                f.source = format!("exchange-w{w}");
            }
            let mut candles = candles.clone();
            let shift = w * candles.len() / WRITERS;
            candles.rotate_left(shift);
            Share {
                sentiment,
                flows,
                candles,
            }
        })
        .collect()
}

async fn write_share(store: Arc<dyn TimeSeriesStore>, share: Share) -> usize {
    let limit = BATCH.min(store.capabilities().max_batch_size.max(1));
    let mut rows = 0;
    let (mut s, mut f, mut c) = (
        share.sentiment.chunks(limit),
        share.flows.chunks(limit),
        share.candles.chunks(limit),
    );
    loop {
        let mut wrote = false;
        if let Some(b) = s.next() {
            store.store_sentiments(b).await.expect("sentiment batch");
            rows += b.len();
            wrote = true;
        }
        if let Some(b) = f.next() {
            store.store_flows(b).await.expect("flow batch");
            rows += b.len();
            wrote = true;
        }
        if let Some(b) = c.next() {
            store.store_candles(b).await.expect("candle batch");
            rows += b.len();
            wrote = true;
        }
        if !wrote {
            return rows;
        }
        tokio::task::yield_now().await;
    }
}

/// At least 100,000 rows from four writers at once, refresh and retention running between
/// their batches; the sentiment and flow rollups, OHLCV at several intervals and row
/// counts then equal the reference's.
pub async fn concurrent_writers_lose_nothing(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let shares = shares();
    for share in &shares {
        fx.reference
            .store_sentiments(&share.sentiment)
            .await
            .expect("reference");
        fx.reference
            .store_flows(&share.flows)
            .await
            .expect("reference");
        fx.reference
            .store_candles(&share.candles)
            .await
            .expect("reference");
    }
    let writers: Vec<_> = shares
        .into_iter()
        .map(|share| tokio::spawn(write_share(fx.store.clone(), share)))
        .collect();
    let maintenance = {
        let store = fx.store.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                store.refresh(None).await.expect("refresh during writes");
                store
                    .apply_retention()
                    .await
                    .expect("retention during writes");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
    };
    let mut rows = 0;
    for w in writers {
        rows += w.await.expect("writer task");
    }
    maintenance.await.expect("maintenance task");
    assert!(rows >= 100_000, "only {rows} rows written");
    // Writes that deadlocked or lost their connection were repeated by the store (none
    // failed, or its writer would have); docs/reliability.md quotes this line.
    let stats = fx.store.stats().await.expect("stats");
    eprintln!(
        "concurrent writers on {}: {WRITERS} writers, {rows} rows; writes repeated: {:?}",
        stats.backend, stats.write_retries
    );
    fx.store.refresh(None).await.expect("refresh");

    let range = TimeRange::new(
        fixture_now() - TimeDelta::days(4),
        fixture_now() + TimeDelta::days(1),
    )
    .expect("range");
    for asset in ["BTC", "ETH"] {
        for bucket in [AggregateBucket::Hour, AggregateBucket::Day] {
            let got = fx
                .store
                .sentiment_aggregates(asset, bucket, range)
                .await
                .expect("sentiment aggregates");
            let want = fx
                .reference
                .sentiment_aggregates(asset, bucket, range)
                .await
                .expect("reference");
            assert!(
                got.approx_eq(&want),
                "{asset} sentiment {bucket:?} after concurrent writers: the store answered \
                 {got:#?}\nbut the reference says {want:#?}"
            );
            same(
                &format!("{asset} flow aggregates {bucket:?} after concurrent writers"),
                fx.store
                    .flow_aggregates(asset, bucket, range)
                    .await
                    .expect("flow aggregates"),
                fx.reference
                    .flow_aggregates(asset, bucket, range)
                    .await
                    .expect("reference"),
            );
        }
    }
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for interval in [Interval::H1, Interval::D1] {
            let q = OhlcvQuery::new(symbol, interval, range);
            same(
                &format!("{symbol} {interval} after concurrent writers"),
                fx.store.ohlcv(&q).await.expect("ohlcv").bars,
                fx.reference.ohlcv(&q).await.expect("reference").bars,
            );
        }
    }
    same(
        "row counts after concurrent writers",
        crate::counts::table_rows(fx.store.as_ref()).await,
        crate::counts::table_rows(&fx.reference).await,
    );
}
