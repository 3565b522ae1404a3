//! A store under test next to the reference store, fed the same data.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, Clock, FixedClock, Flow, FlowStore, Interval, MemoryStore, PriceStore,
    SentimentReading, SentimentStore, TimeSeriesStore,
};

use super::StoreFactory;
use crate::generate::{self, CandleSpec};

/// The instant the suite's clock reads: 2024-03-10 12:34:56 UTC (off every bucket grid).
pub fn fixture_now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_710_074_096, 0).unwrap_or_default()
}

/// A fresh store under test and a reference store sharing one fixed clock.
pub struct Fixture {
    /// The clock both stores read.
    pub clock: Arc<FixedClock>,
    /// The store under test.
    pub store: Arc<dyn TimeSeriesStore>,
    /// The oracle.
    pub reference: MemoryStore,
}

impl Fixture {
    /// Creates the pair; panics (failing the test) if the backend cannot be created.
    pub async fn new(factory: &dyn StoreFactory) -> Self {
        let clock = Arc::new(FixedClock::new(fixture_now()));
        let store = factory
            .create(clock.clone() as Arc<dyn Clock>)
            .await
            .unwrap_or_else(|e| panic!("the store under test could not be created: {e}"));
        Self {
            reference: MemoryStore::with_clock(clock.clone()),
            clock,
            store,
        }
    }

    /// Stores candles in both; both must accept them with the same summary.
    pub async fn candles(&self, batch: &[Candle]) {
        // Stay within the backend's batch limit; each chunk is atomic on its own.
        for chunk in batch.chunks(self.store.capabilities().max_batch_size.max(1)) {
            let a = self
                .store
                .store_candles(chunk)
                .await
                .expect("store accepts candles");
            let b = self
                .reference
                .store_candles(chunk)
                .await
                .expect("reference accepts candles");
            assert_eq!(a, b, "write summaries differ");
        }
    }

    /// Stores sentiment readings in both.
    pub async fn sentiments(&self, batch: &[SentimentReading]) {
        // Stay within the backend's batch limit; each chunk is atomic on its own.
        for chunk in batch.chunks(self.store.capabilities().max_batch_size.max(1)) {
            let a = self
                .store
                .store_sentiments(chunk)
                .await
                .expect("store accepts sentiments");
            let b = self
                .reference
                .store_sentiments(chunk)
                .await
                .expect("reference accepts sentiments");
            assert_eq!(a, b, "write summaries differ");
        }
    }

    /// Stores flows in both.
    pub async fn flows(&self, batch: &[Flow]) {
        // Stay within the backend's batch limit; each chunk is atomic on its own.
        for chunk in batch.chunks(self.store.capabilities().max_batch_size.max(1)) {
            let a = self
                .store
                .store_flows(chunk)
                .await
                .expect("store accepts flows");
            let b = self
                .reference
                .store_flows(chunk)
                .await
                .expect("reference accepts flows");
            assert_eq!(a, b, "write summaries differ");
        }
    }

    /// Two symbols of one-minute candles over the three days before "now".
    pub fn market_candles() -> Vec<Candle> {
        let start = fixture_now() - TimeDelta::days(3);
        CandleSpec::minutes(2, 3, Interval::M1.floor(start), 42).generate()
    }

    /// Sentiment for BTC and ETH every 10 minutes over the four days before "now".
    pub fn market_sentiment() -> Vec<SentimentReading> {
        generate::sentiment(
            &["BTC", "ETH"],
            fixture_now() - TimeDelta::days(4),
            TimeDelta::minutes(10),
            4 * 144,
            42,
        )
    }

    /// Flows for BTC and ETH over the four days before "now".
    pub fn market_flows() -> Vec<Flow> {
        generate::flows(
            &["BTC", "ETH"],
            fixture_now() - TimeDelta::days(4),
            4,
            150,
            42,
        )
    }
}

/// Asserts equality with a labelled message showing both sides.
#[track_caller]
pub(crate) fn same<T: PartialEq + Debug>(what: &str, got: T, expected: T) {
    assert!(
        got == expected,
        "{what}: the store answered\n{got:#?}\nbut the reference says\n{expected:#?}"
    );
}
