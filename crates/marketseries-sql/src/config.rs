//! Connection and storage settings.

use std::fmt;
use std::time::Duration;

use chrono::TimeDelta;
use marketseries_core::validate::{DEFAULT_MAX_BATCH, DEFAULT_MAX_FUTURE_SKEW};
use marketseries_core::{Error, Result};

/// How to connect and how to lay out data. The URL never appears in `Debug` output.
#[derive(Clone)]
pub struct PgConfig {
    pub(crate) url: String,
    /// Maximum pooled connections for reads and maintenance (default 8); the write path
    /// opens up to as many again, on demand, as `tokio-postgres` clients.
    pub pool_size: u32,
    /// Idle connections the pool keeps open (default 1; at most `pool_size`).
    pub pool_min_idle: u32,
    /// How long to wait for a pooled connection (default 10 s).
    pub connect_timeout: Duration,
    /// Server-side statement timeout set on every connection (default 60 s).
    pub statement_timeout: Duration,
    /// Check a pooled read connection with a round trip before handing it out when it has
    /// been idle in the pool for a second or more (default `true`); one back from a call
    /// that ended less than a second ago is handed out unchecked (one whose socket closed
    /// during that call was dropped when it came back). `false` only checks the connection's
    /// local state: a connection the server dropped while idle then surfaces as a failed
    /// query. (The write path's clients are checked on every checkout.)
    pub verify_on_checkout: bool,
    /// How many pooled connections a refresh works on at once (default 2; at most
    /// `pool_size`, and 0 counts as 1): plain PostgreSQL rebuilds the rollups of different
    /// series on different connections, TimescaleDB refreshes disjoint windows of one
    /// aggregate, and the aggregates of different datasets, at once. Each connection is one
    /// server process busy for the refresh's length: more than the server's cores gains
    /// nothing.
    pub refresh_workers: u32,
    /// `work_mem` in MiB for the session of each TimescaleDB refresh call (default 64; 0
    /// keeps the server's setting), reset after the call. The refresh's grouping is planned
    /// on TimescaleDB's estimate of a few dozen rows per chunk, so at the server default of
    /// 4 MB its hash aggregates spill to disk: on a native 2.28.3 server a 90-day
    /// `ohlcv_5m` refresh took 7.7 s at 4 MB and 5.4-5.9 s at 64 MB (`docs/benchmarks.md`).
    /// Each refresh connection may use a few times this much (PostgreSQL grants it per
    /// hash or sort node, times `hash_mem_multiplier`), on up to
    /// [`PgConfig::refresh_connections`] connections at once.
    pub refresh_work_mem_mb: u32,
    /// Largest batch accepted by the `store_*` methods (default 100,000).
    pub max_batch_size: usize,
    /// Width of each time partition (default 1 day). Fixed for the life of a database:
    /// partitions of another width would overlap the existing ones.
    pub partition_width: TimeDelta,
    /// How far ahead of the store's clock a record's time may be (default 1 day): a batch
    /// with a later record is rejected, naming it, so that no mistyped date becomes the
    /// latest price for good.
    pub max_future_skew: TimeDelta,
    /// How long each step of partition DDL (plain PostgreSQL's `ATTACH PARTITION` of a new
    /// partition, retention's `DETACH PARTITION ... CONCURRENTLY` and `DROP TABLE` of the
    /// detached one) waits for its lock before giving up; the write retry
    /// ([`PgConfig::write_retry`]) repeats it (default 2 s). A lock queued for long behind
    /// another session would keep the write or the retention run waiting.
    pub ddl_lock_timeout: Duration,
    /// How many new partitions one batch may create (default 1,000, nearly three years of
    /// daily partitions): a file of scattered timestamps is refused, naming this setting,
    /// instead of creating tens of thousands of partitions.
    pub max_new_partitions: usize,
    /// How a write (a batch's upsert or `COPY`, with its partition DDL) is repeated after a
    /// retryable failure: deadlock, serialization failure, lock timeout, server shutting
    /// down or refusing connections, no free connection, a connection lost before or
    /// during `COMMIT` (default: 5 attempts, pauses from 50 ms doubling to 2 s, jittered).
    pub write_retry: crate::RetryPolicy,
}

impl PgConfig {
    /// Defaults for `url` (a `postgres://` URL or a key/value connection string). TLS
    /// follows the URL's `sslmode` and `sslrootcert` with libpq's meanings (default
    /// `prefer`; see [`crate::tls`]).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            pool_min_idle: 1,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(60),
            verify_on_checkout: true,
            refresh_workers: 2,
            refresh_work_mem_mb: 64,
            max_batch_size: DEFAULT_MAX_BATCH,
            partition_width: TimeDelta::days(1),
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
            ddl_lock_timeout: Duration::from_secs(2),
            max_new_partitions: 1_000,
            write_retry: crate::RetryPolicy::default(),
        }
    }

    /// The connection URL, for handing to a driver. Never print or log it: URLs carry
    /// passwords.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many connections a refresh uses: [`PgConfig::refresh_workers`] within
    /// `1..=pool_size`.
    pub fn refresh_connections(&self) -> usize {
        let n = self.refresh_workers.clamp(1, self.pool_size.max(1));
        usize::try_from(n).unwrap_or(1)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("pool_min_idle", &self.pool_min_idle)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("verify_on_checkout", &self.verify_on_checkout)
            .field("refresh_workers", &self.refresh_workers)
            .field("refresh_work_mem_mb", &self.refresh_work_mem_mb)
            .field("max_batch_size", &self.max_batch_size)
            .field("partition_width", &self.partition_width)
            .field("max_future_skew", &self.max_future_skew)
            .field("ddl_lock_timeout", &self.ddl_lock_timeout)
            .field("max_new_partitions", &self.max_new_partitions)
            .field("write_retry", &self.write_retry)
            .finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_url() {
        let c = PgConfig::new("postgres://u:secret@host/db");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("host"),
            "{shown}"
        );
    }
}
