//! The one way this crate's tests open a store: a fresh database on the launcher's
//! PostgreSQL server (a throwaway native cluster, or `DATABASE_URL`), migrated. Fails,
//! never skips, without a server.

// Shared by several test binaries, each a crate of its own with no public API.
#![allow(unreachable_pub)]

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, Error, Result, TimeSeriesStore};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_testkit::StoreFactory;

/// A migrated store on a fresh database with `pool_size` connections.
pub async fn connect(clock: Arc<dyn Clock>, pool_size: u32) -> Result<PgStore> {
    let db = fresh_database(ServerKind::Postgres)
        .await
        .map_err(|e| Error::Connection(format!("test database: {e}")))?;
    let mut config = PgConfig::new(db.url());
    config.pool_size = pool_size;
    let store = PgStore::connect_with_clock(config, clock).await?;
    store.migrate().await?;
    Ok(store)
}

/// [`connect`] with the default pool, panicking on failure (for test bodies).
#[allow(dead_code)] // Not every test binary uses both.
pub async fn store(clock: Arc<dyn Clock>) -> PgStore {
    connect(clock, PgConfig::new("").pool_size)
        .await
        .expect("test store")
}

/// The conformance suite's factory: a pool of two, so that reads and refreshes share.
#[allow(dead_code)]
pub struct Postgres;

#[async_trait]
impl StoreFactory for Postgres {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>> {
        Ok(Arc::new(connect(clock, 2).await?))
    }
}

/// One count (`SELECT count(*) AS n ...`).
#[derive(diesel::QueryableByName)]
#[allow(dead_code)] // Not every test binary uses it.
pub struct Mismatches {
    /// The count.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// Asserts that every rollup relation `ohlcv_<w><suffix>` equals the flat aggregation of
/// the raw rows of the `natives` that divide `w`, and is not empty when some do.
#[allow(dead_code)] // Not every test binary uses it.
pub async fn assert_rollups_are_flat(
    conn: &mut diesel_async::AsyncPgConnection,
    natives: &[&str],
    suffix: &str,
    stage: &str,
) {
    use diesel_async::RunQueryDsl;

    for width in [
        marketseries_core::Interval::M5,
        marketseries_core::Interval::M15,
        marketseries_core::Interval::H1,
        marketseries_core::Interval::H4,
        marketseries_core::Interval::D1,
    ] {
        let held: Vec<String> = natives
            .iter()
            .filter(|n| {
                n.parse::<marketseries_core::Interval>()
                    .expect("interval")
                    .divides(width)
            })
            .map(|n| (*n).to_owned())
            .collect();
        let flat = format!(
            "SELECT symbol, interval, date_bin('{} seconds', time, 'epoch') AS time, \
                    (array_agg(open ORDER BY time))[1] AS open, max(high) AS high, \
                    min(low) AS low, (array_agg(close ORDER BY time DESC))[1] AS close, \
                    sum(volume) AS volume \
             FROM candles WHERE interval = ANY($1) GROUP BY 1, 2, 3",
            width.seconds()
        );
        let table = format!("ohlcv_{width}{suffix}");
        let diff: Mismatches = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM ((SELECT * FROM {table} EXCEPT {flat}) \
             UNION ALL ({flat} EXCEPT SELECT * FROM {table})) d"
        ))
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&held)
        .get_result(conn)
        .await
        .expect("compare");
        assert_eq!(
            diff.n, 0,
            "{stage}: {table} differs from raw rows of {held:?}"
        );
        let rows: Mismatches = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(conn)
            .await
            .expect("count");
        assert!(rows.n > 0 || held.is_empty(), "{stage}: {table} is empty");
    }
}
