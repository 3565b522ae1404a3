//! What distinguishes one SQL backend from another.
//!
//! Tables, upserts and every read query are shared (see [`SqlStore`]); a [`Flavor`] supplies
//! only what differs: how it is set up for a server, the statement texts of reads that
//! differ, how time is partitioned before a write, what happens to the aggregates inside a
//! write's transaction, and the maintenance entry points (schema, policies, refresh,
//! retention, stats). Plain PostgreSQL (`marketseries-postgres`) and TimescaleDB
//! (`marketseries-timescale`) are the two flavors.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use marketseries_core::{
    Candle, Capabilities, Dataset, Flow, IndicatorValue, Interval, JobStats, Policies,
    RefreshObserver, Result, RetentionReport, SentimentReading, TimeRange,
};

use crate::config::PgConfig;
use crate::statements::ReadStatements;
use crate::store::SqlStore;

/// What a flavor reports of its own storage: the parts of a
/// [`marketseries_core::StoreStats`] only it knows (the store fills in the rest).
#[derive(Debug, Clone, Default)]
pub struct FlavorStats {
    /// Per raw table: rows, partitions or chunks, sizes.
    pub tables: Vec<marketseries_core::TableStats>,
    /// Per aggregate: up to when it is materialized.
    pub aggregates: Vec<marketseries_core::AggregateStats>,
    /// Background jobs.
    pub jobs: Vec<marketseries_core::JobStats>,
}

/// The distinct rows of one batch, after validation and last-wins deduplication.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    /// Candles for `candles`.
    Candles(&'a [&'a Candle]),
    /// Readings for `sentiment`.
    Sentiment(&'a [&'a SentimentReading]),
    /// Flows for `flows`.
    Flows(&'a [&'a Flow]),
    /// Indicator values for `indicators`.
    Indicators(&'a [&'a IndicatorValue]),
}

impl Batch<'_> {
    /// The dataset the rows belong to.
    pub fn dataset(&self) -> Dataset {
        match self {
            Self::Candles(_) => Dataset::Price,
            Self::Sentiment(_) => Dataset::Sentiment,
            Self::Flows(_) => Dataset::Flow,
            Self::Indicators(_) => Dataset::Indicator,
        }
    }

    /// The rows' timestamps, in batch order.
    pub fn times(&self) -> Vec<DateTime<Utc>> {
        match self {
            Self::Candles(rows) => rows.iter().map(|r| r.time).collect(),
            Self::Sentiment(rows) => rows.iter().map(|r| r.time).collect(),
            Self::Flows(rows) => rows.iter().map(|r| r.time).collect(),
            Self::Indicators(rows) => rows.iter().map(|r| r.time).collect(),
        }
    }
}

/// The backend-specific half of a [`SqlStore`].
///
/// A flavor's schema has the relations [`crate::schema`] names, with the columns of
/// `migrations/postgres`: raw tables, real-time OHLCV aggregates and their materialized part
/// for the widths in [`Flavor::capabilities`], sentiment and flow aggregates, and
/// `candle_series`. Whether an aggregate is a table kept in step by the writer or a
/// continuous aggregate is the flavor's business. Every hook with a default does nothing by
/// default; the maintenance entry points have none.
#[async_trait]
pub trait Flavor: Send + Sync + Sized + 'static {
    /// Builds the flavor for the server `config` names, before the store's pool exists (the
    /// TimescaleDB flavor detects the extension's edition here). Called by
    /// [`SqlStore::connect`].
    ///
    /// # Errors
    /// [`marketseries_core::Error::Connection`] when the server cannot be reached;
    /// [`marketseries_core::Error::Config`] when it cannot host this backend.
    async fn setup(config: &PgConfig) -> Result<Self>;

    /// [`Flavor::setup`], handing back the connection it set the flavor up on, if it opened
    /// one: the store's pool then starts with that connection instead of opening another.
    /// A connection's start-up is server work every first call pays (about 10 ms more on
    /// TimescaleDB than on plain PostgreSQL, where the extension initialises each backend:
    /// `pgbench -C` of `SELECT 1`, 20.1 ms against 10.4 ms on the benchmark machine). The
    /// default calls [`Flavor::setup`] and hands back none.
    ///
    /// # Errors
    /// As [`Flavor::setup`].
    async fn setup_with_connection(config: &PgConfig) -> Result<(Self, Option<AsyncPgConnection>)> {
        Ok((Self::setup(config).await?, None))
    }

    /// What the backend offers under `config`.
    fn capabilities(&self, config: &PgConfig) -> Capabilities;

    /// The point-in-time price read statements this backend runs (default
    /// [`SHARED_READS`](crate::statements::SHARED_READS)).
    fn reads(&self) -> &'static ReadStatements {
        &crate::statements::SHARED_READS
    }

    /// Whether the window reads of candles (price change and range, volume profile, market
    /// overview, OHLCV aggregated from raw candles) are planned on every call with their
    /// parameters, in a transaction that sets `plan_cache_mode = force_custom_plan`
    /// locally, whatever the session's mode (default `false`: the session's mode). For a
    /// backend whose generic plan of such a read holds every partition of `candles` once
    /// per window scan, to be started up on every call, and planned on the first call of
    /// every connection.
    fn plans_window_reads_per_call(&self) -> bool {
        false
    }

    /// Whether the server serves one client per database at a time (default `false`). The
    /// store then closes every connection after use, in its read pool and among its write
    /// clients alike, and keeps none idle: otherwise a write's client would wait forever
    /// behind the read pool's idle connection.
    fn serves_one_client(&self) -> bool {
        false
    }

    /// Settings every pooled session of the store runs before its first statement (default
    /// [`SESSION_SETUP`](crate::SESSION_SETUP)); the store appends its statement timeout.
    /// Whatever a flavor sets, sessions must be in UTC.
    fn session_setup(&self) -> &'static str {
        crate::SESSION_SETUP
    }

    /// What a real-time read of the OHLCV aggregate of `width` selects from, for one series
    /// and window: a relation name or a parenthesised subquery with an alias, with the
    /// aggregate's columns (`symbol`, `interval`, `time`, `open`, `high`, `low`, `close`,
    /// `volume`). `params` are the placeholders of the embedding statement, in order: symbol
    /// (text), native interval (text), and the first and the end bucket start of the
    /// window (timestamptz, both aligned to `width`); the statement also filters the rows
    /// on them. A flavor whose real-time relation cannot see the window through that filter
    /// (plain PostgreSQL's views aggregate pending spans of raw candles whole) bounds its
    /// work here. Default: the real-time aggregate `ohlcv_<w>` itself.
    fn real_time_ohlcv(&self, width: Interval, params: [&str; 4]) -> String {
        let _ = params;
        crate::schema::ohlcv_aggregate(width)
    }

    /// Rejects configurations the flavor cannot honour (called by `connect`; default: none
    /// rejected).
    ///
    /// # Errors
    /// [`marketseries_core::Error::Config`] naming the setting.
    fn check_config(&self, config: &PgConfig) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// Runs before a batch's transaction, on the client that will write it (plain
    /// PostgreSQL creates the partitions the rows need here; default: nothing). Part of
    /// the write's attempt: a retryable failure repeats it with the rest.
    async fn before_write(
        &self,
        store: &SqlStore<Self>,
        client: &tokio_postgres::Client,
        batch: &Batch<'_>,
    ) -> Result<()> {
        let _ = (store, client, batch);
        Ok(())
    }

    /// Writes a batch of candles (validated and deduplicated) by a path faster than the
    /// shared upsert, such as [`SqlStore::append_candles`], or returns `Ok(false)` having
    /// changed nothing, to leave the batch to the upsert (default). `Ok(true)` means the
    /// rows, and whatever [`Flavor::in_write_transaction`] keeps in step with them, are
    /// committed.
    async fn write_candles_fast(&self, store: &SqlStore<Self>, rows: &[&Candle]) -> Result<bool> {
        let _ = (store, rows);
        Ok(false)
    }

    /// Runs inside the batch's transaction after its rows were written (by the upsert or
    /// by [`SqlStore::append_candles`]' `COPY`); an error rolls the batch back (default:
    /// nothing).
    async fn in_write_transaction(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        batch: &Batch<'_>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let _ = (tx, batch);
        Ok(())
    }

    /// Creates or upgrades the schema.
    async fn migrate(&self, store: &SqlStore<Self>) -> Result<()>;

    /// Applies validated policies (jobs, schedules), on `conn`, inside the transaction that
    /// stores them in `marketseries_policies`: a failure leaves the stored policies as they
    /// were. Retention must only ever remove what the stored policies say.
    async fn apply_policies(
        &self,
        store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        policies: &Policies,
    ) -> Result<()>;

    /// Runs after the transaction that stored `policies` committed, for work that cannot
    /// run inside it (plain PostgreSQL creates partitions ahead in transactions of their own
    /// and starts its refresher; default: nothing).
    async fn policies_applied(&self, store: &SqlStore<Self>, policies: &Policies) -> Result<()> {
        let _ = (store, policies);
        Ok(())
    }

    /// Where retention at `cutoff` would stop dropping rows of `dataset`: the end of the
    /// last partition or chunk ending at or before `cutoff` (`None`: it drops none), so
    /// that a dry run counts exactly what the drop removes.
    async fn drop_boundary(
        &self,
        store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        dataset: Dataset,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>>;

    /// The jobs that run on their own for this store (server jobs, background tasks).
    async fn jobs(&self, store: &SqlStore<Self>) -> Result<Vec<JobStats>>;

    /// Brings the aggregates of `datasets` up to date over `range` (all time when `None`),
    /// calling `progress` after each step it commits (a flavor that refreshes in one go
    /// reports one step, or none when there was nothing to do).
    async fn refresh(
        &self,
        store: &SqlStore<Self>,
        datasets: &[Dataset],
        range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()>;

    /// Removes data past the retention horizons of the stored policies
    /// ([`SqlStore::retention_cutoffs`]).
    async fn apply_retention(&self, store: &SqlStore<Self>) -> Result<RetentionReport>;

    /// Sizes, aggregate watermarks and jobs (the store adds its policies and retry counts
    /// to make the [`marketseries_core::StoreStats`]).
    async fn stats(&self, store: &SqlStore<Self>) -> Result<FlavorStats>;
}
