//! Operations only TimescaleDB has: compressing chunks now and running policy jobs by hand
//! (on servers without background workers, such as the embedded test server).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::{Dataset, Error, Result};
use marketseries_sql::schema::raw_table;
use marketseries_sql::{count, database_error, pg_error};

use crate::analyze::{analyze, RelName};
use crate::flavor::JOB_CONFLICT;

use crate::TimescaleStore;

/// A kind of policy job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Continuous aggregate refresh.
    Refresh,
    /// Compression.
    Compression,
    /// Retention, and the jobs that trim the aggregates to the raw rows retention left
    /// (run after the retention jobs).
    Retention,
}

impl Policy {
    fn proc_names(self) -> &'static [&'static str] {
        match self {
            Self::Refresh => &["policy_refresh_continuous_aggregate"],
            Self::Compression => &["policy_compression"],
            Self::Retention => &["policy_retention", "marketseries_trim_aggregates_job"],
        }
    }
}

/// Compresses the uncompressed chunks of a raw table (`$1`) ending at or before `$2` (all
/// when null); returns how many.
const COMPRESS: &str = "SELECT count(*) FROM ( \
     SELECT compress_chunk(c.chunk, if_not_compressed => true) \
     FROM (SELECT format('%I.%I', chunk_schema, chunk_name)::regclass AS chunk \
           FROM timescaledb_information.chunks \
           WHERE hypertable_schema = current_schema() AND hypertable_name = $1::text \
             AND NOT is_compressed \
             AND ($2::timestamptz IS NULL OR range_end <= $2::timestamptz)) c) done";

/// `ANALYZE`s the compressed relations of `table`'s chunks that have no statistics yet (a
/// chunk compressed a moment ago): without them the planner takes each for empty
/// (`reltuples = -1`, `relpages = 0` after compression on 2.28).
async fn analyze_compressed(conn: &mut diesel_async::AsyncPgConnection, table: &str) -> Result<()> {
    let rels: Vec<RelName> = diesel::sql_query(
        "SELECT format('%I.%I', cc.schema_name, cc.table_name) AS name \
         FROM _timescaledb_catalog.hypertable h \
         JOIN _timescaledb_catalog.chunk c ON c.hypertable_id = h.id \
         JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id \
         JOIN pg_class pc ON pc.oid = to_regclass(format('%I.%I', cc.schema_name, cc.table_name)) \
         WHERE h.schema_name = current_schema() AND h.table_name = $1 AND pc.reltuples < 0",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await
    .map_err(database_error)?;
    analyze(conn, &rels).await
}

#[derive(QueryableByName)]
struct JobId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// TimescaleDB-only operations on a [`TimescaleStore`].
#[async_trait]
pub trait TimescaleExt {
    /// Compresses every not-yet-compressed chunk of `dataset` that ends before
    /// `older_than` (every chunk when `None`); returns how many were compressed. Queries
    /// answer the same before and after.
    async fn compress_chunks(
        &self,
        dataset: Dataset,
        older_than: Option<DateTime<Utc>>,
    ) -> Result<u64>;

    /// Runs every policy job of the given kinds once, now (`CALL run_job`), in job order;
    /// returns the ids run.
    async fn run_policy_jobs(&self, kinds: &[Policy]) -> Result<Vec<i64>>;
}

#[async_trait]
impl TimescaleExt for TimescaleStore {
    async fn compress_chunks(
        &self,
        dataset: Dataset,
        older_than: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        if !self.flavor().edition().has_tsl() {
            return Err(Error::Unsupported {
                operation: "compression",
                backend: "timescaledb",
                reason: "this server runs the Apache-only edition".into(),
            });
        }
        let table = raw_table(dataset);
        // The server's compression job may compress a listed chunk first; the statement then
        // fails as a whole (SQLSTATE 42710, "already compressed") and changed nothing, and
        // the next attempt lists only the chunks still uncompressed. Lock conflicts and
        // deadlocks with the job are repeated by the store's retry.
        let mut attempts = 0;
        let n = loop {
            let attempt = self
                .retrying_with(JOB_CONFLICT, || async {
                    let client = self.client().await?;
                    let row = client
                        .query_one(COMPRESS, &[&table, &older_than])
                        .await
                        .map_err(|e| pg_error(&e))?;
                    Ok(row.get::<_, i64>(0))
                })
                .await;
            match attempt {
                Err(Error::Database { code: Some(c), .. }) if c == "42710" && attempts < 5 => {
                    attempts += 1;
                }
                other => break count(other?),
            }
        };
        analyze_compressed(&mut *self.conn().await?, table).await?;
        Ok(n)
    }

    async fn run_policy_jobs(&self, kinds: &[Policy]) -> Result<Vec<i64>> {
        if !self.flavor().edition().has_tsl() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let names: Vec<&str> = kinds.iter().flat_map(|k| k.proc_names()).copied().collect();
        let ids: Vec<JobId> = diesel::sql_query(
            "SELECT job_id::bigint AS id FROM timescaledb_information.jobs \
             WHERE proc_name = ANY($1::text[]) AND job_id >= 1000 ORDER BY job_id",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(names)
        .load(&mut conn)
        .await
        .map_err(database_error)?;
        drop(conn);
        for job in &ids {
            // The server's scheduler may be running the same job right now (55P03).
            let id = i32::try_from(job.id)
                .map_err(|_| Error::Other(format!("job id {} out of range", job.id)))?;
            self.retrying_with(JOB_CONFLICT, || async {
                let client = self.client().await?;
                tokio_postgres::Client::execute(&client, "CALL run_job($1)", &[&id])
                    .await
                    .map(drop)
                    .map_err(|e| pg_error(&e))
            })
            .await?;
        }
        Ok(ids.into_iter().map(|j| j.id).collect())
    }
}
