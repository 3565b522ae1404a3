//! What distinguishes one SQL backend from another.
//!
//! Tables, upserts and every read query are shared (see [`SqlStore`]); a [`Flavor`] supplies
//! only what differs: how time is partitioned before a write, what happens to the
//! aggregates inside a write's transaction, and the maintenance entry points (schema,
//! policies, refresh, retention, stats). [`Partitioned`](crate::Partitioned) is plain
//! PostgreSQL; the TimescaleDB backend (`marketseries-timescale`) is another flavor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use marketseries_core::{
    Candle, Capabilities, Dataset, Flow, Policies, Result, RetentionReport, SentimentReading,
    StoreStats, TimeRange,
};

use crate::config::PgConfig;
use crate::store::SqlStore;

/// The distinct rows of one batch, after validation and last-wins deduplication.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    /// Candles for `candles`.
    Candles(&'a [&'a Candle]),
    /// Readings for `sentiment`.
    Sentiment(&'a [&'a SentimentReading]),
    /// Flows for `flows`.
    Flows(&'a [&'a Flow]),
}

impl Batch<'_> {
    /// The dataset the rows belong to.
    pub fn dataset(&self) -> Dataset {
        match self {
            Self::Candles(_) => Dataset::Price,
            Self::Sentiment(_) => Dataset::Sentiment,
            Self::Flows(_) => Dataset::Flow,
        }
    }

    /// The rows' timestamps, in batch order.
    pub fn times(&self) -> Vec<DateTime<Utc>> {
        match self {
            Self::Candles(rows) => rows.iter().map(|r| r.time).collect(),
            Self::Sentiment(rows) => rows.iter().map(|r| r.time).collect(),
            Self::Flows(rows) => rows.iter().map(|r| r.time).collect(),
        }
    }
}

/// Name of the raw table holding `dataset` (the same in every SQL backend).
pub fn raw_table(dataset: Dataset) -> &'static str {
    match dataset {
        Dataset::Price => "candles",
        Dataset::Sentiment => "sentiment",
        Dataset::Flow => "flows",
    }
}

/// The backend-specific half of a [`SqlStore`].
///
/// Both backends expose the same relations under the same names: raw tables `candles`,
/// `sentiment`, `flows`; real-time OHLCV aggregates `ohlcv_<interval>` for the intervals in
/// [`Flavor::capabilities`] and their materialized part `ohlcv_<interval>_materialized`;
/// sentiment and flow aggregates `sentiment_1h`, `sentiment_1d`,
/// `flows_1h`, `flows_1d`, with the columns of `migrations/postgres`. Whether those are
/// tables kept in step by the writer or continuous aggregates is the flavor's business.
#[async_trait]
pub trait Flavor: Send + Sync + Sized + 'static {
    /// What the backend offers under `config`.
    fn capabilities(&self, config: &PgConfig) -> Capabilities;

    /// The relation holding only what is materialized of OHLCV aggregate `aggregate` (e.g.
    /// `ohlcv_1h`), read for [`marketseries_core::Freshness::MaterializedOnly`]. Both
    /// backends name it `<aggregate>_materialized`: the rollup table behind plain
    /// PostgreSQL's real-time view, the view over the materialization hypertable of a
    /// TimescaleDB continuous aggregate.
    fn materialized_relation(&self, aggregate: &str) -> String {
        format!("{aggregate}_materialized")
    }

    /// Whether writes record pending rollup spans in `ohlcv_pending` (plain PostgreSQL).
    /// If so, a real-time read of a series with none pending reads
    /// [`Flavor::materialized_relation`], which is then complete for it; otherwise
    /// (default) real-time reads always read the real-time aggregates.
    fn records_pending_spans(&self) -> bool {
        false
    }

    /// Whether price changes and the market overview take the high and low of whole hours
    /// from the `ohlcv_1h` rollup ([`statements::price_change_rollup`]); default `false`
    /// (raw candles).
    ///
    /// [`statements::price_change_rollup`]: crate::statements::price_change_rollup
    fn high_low_from_rollups(&self) -> bool {
        false
    }

    /// Rejects configurations the flavor cannot honour (called by `connect`).
    ///
    /// # Errors
    /// [`marketseries_core::Error::Config`] naming the setting.
    fn check_config(&self, config: &PgConfig) -> Result<()>;

    /// Runs before a batch's transaction, on the connection that will write it (plain
    /// PostgreSQL creates the partitions the rows need here).
    async fn before_write(
        &self,
        store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        batch: &Batch<'_>,
    ) -> Result<()>;

    /// Writes a batch of candles (validated and deduplicated) by a path faster than the
    /// shared upsert, or returns `Ok(false)` having changed nothing, to leave the batch to
    /// the upsert (the default). `Ok(true)` means the rows, and whatever
    /// [`Flavor::in_write_transaction`] keeps in step with them, are committed.
    async fn write_candles_fast(&self, store: &SqlStore<Self>, rows: &[&Candle]) -> Result<bool> {
        let _ = (store, rows);
        Ok(false)
    }

    /// Runs inside the batch's transaction after the upsert; an error rolls the batch back.
    async fn in_write_transaction(
        &self,
        conn: &mut AsyncPgConnection,
        batch: &Batch<'_>,
    ) -> diesel::QueryResult<()>;

    /// Creates or upgrades the schema.
    async fn migrate(&self, store: &SqlStore<Self>) -> Result<()>;

    /// Applies validated policies (the store keeps a copy for [`Flavor::apply_retention`]).
    async fn apply_policies(&self, store: &SqlStore<Self>, policies: &Policies) -> Result<()>;

    /// Brings the aggregates of `datasets` up to date over `range` (all time when `None`).
    async fn refresh(
        &self,
        store: &SqlStore<Self>,
        datasets: &[Dataset],
        range: Option<TimeRange>,
    ) -> Result<()>;

    /// Removes data past the retention horizons of the store's policies.
    async fn apply_retention(&self, store: &SqlStore<Self>) -> Result<RetentionReport>;

    /// Sizes, aggregate watermarks and jobs.
    async fn stats(&self, store: &SqlStore<Self>) -> Result<StoreStats>;
}
