//! Policies as TimescaleDB jobs (retention on every hypertable and aggregate, compression
//! on the hypertables, refresh on the aggregates, and beside each retention job a job that
//! trims its aggregates to the raw rows left), applied idempotently: when the jobs in place
//! differ from what the policies ask, each policy is removed and added again with the
//! configured values in one transaction, so re-applying other values alters them and a
//! failure leaves the previous set in place; when they are the same, nothing is touched.

use chrono::TimeDelta;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketseries_core::{Dataset, Error, Policies, Result};
use marketseries_sql::database_error;
use marketseries_sql::schema::raw_table;

use crate::aggregates::{Aggregate, AGGREGATES};
use crate::flavor::pg_interval;

/// The refresh window TimescaleDB accepts for `agg`: at least two of its buckets, so the
/// configured `start_offset` is widened for coarse aggregates where needed.
pub(crate) fn refresh_start(agg: &Aggregate, policies: &Policies) -> TimeDelta {
    let r = &policies.refresh;
    r.start_offset
        .max(r.end_offset + agg.width.duration() + agg.width.duration())
}

/// Retention must not cut into any aggregate's (widened) refresh window: a refresh there
/// would find the raw rows gone and erase the aggregate.
fn check(policies: &Policies) -> Result<()> {
    for agg in &AGGREGATES {
        let start = refresh_start(agg, policies);
        if let Some(horizon) = policies.retention.horizon(agg.dataset) {
            if horizon <= start {
                return Err(Error::Config(format!(
                    "{} retention ({horizon}) must be longer than the refresh window of {} \
                     ({start}, at least two of its buckets)",
                    agg.dataset, agg.name
                )));
            }
        }
    }
    Ok(())
}

async fn select(
    conn: &mut AsyncPgConnection,
    sql: &str,
    binds: &[&str],
) -> diesel::QueryResult<()> {
    let mut q = diesel::sql_query(sql).into_boxed();
    for b in binds {
        q = q.bind::<Text, _>(b.to_string());
    }
    q.execute(conn).await.map(drop)
}

/// How far the store's clock may be from the server's for retention to run as server jobs.
pub(crate) const CLOCK_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Replaces the refresh, compression and retention jobs with `policies`. Retention jobs are
/// installed only when `retention_jobs`: a job measures age by the server's clock, so a
/// store on another clock (a backtest, a replay, a test's fixed clock) must not let the
/// server drop rows that are inside the window by the store's own "now"; its retention then
/// runs only through `apply_retention`, by the store's clock.
///
/// Jobs already as `policies` asks are left alone: the scheduler starts a job as soon as
/// it is added, so re-creating unchanged jobs on every `maintain` started ten refresh jobs
/// beside the maintenance's own refresh (native 2.28.3, a year of ten symbols: one window
/// of `ohlcv_5m` waited 33 s of a 59 s refresh on them).
pub(crate) async fn apply(
    conn: &mut AsyncPgConnection,
    policies: &Policies,
    retention_jobs: bool,
) -> Result<()> {
    check(policies)?;
    if installed(conn).await? == wanted(policies, retention_jobs) {
        return Ok(());
    }
    let policies = *policies;
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        for dataset in Dataset::ALL {
            let table = raw_table(dataset);
            select(conn, "SELECT remove_retention_policy($1::text::regclass, if_exists => true)", &[table]).await?;
            if let Some(h) = policies.retention.horizon(dataset).filter(|_| retention_jobs) {
                select(
                    conn,
                    "SELECT add_retention_policy($1::text::regclass, drop_after => $2::interval)",
                    &[table, &pg_interval(h)],
                )
                .await?;
            }
            select(conn, "SELECT remove_compression_policy($1::text::regclass, if_exists => true)", &[table]).await?;
            if let Some(after) = policies.compression.after(dataset) {
                select(
                    conn,
                    "SELECT add_compression_policy($1::text::regclass, compress_after => $2::interval)",
                    &[table, &pg_interval(after)],
                )
                .await?;
            }
        }
        for agg in &AGGREGATES {
            // Aggregates keep the horizon of the rows they summarise, so that no answer
            // depends on whether it was routed to an aggregate or to the raw rows. Their
            // chunks are wider than the raw ones (see `Timescale::migrate`): their retention
            // job drops the whole chunks past the horizon, and the trim job below deletes
            // the rest of what the raw job dropped.
            select(conn, "SELECT remove_retention_policy($1::text::regclass, if_exists => true)", &[agg.name]).await?;
            if let Some(h) = policies.retention.horizon(agg.dataset).filter(|_| retention_jobs) {
                select(
                    conn,
                    "SELECT add_retention_policy($1::text::regclass, drop_after => $2::interval)",
                    &[agg.name, &pg_interval(h)],
                )
                .await?;
            }
            select(
                conn,
                "SELECT remove_continuous_aggregate_policy($1::text::regclass, if_exists => true)",
                &[agg.name],
            )
            .await?;
            select(
                conn,
                "SELECT add_continuous_aggregate_policy($1::text::regclass, \
                 start_offset => $2::interval, end_offset => $3::interval, \
                 schedule_interval => $4::interval)",
                &[
                    agg.name,
                    &pg_interval(refresh_start(agg, &policies)),
                    &pg_interval(policies.refresh.end_offset),
                    &pg_interval(policies.refresh.schedule),
                ],
            )
            .await?;
        }
        select(conn, REMOVE_TRIM_JOBS, &[]).await?;
        for dataset in Dataset::ALL {
            let aggregates: Vec<&str> = AGGREGATES
                .iter()
                .filter(|a| a.dataset == dataset)
                .map(|a| a.name)
                .collect();
            let horizon = policies.retention.horizon(dataset).filter(|_| retention_jobs);
            if let (Some(h), false) = (horizon, aggregates.is_empty()) {
                let aggregates = format!("{{{}}}", aggregates.join(","));
                select(conn, ADD_TRIM_JOB, &[raw_table(dataset), &aggregates, &pg_interval(h)]).await?;
            }
        }
        Ok(())
    })
    .await
    .map_err(database_error)
}

/// One job as the comparison of [`apply`] sees it: procedure, relation (the raw table, or
/// the aggregate's view), its main setting in seconds (`drop_after`, `compress_after` or
/// `start_offset`), `end_offset` in seconds, and the schedule in seconds where `apply` sets
/// it (refresh policies; the others keep TimescaleDB's default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct JobShape {
    #[diesel(sql_type = Text)]
    proc_name: String,
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    setting: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    end_offset: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    schedule: Option<i64>,
}

fn shape(proc_name: &str, relation: &str, setting: TimeDelta) -> JobShape {
    JobShape {
        proc_name: proc_name.to_owned(),
        relation: relation.to_owned(),
        setting: Some(setting.num_seconds()),
        end_offset: None,
        schedule: None,
    }
}

/// The jobs [`apply`] installs for `policies`, sorted.
fn wanted(policies: &Policies, retention_jobs: bool) -> Vec<JobShape> {
    let mut jobs = Vec::new();
    for dataset in Dataset::ALL {
        let table = raw_table(dataset);
        let horizon = policies
            .retention
            .horizon(dataset)
            .filter(|_| retention_jobs);
        if let Some(h) = horizon {
            jobs.push(shape("policy_retention", table, h));
            if AGGREGATES.iter().any(|a| a.dataset == dataset) {
                jobs.push(shape("marketseries_trim_aggregates_job", table, h));
            }
        }
        if let Some(after) = policies.compression.after(dataset) {
            jobs.push(shape("policy_compression", table, after));
        }
    }
    for agg in &AGGREGATES {
        if let Some(h) = policies
            .retention
            .horizon(agg.dataset)
            .filter(|_| retention_jobs)
        {
            jobs.push(shape("policy_retention", agg.name, h));
        }
        jobs.push(JobShape {
            end_offset: Some(policies.refresh.end_offset.num_seconds()),
            schedule: Some(policies.refresh.schedule.num_seconds()),
            ..shape(
                "policy_refresh_continuous_aggregate",
                agg.name,
                refresh_start(agg, policies),
            )
        });
    }
    jobs.sort();
    jobs
}

/// This schema's jobs of the kinds [`apply`] installs, sorted, in the shape of [`wanted`].
async fn installed(conn: &mut AsyncPgConnection) -> Result<Vec<JobShape>> {
    let mut jobs: Vec<JobShape> = diesel::sql_query(
        "SELECT j.proc_name::text, \
                coalesce(ca.view_name, j.hypertable_name, j.config->>'raw_table')::text \
                  AS relation, \
                extract(epoch FROM coalesce(j.config->>'drop_after', \
                  j.config->>'compress_after', j.config->>'start_offset')::interval)::bigint \
                  AS setting, \
                extract(epoch FROM (j.config->>'end_offset')::interval)::bigint AS end_offset, \
                CASE WHEN j.proc_name = 'policy_refresh_continuous_aggregate' \
                     THEN extract(epoch FROM j.schedule_interval)::bigint END AS schedule \
         FROM timescaledb_information.jobs j \
         LEFT JOIN timescaledb_information.continuous_aggregates ca \
           ON ca.materialization_hypertable_schema = j.hypertable_schema \
          AND ca.materialization_hypertable_name = j.hypertable_name \
         WHERE j.job_id >= 1000 \
           AND (j.hypertable_schema = current_schema() OR j.proc_schema = current_schema()) \
           AND j.proc_name IN ('policy_retention', 'policy_compression', \
                               'policy_refresh_continuous_aggregate', \
                               'marketseries_trim_aggregates_job')",
    )
    .load(conn)
    .await
    .map_err(database_error)?;
    jobs.sort();
    Ok(jobs)
}

/// Removes this schema's trim jobs (`marketseries_trim_aggregates_job`, migration
/// `00000000000013_aggregate_chunks_trimmed`).
const REMOVE_TRIM_JOBS: &str = "SELECT delete_job(job_id) FROM timescaledb_information.jobs \
     WHERE proc_schema = current_schema() AND proc_name = 'marketseries_trim_aggregates_job'";

/// Adds the job that deletes the aggregate rows (`$2`, a text array of view names) older
/// than the oldest chunk of the raw table `$1` left by its retention job (`drop_after` `$3`),
/// on that job's schedule.
const ADD_TRIM_JOB: &str = "SELECT add_job( \
     format('%I.marketseries_trim_aggregates_job', current_schema())::regproc, \
     (SELECT j.schedule_interval FROM timescaledb_information.jobs j \
       WHERE j.proc_name = 'policy_retention' AND j.hypertable_schema = current_schema() \
         AND j.hypertable_name = $1::text), \
     config => jsonb_build_object('schema', current_schema()::text, 'raw_table', $1::text, \
                                  'aggregates', to_jsonb($2::text[]), \
                                  'drop_after', $3::text))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_aggregates_get_a_two_day_window_and_retention_is_checked_against_it() {
        let mut p = Policies::default();
        p.refresh.start_offset = TimeDelta::hours(6);
        p.refresh.end_offset = TimeDelta::minutes(1);
        let daily = AGGREGATES.iter().find(|a| a.name == "ohlcv_1d").unwrap();
        let five = AGGREGATES.iter().find(|a| a.name == "ohlcv_5m").unwrap();
        assert_eq!(
            refresh_start(daily, &p),
            TimeDelta::days(2) + TimeDelta::minutes(1)
        );
        assert_eq!(refresh_start(five, &p), TimeDelta::hours(6));
        assert!(check(&p).is_ok());
        p.retention.flow = Some(TimeDelta::days(2));
        assert!(matches!(check(&p), Err(Error::Config(_))));
    }
}
