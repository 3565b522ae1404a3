//! Time partitions: created before rows arrive, dropped whole by retention.
//!
//! A partition is named `<table>_p<start as YYYYMMDDHHMMSS>_<width in seconds>` so its bounds
//! can be read back from the name alone. Creation takes a transaction-scoped advisory lock
//! on the name, so concurrent writers creating the same partition both succeed.

use std::collections::{BTreeSet, HashSet};

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use marketseries_core::{Error, Result};

use marketseries_sql::database_error as db;

/// Tables this backend partitions (every raw table). Identifiers are only ever these
/// constants.
pub(crate) fn tables() -> impl Iterator<Item = &'static str> {
    marketseries_sql::schema::raw_tables()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    relname: String,
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

/// Existing partitions of `table`, oldest first.
pub(crate) async fn list(conn: &mut AsyncPgConnection, table: &str) -> Result<Vec<Partition>> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT c.relname::text AS relname FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await
    .map_err(db)?;
    let mut parts: Vec<Partition> = names
        .iter()
        .filter_map(|n| Partition::parse(table, &n.relname))
        .collect();
    parts.sort_by_key(|p| p.start);
    Ok(parts)
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

/// Attempts of one DDL statement that keeps timing out on its lock.
const DDL_ATTEMPTS: u32 = 5;

/// Runs `ddl` (statements without `BEGIN`/`COMMIT`) in a transaction of its own with
/// `lock_timeout`, again after a jittered pause while it times out on its lock (55P03), at
/// most [`DDL_ATTEMPTS`] times: a lock queued behind a long read would otherwise make every
/// later read and write of the table wait behind it.
async fn run_ddl(conn: &mut AsyncPgConnection, ddl: &str, what: &str, settings: Ddl) -> Result<()> {
    let timeout_ms = settings.lock_timeout.as_millis().max(1);
    let sql = format!("BEGIN; SET LOCAL lock_timeout = '{timeout_ms}ms'; {ddl}; COMMIT;");
    let mut attempt = 1;
    loop {
        let Err(e) = conn.batch_execute(&sql).await else {
            return Ok(());
        };
        // Leave the pooled connection usable.
        let _ = conn.batch_execute("ROLLBACK").await;
        let err = db(e);
        let lock_timeout = matches!(&err, Error::Database { code: Some(c), .. } if c == "55P03");
        if !lock_timeout || attempt >= DDL_ATTEMPTS {
            return Err(match err {
                Error::Database { code, message } => Error::Database {
                    code,
                    message: format!("{what}: {message} (after {attempt} attempts)"),
                },
                other => other,
            });
        }
        // 50-150 ms, growing: readers that hold the lock finish, and two writers waiting
        // for the same lock do not retry in step.
        let jitter = u64::from(std::process::id() ^ attempt).wrapping_mul(2_654_435_761) % 100;
        tokio::time::sleep(Duration::from_millis((50 + jitter) * u64::from(attempt))).await;
        attempt += 1;
    }
}

/// Makes sure a partition of `table` exists for every time in `times`.
///
/// # Errors
/// [`Error::InvalidArgument`] (nothing created) when more than `settings.max_new`
/// partitions would be needed; database errors, a lock timeout after retries among them.
pub(crate) async fn ensure(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    settings: Ddl,
    times: impl Iterator<Item = DateTime<Utc>>,
) -> Result<usize> {
    let wanted: BTreeSet<DateTime<Utc>> = times.map(|t| floor(t, settings.width)).collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let existing: HashSet<String> = list(conn, table)
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
        let ddl = format!(
            "SELECT pg_advisory_xact_lock(hashtext('{name}')); \
             CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} \
             FOR VALUES FROM ('{from}') TO ('{to}')",
            name = p.name,
            from = p.start.to_rfc3339(),
            to = p.end().to_rfc3339(),
        );
        run_ddl(
            conn,
            &ddl,
            &format!("creating partition {}", p.name),
            settings,
        )
        .await?;
    }
    Ok(missing.len())
}

/// Drops every partition of `table` that ends at or before `cutoff`; returns how many.
pub(crate) async fn drop_before(
    conn: &mut AsyncPgConnection,
    table: &str,
    cutoff: DateTime<Utc>,
    settings: Ddl,
) -> Result<u64> {
    let mut dropped = 0;
    for p in list(conn, table).await? {
        if p.end() <= cutoff {
            let ddl = format!("DROP TABLE IF EXISTS {}", p.name);
            run_ddl(
                conn,
                &ddl,
                &format!("dropping partition {}", p.name),
                settings,
            )
            .await?;
            dropped += 1;
        }
    }
    Ok(dropped)
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
