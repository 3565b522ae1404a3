//! Time partitions: created before rows arrive, dropped whole by retention.
//!
//! Creation goes through `marketseries_create_partition` (migration 6), a `SECURITY
//! DEFINER` function owned by the role that ran the migration: partition DDL needs
//! ownership of the table, and the writer role of `migrate --roles` has none, yet its
//! batches (backfills included) create the partitions they need. Retention, which detaches
//! and drops, runs as the owner only.
//!
//! A partition is named `<table>_p<start as YYYYMMDDHHMMSS>_<width in seconds>` so its bounds
//! can be read back from the name alone. Creation takes a transaction-scoped advisory lock
//! on the name, so concurrent writers creating the same partition both succeed.
//!
//! Neither creation nor retention takes a lock that stops reads or writes of the table
//! (issue 12): `CREATE TABLE ... PARTITION OF` and `DROP TABLE` of a partition take an
//! `ACCESS EXCLUSIVE` lock on the parent, which queues behind any long read and makes
//! every later read and write queue behind it. Instead a partition is created as a
//! table of its own, with a `CHECK` of its bounds (so that attaching it scans nothing), and
//! attached (`ATTACH PARTITION`: `SHARE UPDATE EXCLUSIVE` on the parent, which conflicts
//! with neither reads nor writes); retention detaches it (`DETACH PARTITION ...
//! CONCURRENTLY`, the same lock, waiting for the transactions that may still see its rows)
//! and then drops the detached table, which no query of the parent reaches any more. Every
//! step runs with `lock_timeout`, and the caller repeats it on a lock timeout.

use std::collections::{BTreeSet, HashSet};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use marketseries_core::{Error, Result};
use marketseries_sql::pg_error;
use tokio_postgres::Client;

/// Tables this backend partitions (every raw table). Identifiers are only ever these
/// constants.
pub(crate) fn tables() -> impl Iterator<Item = &'static str> {
    marketseries_sql::schema::raw_tables()
}

/// A partition of `table` covering `[start, start + width)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub name: String,
    pub start: DateTime<Utc>,
    pub width: TimeDelta,
}

impl Partition {
    fn new(table: &str, start: DateTime<Utc>, width: TimeDelta) -> Self {
        Self {
            name: format!(
                "{table}_p{}_{}",
                start.format("%Y%m%d%H%M%S"),
                width.num_seconds()
            ),
            start,
            width,
        }
    }

    fn parse(table: &str, name: &str) -> Option<Self> {
        let rest = name.strip_prefix(table)?.strip_prefix("_p")?;
        let (start, width) = rest.split_once('_')?;
        let start = NaiveDateTime::parse_from_str(start, "%Y%m%d%H%M%S")
            .ok()?
            .and_utc();
        let width = TimeDelta::seconds(width.parse().ok()?);
        Some(Self {
            name: name.to_owned(),
            start,
            width,
        })
    }

    pub(crate) fn end(&self) -> DateTime<Utc> {
        self.start + self.width
    }
}

/// Start of the partition of `width` containing `t` (epoch-aligned).
fn floor(t: DateTime<Utc>, width: TimeDelta) -> DateTime<Utc> {
    let w = width.num_microseconds().unwrap_or(i64::MAX).max(1);
    let us = t.timestamp_micros().div_euclid(w) * w;
    DateTime::from_timestamp_micros(us).unwrap_or(t)
}

/// Existing partitions of `table`, oldest first (those whose detach is pending included).
pub(crate) async fn list(client: &Client, table: &str) -> Result<Vec<Partition>> {
    Ok(list_attached(client, table)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// [`list`], each with whether a `DETACH ... CONCURRENTLY` of it was interrupted.
async fn list_attached(client: &Client, table: &str) -> Result<Vec<(Partition, bool)>> {
    let rows = client
        .query(
            "SELECT c.relname::text, i.inhdetachpending FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::text::regclass",
            &[&table],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    let mut parts: Vec<(Partition, bool)> = rows
        .iter()
        .filter_map(|row| Some((Partition::parse(table, row.get(0))?, row.get(1))))
        .collect();
    parts.sort_by_key(|(p, _)| p.start);
    Ok(parts)
}

/// Tables named as partitions of `table` that are attached to nothing: detached by a
/// retention run that failed before dropping them.
async fn detached(client: &Client, table: &str) -> Result<Vec<Partition>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' \
             AND starts_with(c.relname::text, $1 || '_p') \
             AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            &[&table],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(rows
        .iter()
        .filter_map(|row| Partition::parse(table, row.get(0)))
        .collect())
}

/// How partition DDL behaves (from [`marketseries_sql::PgConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ddl {
    /// Width of each partition.
    pub width: TimeDelta,
    /// `lock_timeout` of each DDL transaction.
    pub lock_timeout: Duration,
    /// Most partitions one call may create.
    pub max_new: usize,
}

impl Ddl {
    pub(crate) fn of(config: &marketseries_sql::PgConfig) -> Self {
        Self {
            width: config.partition_width,
            lock_timeout: config.ddl_lock_timeout,
            max_new: config.max_new_partitions,
        }
    }
}

/// Runs `ddl` (statements without `BEGIN`/`COMMIT`) in a transaction of its own with
/// `lock_timeout`: a lock queued behind a long read would otherwise make every later read
/// and write of the table wait behind it. One attempt; callers run it under
/// [`marketseries_sql::SqlStore::retrying`], which repeats it, jittered, on a lock timeout
/// (55P03) or a deadlock.
async fn run_ddl(client: &Client, ddl: &str, what: &str, settings: Ddl) -> Result<()> {
    let timeout_ms = settings.lock_timeout.as_millis().max(1);
    let sql = format!("BEGIN; SET LOCAL lock_timeout = '{timeout_ms}ms'; {ddl}; COMMIT;");
    let Err(e) = client.batch_execute(&sql).await else {
        return Ok(());
    };
    // Leave the pooled connection usable.
    let _ = client.batch_execute("ROLLBACK").await;
    Err(match pg_error(&e) {
        Error::Database { code, message } => Error::Database {
            code,
            message: format!("{what}: {message}"),
        },
        other => other,
    })
}

/// Makes sure a partition of `table` exists for every time in `times`.
///
/// # Errors
/// [`Error::InvalidArgument`] (nothing created) when more than `settings.max_new`
/// partitions would be needed; database errors, a lock timeout after retries among them.
pub(crate) async fn ensure(
    client: &Client,
    table: &'static str,
    settings: Ddl,
    times: impl Iterator<Item = DateTime<Utc>>,
) -> Result<usize> {
    let wanted: BTreeSet<DateTime<Utc>> = times.map(|t| floor(t, settings.width)).collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let existing: HashSet<String> = list(client, table)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let missing: Vec<Partition> = wanted
        .into_iter()
        .map(|start| Partition::new(table, start, settings.width))
        .filter(|p| !existing.contains(&p.name))
        .collect();
    if missing.len() > settings.max_new {
        return Err(Error::invalid_argument(
            "max_new_partitions",
            format!(
                "the batch needs {} new partitions of {table} ({} to {}), more than the \
                 configured maximum of {} (PgConfig::max_new_partitions); nothing was stored",
                missing.len(),
                missing[0].start.to_rfc3339(),
                missing[missing.len() - 1].end().to_rfc3339(),
                settings.max_new
            ),
        ));
    }
    for p in &missing {
        // Names and bounds come from constants and timestamps only, never from input.
        // The function (migration 6) runs as its owner, so that a writer role without
        // ownership of the table creates the partitions its batches need.
        let ddl = format!(
            "SELECT marketseries_create_partition('{table}', '{name}', '{from}', '{to}')",
            name = p.name,
            from = p.start.to_rfc3339(),
            to = p.end().to_rfc3339(),
        );
        run_ddl(
            client,
            &ddl,
            &format!("creating partition {}", p.name),
            settings,
        )
        .await?;
    }
    Ok(missing.len())
}

/// Drops every partition of `table` that ends at or before `cutoff`, adding one to
/// `dropped` for each: detaches it concurrently (finishing a detach an earlier run left
/// pending), then drops the detached table; tables an earlier run detached but did not
/// drop are dropped too.
pub(crate) async fn drop_before(
    client: &Client,
    table: &str,
    cutoff: DateTime<Utc>,
    settings: Ddl,
    dropped: &AtomicU64,
) -> Result<()> {
    for (p, pending) in list_attached(client, table).await? {
        if p.end() <= cutoff {
            let how = if pending { "FINALIZE" } else { "CONCURRENTLY" };
            detach(client, table, &p, how, settings).await?;
            drop_detached(client, &p, settings).await?;
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    for p in detached(client, table).await? {
        if p.end() <= cutoff {
            drop_detached(client, &p, settings).await?;
        }
    }
    Ok(())
}

/// `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY` (or `FINALIZE`), which cannot run in
/// a transaction block: `lock_timeout` is set for the session around it.
async fn detach(
    client: &Client,
    table: &str,
    p: &Partition,
    how: &str,
    settings: Ddl,
) -> Result<()> {
    let timeout_ms = settings.lock_timeout.as_millis().max(1);
    client
        .batch_execute(&format!("SET lock_timeout = '{timeout_ms}ms'"))
        .await
        .map_err(|e| pg_error(&e))?;
    let detached = client
        .batch_execute(&format!(
            "ALTER TABLE {table} DETACH PARTITION {} {how}",
            p.name
        ))
        .await;
    // Leave the pooled client as it was, whatever happened.
    let _ = client.batch_execute("RESET lock_timeout").await;
    detached.map_err(|e| match pg_error(&e) {
        Error::Database { code, message } => Error::Database {
            code,
            message: format!("detaching partition {}: {message}", p.name),
        },
        other => other,
    })
}

/// Drops a partition's table once it is detached (nothing reads it through the parent).
async fn drop_detached(client: &Client, p: &Partition, settings: Ddl) -> Result<()> {
    run_ddl(
        client,
        &format!("DROP TABLE IF EXISTS {}", p.name),
        &format!("dropping partition {}", p.name),
        settings,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let start: DateTime<Utc> = "2024-03-01T06:00:00Z".parse().unwrap();
        let p = Partition::new("candles", start, TimeDelta::hours(6));
        assert_eq!(p.name, "candles_p20240301060000_21600");
        assert_eq!(Partition::parse("candles", &p.name), Some(p.clone()));
        assert_eq!(p.end().to_rfc3339(), "2024-03-01T12:00:00+00:00");
        assert_eq!(Partition::parse("flows", &p.name), None);
        assert_eq!(
            floor("2024-03-01T13:14:15Z".parse().unwrap(), TimeDelta::days(1)).to_rfc3339(),
            "2024-03-01T00:00:00+00:00"
        );
    }
}
