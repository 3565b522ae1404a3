//! [`Partitioned`]: the plain-PostgreSQL flavor. Raw tables are range-partitioned by the
//! library; rollup tables are kept in step by every write; retention drops whole partitions.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{
    AggregateStats, Capabilities, Clock, Dataset, Error, Policies, Result, RetentionAction,
    RetentionReport, StoreStats, SystemClock, TableStats, TimeRange,
};

use crate::batch::count;
use crate::bucket_rollup::{self, Kind};
use crate::config::PgConfig;
use crate::error::db;
use crate::flavor::{raw_table, Batch, Flavor};
use crate::partitions;
use crate::rollup;
use crate::store::SqlStore;

/// Days of partitions [`TimeSeriesStore::apply_policies`](marketseries_core::TimeSeriesStore::apply_policies)
/// creates ahead of "now".
pub const PARTITIONS_AHEAD: i64 = 7;

/// Plain PostgreSQL (no extensions): see the crate documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Partitioned;

/// A store on plain PostgreSQL. Cheap to clone.
pub type PgStore = SqlStore<Partitioned>;

impl SqlStore<Partitioned> {
    /// Connects with the system clock. Call
    /// [`TimeSeriesStore::migrate`](marketseries_core::TimeSeriesStore::migrate) before
    /// first use.
    ///
    /// # Errors
    /// [`Error::Config`] when `partition_width` is not a whole number of days;
    /// [`Error::Connection`] when the server cannot be reached or rejects the connection.
    pub async fn connect(config: PgConfig) -> Result<Self> {
        Self::connect_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects with an explicit clock (relative queries and retention use it).
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub async fn connect_with_clock(config: PgConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::connect_flavor(config, clock, Partitioned).await
    }
}

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

/// Rollup tables summarising `dataset`.
fn rollups_of(dataset: Dataset) -> Vec<String> {
    match dataset {
        Dataset::Price => rollup::ROLLUPS.map(rollup::table).into(),
        Dataset::Sentiment => bucket_rollup::BUCKETS
            .map(|b| Kind::Sentiment.table(b))
            .into(),
        Dataset::Flow => bucket_rollup::BUCKETS.map(|b| Kind::Flows.table(b)).into(),
    }
}

#[async_trait]
impl Flavor for Partitioned {
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

    async fn before_write(
        &self,
        store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        batch: &Batch<'_>,
    ) -> Result<()> {
        partitions::ensure(
            conn,
            raw_table(batch.dataset()),
            store.config().partition_width,
            batch.times().into_iter(),
        )
        .await
        .map(drop)
    }

    async fn in_write_transaction(
        &self,
        conn: &mut AsyncPgConnection,
        batch: &Batch<'_>,
    ) -> diesel::QueryResult<()> {
        match *batch {
            Batch::Candles(rows) => rollup::refresh_for(conn, rows).await,
            Batch::Sentiment(rows) => {
                bucket_rollup::refresh_for(
                    conn,
                    Kind::Sentiment,
                    rows.iter().map(|r| (r.asset.as_str(), r.time)),
                )
                .await
            }
            Batch::Flows(rows) => {
                bucket_rollup::refresh_for(
                    conn,
                    Kind::Flows,
                    rows.iter().map(|f| (f.asset.as_str(), f.time)),
                )
                .await
            }
        }
    }

    async fn migrate(&self, store: &SqlStore<Self>) -> Result<()> {
        store
            .run_migrations(crate::migrate::POSTGRES)
            .await
            .map(drop)
    }

    /// Creates the partitions of the next [`PARTITIONS_AHEAD`] days so that writes near
    /// "now" never wait on DDL. Retention horizons are kept by the store and read by
    /// `apply_retention`.
    async fn apply_policies(&self, store: &SqlStore<Self>, _policies: &Policies) -> Result<()> {
        let now = store.now();
        let mut conn = store.conn().await?;
        for table in partitions::TABLES {
            let days = (0..=PARTITIONS_AHEAD).map(|d| now + TimeDelta::days(d));
            partitions::ensure(&mut conn, table, store.config().partition_width, days).await?;
        }
        Ok(())
    }

    async fn refresh(
        &self,
        _store: &SqlStore<Self>,
        _datasets: &[Dataset],
        _range: Option<TimeRange>,
    ) -> Result<()> {
        // Rollups are maintained synchronously with every write: nothing is ever pending.
        Ok(())
    }

    async fn apply_retention(&self, store: &SqlStore<Self>) -> Result<RetentionReport> {
        let mut conn = store.conn().await?;
        let mut report = RetentionReport::default();
        for (dataset, cutoff) in store.retention_cutoffs() {
            let table = raw_table(dataset);
            let removed = partitions::drop_before(&mut conn, table, cutoff).await?;
            report.actions.push(RetentionAction {
                dataset,
                cutoff,
                removed,
                unit: "partitions",
            });
            if removed > 0 {
                // Rollups must not outlive the raw rows they summarise.
                let oldest = partitions::list(&mut conn, table)
                    .await?
                    .into_iter()
                    .next()
                    .map(|p| p.start);
                rollup::trim(&mut conn, rollups_of(dataset), oldest)
                    .await
                    .map_err(db)?;
            }
        }
        Ok(report)
    }

    async fn stats(&self, store: &SqlStore<Self>) -> Result<StoreStats> {
        let mut conn = store.conn().await?;
        let mut tables = Vec::new();
        for table in partitions::TABLES {
            let rows: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
                .get_result(&mut conn)
                .await
                .map_err(db)?;
            let parts = partitions::list(&mut conn, table).await?;
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
        Ok(StoreStats {
            backend: store.caps.backend,
            tables,
            // Rollups are refreshed with every write, so each is complete up to "now".
            aggregates: Dataset::ALL
                .into_iter()
                .flat_map(rollups_of)
                .map(|name| AggregateStats {
                    name,
                    watermark: Some(store.now()),
                })
                .collect(),
            jobs: Vec::new(),
        })
    }
}

/// Checks that a partition (or chunk) width is a whole number of days, so that aggregate
/// buckets of up to a day never straddle a partition that retention drops.
///
/// # Errors
/// [`Error::Config`] naming `setting` otherwise.
pub fn whole_days(width: TimeDelta, setting: &str) -> Result<()> {
    let day = TimeDelta::days(1);
    if width < day || width.num_seconds() % day.num_seconds() != 0 {
        return Err(Error::Config(format!(
            "{setting} must be a whole number of days (got {width}): aggregate buckets of up \
             to a day must never straddle a partition that retention drops"
        )));
    }
    Ok(())
}
