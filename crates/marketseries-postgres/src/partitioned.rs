//! [`Partitioned`]: the plain-PostgreSQL flavor. Raw tables are range-partitioned by the
//! library; OHLCV rollups are refreshed from pending spans behind real-time views (see the
//! `rollup` module), sentiment and flow rollups are kept in step by every write; retention
//! drops whole partitions.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{
    AggregateStats, Candle, Capabilities, Dataset, Error, Interval, JobStats, Policies,
    RefreshObserver, Result, RetentionAction, RetentionReport, TableStats, TimeRange,
};
use marketseries_sql::schema::raw_table;
use marketseries_sql::statements::ReadStatements;
use marketseries_sql::{
    count, database_error as db, whole_days, Batch, Flavor, FlavorStats, PgConfig, SqlStore,
    MIN_COPY_ROWS,
};

use crate::bucket_rollup::{self, Kind};
use crate::partitions;
use crate::refresher::Refresher;
use crate::rollup;
use crate::statements;

/// Days of partitions [`TimeSeriesStore::apply_policies`](marketseries_core::TimeSeriesStore::apply_policies)
/// creates ahead of "now".
pub const PARTITIONS_AHEAD: i64 = 7;

/// Plain PostgreSQL (no extensions): see the crate documentation.
#[derive(Default)]
pub struct Partitioned {
    copied: AtomicU64,
    upserted: AtomicU64,
    refresher: Refresher,
}

impl fmt::Debug for Partitioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partitioned")
            .field("write_paths", &self.write_paths())
            .finish_non_exhaustive()
    }
}

/// How many candle batches a [`PgStore`] wrote by each path since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WritePaths {
    /// Appended by binary `COPY` (batches of at least 1,000 rows, none of whose keys was
    /// stored already).
    pub copied: u64,
    /// Written by the `INSERT ... ON CONFLICT DO UPDATE` upsert.
    pub upserted: u64,
}

impl Partitioned {
    /// Batch counts per write path (for monitoring, and for tests that need to know which
    /// path a batch took).
    pub fn write_paths(&self) -> WritePaths {
        WritePaths {
            copied: AtomicU64::load(&self.copied, Ordering::Relaxed),
            upserted: AtomicU64::load(&self.upserted, Ordering::Relaxed),
        }
    }
}

/// A store on plain PostgreSQL. Cheap to clone. Open it with
/// [`SqlStore::connect`](marketseries_sql::SqlStore::connect) (`PgStore::connect(config)`).
pub type PgStore = SqlStore<Partitioned>;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// Rollup tables summarising `dataset` (the tables, not the real-time views).
fn rollup_tables(dataset: Dataset) -> Vec<String> {
    match dataset {
        Dataset::Price => rollup::ROLLUPS.map(rollup::materialized).into(),
        Dataset::Sentiment => bucket_rollup::BUCKETS
            .map(|b| Kind::Sentiment.table(b))
            .into(),
        Dataset::Flow => bucket_rollup::BUCKETS.map(|b| Kind::Flows.table(b)).into(),
        // Indicators are stored as given and summarised by nothing.
        Dataset::Indicator => Vec::new(),
    }
}

#[async_trait]
impl Flavor for Partitioned {
    async fn setup(_config: &PgConfig) -> Result<Self> {
        Ok(Self::default())
    }

    fn capabilities(&self, config: &PgConfig) -> Capabilities {
        Capabilities {
            aggregates: rollup::capabilities(),
            real_time_aggregates: true,
            max_batch_size: config.max_batch_size,
            ..Capabilities::raw_only("postgres")
        }
    }

    fn check_config(&self, config: &PgConfig) -> Result<()> {
        whole_days(config.partition_width, "partition_width")
    }

    /// Series with nothing pending are complete in the rollup tables, so a real-time read
    /// of one reads the rollup table and skips the real-time view's anti-join and
    /// raw-candle branch (`cargo xtask bench`: 2.7 ms vs 4.4 ms for a 30-day 1h read); price
    /// changes and the overview take the high and low of whole hours from `ohlcv_1h`.
    fn reads(&self) -> &'static ReadStatements {
        &statements::READS
    }

    /// Custom plans, pruned to the partitions of each call's window
    /// ([`statements::SESSION_SETUP`]).
    fn session_setup(&self) -> &'static str {
        statements::SESSION_SETUP
    }

    /// Reads of series with pending spans cut those spans to the window before reading raw
    /// candles ([`statements::real_time_ohlcv`]), where the view `ohlcv_<w>` would
    /// aggregate them whole.
    fn real_time_ohlcv(&self, width: Interval, params: [&str; 4]) -> String {
        statements::real_time_ohlcv(width, params)
    }

    async fn before_write(
        &self,
        store: &SqlStore<Self>,
        client: &tokio_postgres::Client,
        batch: &Batch<'_>,
    ) -> Result<()> {
        partitions::ensure(
            client,
            raw_table(batch.dataset()),
            partitions::Ddl::of(store.config()),
            batch.times().into_iter(),
        )
        .await
        .map(drop)
    }

    /// Appends batches of at least [`MIN_COPY_ROWS`] by binary `COPY`
    /// ([`SqlStore::append_candles`]); counts the batches per path.
    async fn write_candles_fast(&self, store: &SqlStore<Self>, rows: &[&Candle]) -> Result<bool> {
        let copied = rows.len() >= MIN_COPY_ROWS && store.append_candles(rows).await?;
        let counter = if copied { &self.copied } else { &self.upserted };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(copied)
    }

    /// Candles: records the rows' pending rollup spans. Sentiment and flows: recomputes
    /// the hourly and daily rollup buckets the rows touch.
    async fn in_write_transaction(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        batch: &Batch<'_>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        match *batch {
            Batch::Candles(rows) => rollup::record_pending(tx, &rollup::spans_of(rows)).await,
            Batch::Sentiment(rows) => {
                bucket_rollup::refresh_for(
                    tx,
                    Kind::Sentiment,
                    rows.iter().map(|r| (r.asset.as_str(), r.time)),
                )
                .await
            }
            Batch::Flows(rows) => {
                bucket_rollup::refresh_for(
                    tx,
                    Kind::Flows,
                    rows.iter().map(|f| (f.asset.as_str(), f.time)),
                )
                .await
            }
            Batch::Indicators(_) => Ok(()),
        }
    }

    async fn migrate(&self, store: &SqlStore<Self>) -> Result<()> {
        store.run_migrations(crate::MIGRATIONS).await.map(drop)
    }

    /// Nothing the server runs: plain PostgreSQL has no job scheduler
    /// ([`Flavor::policies_applied`] does the work).
    async fn apply_policies(
        &self,
        _store: &SqlStore<Self>,
        _conn: &mut AsyncPgConnection,
        _policies: &Policies,
    ) -> Result<()> {
        Ok(())
    }

    /// Creates the partitions of the next [`PARTITIONS_AHEAD`] days so that writes near
    /// "now" never wait on DDL (each in a transaction of its own, so not inside the one
    /// that stored the policies), and (re)starts the background refresh of the OHLCV
    /// rollups every `policies.refresh.schedule` (until the store is dropped).
    ///
    /// # Errors
    /// [`Error::Config`] when called outside a tokio runtime (the refresher is a tokio
    /// task).
    async fn policies_applied(&self, store: &SqlStore<Self>, policies: &Policies) -> Result<()> {
        let now = store.now();
        for table in partitions::tables() {
            let days = (0..=PARTITIONS_AHEAD).map(|d| now + TimeDelta::days(d));
            store
                .retrying(|| async {
                    let client = store.client().await?;
                    let ddl = partitions::Ddl::of(store.config());
                    partitions::ensure(&client, table, ddl, days.clone()).await
                })
                .await?;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config(
                "apply_policies must run on a tokio runtime (the rollup refresher is a tokio \
                 task)"
                    .into(),
            ));
        }
        let every = policies
            .refresh
            .schedule
            .to_std()
            .map_err(|_| Error::Config("the refresh schedule must be positive".into()))?;
        self.refresher.start(
            store.pool().clone(),
            every,
            store.clock(),
            store.config().refresh_connections(),
        );
        Ok(())
    }

    /// Rebuilds the OHLCV rollups over every pending span (whatever `range` asks for: the
    /// spans are few, and consuming them all keeps real-time reads cheap), in bounded steps
    /// that commit one by one, each reported to `progress` (see the `rollup` module; a
    /// failure keeps the steps before it), on [`PgConfig::refresh_connections`] pooled
    /// connections at once. Sentiment and flow rollups are kept in step by
    /// every write and never pending.
    async fn refresh(
        &self,
        store: &SqlStore<Self>,
        datasets: &[Dataset],
        _range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()> {
        if datasets.contains(&Dataset::Price) {
            let mut held = Vec::new();
            for _ in 0..store.config().refresh_connections() {
                held.push(store.conn().await?);
            }
            rollup::refresh_pending(held.iter_mut().map(|c| &mut ***c).collect(), progress)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// The end of the last partition lying wholly before the cutoff: retention drops those.
    async fn drop_boundary(
        &self,
        store: &SqlStore<Self>,
        _conn: &mut AsyncPgConnection,
        dataset: Dataset,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(
            partitions::list(&*store.client().await?, raw_table(dataset))
                .await?
                .iter()
                .map(partitions::Partition::end)
                .filter(|end| *end <= cutoff)
                .max(),
        )
    }

    async fn jobs(&self, _store: &SqlStore<Self>) -> Result<Vec<JobStats>> {
        Ok(self.refresher.job().into_iter().collect())
    }

    async fn apply_retention(&self, store: &SqlStore<Self>) -> Result<RetentionReport> {
        let mut conn = store.conn().await?;
        let mut report = RetentionReport::default();
        for (dataset, cutoff) in store.retention_cutoffs(&mut conn).await? {
            let table = raw_table(dataset);
            // Counted across attempts: a retried run goes on where the failed one stopped.
            let removed = AtomicU64::new(0);
            store
                .retrying(|| async {
                    let client = store.client().await?;
                    let ddl = partitions::Ddl::of(store.config());
                    partitions::drop_before(&client, table, cutoff, ddl, &removed).await
                })
                .await?;
            let removed = removed.into_inner();
            report.actions.push(RetentionAction {
                dataset,
                cutoff,
                removed,
                unit: "partitions",
            });
            if removed > 0 {
                // Rollups must not outlive the raw rows they summarise.
                let oldest = partitions::list(&*store.client().await?, table)
                    .await?
                    .into_iter()
                    .next()
                    .map(|p| p.start);
                rollup::trim(&mut conn, rollup_tables(dataset), oldest)
                    .await
                    .map_err(db)?;
                if dataset == Dataset::Price {
                    rollup::trim_pending(&mut conn, oldest).await.map_err(db)?;
                    diesel::sql_query(marketseries_sql::statements::forget_dead_series())
                        .execute(&mut conn)
                        .await
                        .map_err(db)?;
                }
            }
        }
        Ok(report)
    }

    async fn stats(&self, store: &SqlStore<Self>) -> Result<FlavorStats> {
        let mut conn = store.conn().await?;
        let mut tables = Vec::new();
        for table in partitions::tables() {
            let rows: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
                .get_result(&mut conn)
                .await
                .map_err(db)?;
            let parts = partitions::list(&*store.client().await?, table).await?;
            let size: Size = diesel::sql_query(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes \
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = $1::regclass",
            )
            .bind::<Text, _>(table)
            .get_result(&mut conn)
            .await
            .map_err(db)?;
            tables.push(TableStats {
                name: table.to_owned(),
                rows: count(rows.n),
                partitions: u64::try_from(parts.len()).unwrap_or(u64::MAX),
                total_bytes: Some(count(size.bytes)),
                uncompressed_bytes: None,
                compressed_bytes: None,
            });
        }
        Ok(FlavorStats {
            tables,
            aggregates: aggregate_stats(&mut conn, store.now()).await?,
            jobs: self.refresher.job().into_iter().collect(),
        })
    }
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    lo: Option<DateTime<Utc>>,
}

/// Every rollup with its watermark: the OHLCV rollups are complete up to the oldest pending
/// raw time (up to `now` when nothing is pending); sentiment and flow rollups, kept in step
/// by every write, up to `now`.
async fn aggregate_stats(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<AggregateStats>> {
    let oldest: Oldest = diesel::sql_query("SELECT min(lo) AS lo FROM ohlcv_pending")
        .get_result(conn)
        .await
        .map_err(db)?;
    let price = rollup::ROLLUPS.map(|m| AggregateStats {
        name: marketseries_sql::schema::ohlcv_aggregate(m),
        watermark: Some(oldest.lo.unwrap_or(now)),
    });
    let others = [Kind::Sentiment, Kind::Flows]
        .into_iter()
        .flat_map(|k| bucket_rollup::BUCKETS.map(|b| k.table(b)))
        .map(|name| AggregateStats {
            name,
            watermark: Some(now),
        });
    Ok(price.into_iter().chain(others).collect())
}
