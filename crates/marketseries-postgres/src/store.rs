//! [`PgStore`] and its maintenance entry points.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::pooled_connection::bb8::PooledConnection;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{
    AggregateStats, Capabilities, Clock, Dataset, Policies, Result, RetentionAction,
    RetentionReport, StoreStats, SystemClock, TableStats, TimeRange, TimeSeriesStore,
};

use crate::batch::count;
use crate::config::PgConfig;
use crate::error::{db, pool};
use crate::partitions;
use crate::pool::PgPool;

/// Days of partitions [`TimeSeriesStore::apply_policies`] creates ahead of "now".
pub const PARTITIONS_AHEAD: i64 = 7;

/// A store on plain PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) config: PgConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) caps: Capabilities,
    policies: Arc<Mutex<Policies>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects with the system clock. Call [`TimeSeriesStore::migrate`] before first use.
    ///
    /// # Errors
    /// [`marketseries_core::Error::Connection`] when the server cannot be reached or
    /// rejects the connection.
    pub async fn connect(config: PgConfig) -> Result<Self> {
        Self::connect_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects with an explicit clock (relative queries and retention use it).
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub async fn connect_with_clock(config: PgConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let day = chrono::TimeDelta::days(1);
        if config.partition_width < day
            || config.partition_width.num_seconds() % day.num_seconds() != 0
        {
            return Err(marketseries_core::Error::Config(format!(
                "partition_width must be a whole number of days (got {}): rollup buckets of up \
                 to a day must never straddle a partition that retention drops",
                config.partition_width
            )));
        }
        let pool = crate::pool::build(&config).await?;
        let caps = Capabilities {
            aggregates: crate::rollup::capabilities(),
            real_time_aggregates: true,
            max_batch_size: config.max_batch_size,
            ..Capabilities::raw_only("postgres")
        };
        Ok(Self {
            pool,
            config,
            clock,
            caps,
            policies: Arc::new(Mutex::new(Policies::default())),
        })
    }

    pub(crate) async fn conn(&self) -> Result<PooledConnection<'_, AsyncPgConnection>> {
        self.pool.get().await.map_err(pool)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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

#[async_trait]
impl TimeSeriesStore for PgStore {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn migrate(&self) -> Result<()> {
        crate::migrate::run(&self.config.url).await.map(drop)
    }

    /// Validates and keeps the policies (retention horizons are read by
    /// [`TimeSeriesStore::apply_retention`]), and creates the partitions of the next
    /// [`PARTITIONS_AHEAD`] days so that writes near "now" never wait on DDL.
    async fn apply_policies(&self, policies: &Policies) -> Result<()> {
        policies.validate()?;
        *self.policies.lock().unwrap_or_else(PoisonError::into_inner) = *policies;
        let now = self.now();
        let mut conn = self.conn().await?;
        for table in partitions::TABLES {
            let days = (0..=PARTITIONS_AHEAD).map(|d| now + chrono::TimeDelta::days(d));
            partitions::ensure(&mut conn, table, self.config.partition_width, days).await?;
        }
        Ok(())
    }

    async fn refresh(&self, _range: Option<TimeRange>) -> Result<()> {
        // Rollups are maintained synchronously with every write: nothing is ever pending.
        Ok(())
    }

    async fn apply_retention(&self) -> Result<RetentionReport> {
        let retention = self
            .policies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retention;
        let now = self.now();
        let mut conn = self.conn().await?;
        let mut report = RetentionReport::default();
        for (dataset, table) in Dataset::ALL.into_iter().zip(partitions::TABLES) {
            let Some(horizon) = retention.horizon(dataset) else {
                continue;
            };
            let cutoff = now
                .checked_sub_signed(horizon)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
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
                let rollups: Vec<String> = match dataset {
                    Dataset::Price => crate::rollup::ROLLUPS.map(crate::rollup::table).into(),
                    Dataset::Sentiment => crate::bucket_rollup::BUCKETS
                        .map(|b| crate::bucket_rollup::Kind::Sentiment.table(b))
                        .into(),
                    Dataset::Flow => crate::bucket_rollup::BUCKETS
                        .map(|b| crate::bucket_rollup::Kind::Flows.table(b))
                        .into(),
                };
                crate::rollup::trim(&mut conn, rollups, oldest)
                    .await
                    .map_err(db)?;
            }
        }
        Ok(report)
    }

    async fn stats(&self) -> Result<StoreStats> {
        let mut conn = self.conn().await?;
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
            backend: self.caps.backend,
            tables,
            // Rollups are refreshed with every write, so each is complete up to "now".
            aggregates: crate::rollup::ROLLUPS
                .into_iter()
                .map(|m| AggregateStats {
                    name: crate::rollup::table(m),
                    watermark: Some(self.now()),
                })
                .collect(),
            jobs: Vec::new(),
        })
    }
}
