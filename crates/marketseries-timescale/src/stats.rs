//! `stats`: per hypertable rows, chunks and bytes before/after compression; per aggregate
//! the materialized watermark; per job the last run.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{AggregateStats, Dataset, JobStats, Result, TableStats};
use marketseries_sql::schema::raw_table;
use marketseries_sql::{count, database_error, FlavorStats};

use crate::aggregates::AGGREGATES;
use crate::edition::Edition;

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    chunks: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

#[derive(QueryableByName)]
struct Compression {
    #[diesel(sql_type = Nullable<BigInt>)]
    before: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    after: Option<i64>,
}

#[derive(QueryableByName)]
struct Watermark {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    watermark: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Job {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_run: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    succeeded: Option<bool>,
    #[diesel(sql_type = BigInt)]
    failures: i64,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_start: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    schedule_us: Option<i64>,
}

/// The server's jobs of this database (TimescaleDB's own have ids below 1000), with their
/// last run and next start: a job just added has none recorded yet and runs as soon as the
/// scheduler sees it, reported as the server's "now".
pub(crate) async fn jobs(conn: &mut AsyncPgConnection, edition: Edition) -> Result<Vec<JobStats>> {
    if !edition.has_tsl() {
        return Ok(Vec::new());
    }
    let rows: Vec<Job> = diesel::sql_query(
        "SELECT j.job_id::bigint AS id, \
         CASE WHEN j.proc_name = 'marketseries_trim_aggregates_job' \
              THEN 'Trim aggregates [' || j.job_id || '] to ' || (j.config->>'raw_table') \
              ELSE j.application_name \
                   || coalesce(' on ' || coalesce(ca.view_name, j.hypertable_name), '') END \
         AS name, \
         CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run, \
         CASE WHEN s.last_run_status IS NULL THEN NULL ELSE s.last_run_status = 'Success' END \
         AS succeeded, coalesce(s.total_failures, 0)::bigint AS failures, \
         CASE WHEN s.last_run_status <> 'Success' THEN \
           (SELECT e.err_message FROM timescaledb_information.job_errors e \
            WHERE e.job_id = j.job_id ORDER BY e.finish_time DESC LIMIT 1) END AS last_error, \
         (SELECT CASE WHEN NOT j.scheduled THEN NULL \
                      WHEN n IS NULL OR n = '-infinity' THEN now() \
                      WHEN isfinite(n) THEN n END \
          FROM (SELECT coalesce(s.next_start, j.next_start) AS n) x) AS next_start, \
         (extract(epoch FROM j.schedule_interval) * 1000000)::bigint AS schedule_us \
         FROM timescaledb_information.jobs j \
         LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id \
         LEFT JOIN timescaledb_information.continuous_aggregates ca \
           ON ca.materialization_hypertable_schema = j.hypertable_schema \
          AND ca.materialization_hypertable_name = j.hypertable_name \
         WHERE j.job_id >= 1000 ORDER BY j.job_id",
    )
    .load(conn)
    .await
    .map_err(database_error)?;
    Ok(rows
        .into_iter()
        .map(|j| JobStats {
            id: j.id,
            name: j.name,
            last_run: j.last_run,
            last_succeeded: j.succeeded,
            failures: count(j.failures),
            last_error: j.last_error,
            next_start: j.next_start,
            schedule: j.schedule_us.map(TimeDelta::microseconds),
            in_process: false,
        })
        .collect())
}

pub(crate) async fn collect(conn: &mut AsyncPgConnection, edition: Edition) -> Result<FlavorStats> {
    let mut tables = Vec::new();
    for dataset in Dataset::ALL {
        let table = raw_table(dataset);
        let t: Table = diesel::sql_query(format!(
            "SELECT (SELECT count(*) FROM {table}) AS rows, \
             (SELECT count(*) FROM show_chunks('{table}')) AS chunks, \
             coalesce(hypertable_size('{table}'), 0) AS bytes"
        ))
        .get_result(conn)
        .await
        .map_err(database_error)?;
        let compression = if edition.has_tsl() {
            diesel::sql_query(format!(
                "SELECT sum(before_compression_total_bytes)::bigint AS before, \
                 sum(after_compression_total_bytes)::bigint AS after \
                 FROM hypertable_compression_stats('{table}')"
            ))
            .get_result::<Compression>(conn)
            .await
            .map_err(database_error)?
        } else {
            Compression {
                before: None,
                after: None,
            }
        };
        tables.push(TableStats {
            name: table.to_owned(),
            rows: count(t.rows),
            partitions: count(t.chunks),
            total_bytes: Some(count(t.bytes)),
            uncompressed_bytes: compression.before.map(count),
            compressed_bytes: compression.after.map(count),
        });
    }
    let mut aggregates = Vec::new();
    if edition.has_tsl() {
        for agg in &AGGREGATES {
            // Before the first refresh the watermark is the minimum time: nothing materialized.
            let w: Watermark = diesel::sql_query(
                "SELECT CASE WHEN w > '1970-01-01'::timestamptz THEN w END AS watermark FROM ( \
                 SELECT _timescaledb_functions.to_timestamp( \
                 _timescaledb_functions.cagg_watermark(mat_hypertable_id)) AS w \
                 FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = $1) s",
            )
            .bind::<Text, _>(agg.name)
            .get_result(conn)
            .await
            .map_err(database_error)?;
            aggregates.push(AggregateStats {
                name: agg.name.to_owned(),
                watermark: w.watermark,
            });
        }
    }
    Ok(FlavorStats {
        tables,
        aggregates,
        jobs: jobs(conn, edition).await?,
    })
}
