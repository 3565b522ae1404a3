//! Shared set-up for the criterion benchmarks in `benches/` (`ingest`, `query`).
//!
//! Every number comes from the throwaway **native** PostgreSQL server of
//! [`marketseries_testkit::launcher`] ([`ServerKind::Postgres`], or `DATABASE_URL` when
//! set), never from the embedded TimescaleDB, which is for functional tests only. That
//! server runs with `fsync=off`, `synchronous_commit=off` and `full_page_writes=off`:
//! absolute figures are optimistic, ratios between methods measured in the same run are
//! what the benchmarks are for. See `docs/benchmarks.md`.

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use marketseries_core::{Clock, SystemClock, TimeSeriesStore};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::launcher::{ensure_server, fresh_database, ServerKind, TestDatabase};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

/// Criterion defaults for database benchmarks: 10 samples, short warm-up and measurement,
/// so that the whole suite stays within a few minutes on a shared two-core machine.
/// Command-line options (`--sample-size`, `--measurement-time`, ...) still override these.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// The runtime every benchmark drives its futures on: single-threaded, so the client side
/// of each method under comparison runs under the same conditions.
///
/// # Panics
/// When the runtime cannot be built.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A fresh, migrated database on the native PostgreSQL server, with a [`PgStore`] and a
/// plain `tokio-postgres` client on it.
pub struct BenchDb {
    /// The database (unique per call).
    pub db: TestDatabase,
    /// The store under test (pool of 2).
    pub store: PgStore,
    /// A plain client on the same database for set-up, COPY and raw SQL.
    pub client: Client,
    /// Every table the migrations created (partitioned parents, rollups), for
    /// [`BenchDb::truncate_all`].
    tables: String,
}

impl BenchDb {
    /// Creates the database, connects, and runs the migrations.
    ///
    /// # Panics
    /// When no server can be started or reached, or the migrations fail: a benchmark
    /// without its database has nothing to measure.
    pub async fn create(clock: Option<Arc<dyn Clock>>) -> Self {
        let db = fresh_database(ServerKind::Postgres)
            .await
            .expect("a fresh database on the native PostgreSQL server");
        let mut config = PgConfig::new(db.url());
        config.pool_size = 2;
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = PgStore::connect_with_clock(config, clock)
            .await
            .expect("connect the store");
        store.migrate().await.expect("migrate");
        let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
            .await
            .expect("connect a plain client");
        tokio::spawn(connection);
        client
            // The store's session settings, so direct statements are planned as the store's.
            .batch_execute(marketseries_sql::SESSION_SETUP)
            .await
            .expect("set the time zone");
        let tables: String = client
            .query_one(
                "SELECT string_agg(format('%I', c.relname), ', ' ORDER BY c.relname) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                 AND NOT c.relispartition AND c.relname <> '__diesel_schema_migrations'",
                &[],
            )
            .await
            .expect("list the store's tables")
            .get(0);
        Self {
            db,
            store,
            client,
            tables,
        }
    }

    /// Empties every table of the store (raw tables with all their partitions, and every
    /// rollup table) while keeping the partitions themselves.
    ///
    /// # Panics
    /// When the statement fails.
    pub async fn truncate_all(&self) {
        self.client
            .batch_execute(&format!("TRUNCATE {}", self.tables))
            .await
            .expect("truncate the store's tables");
    }

    /// Number of rows in `candles`.
    ///
    /// # Panics
    /// When the query fails.
    pub async fn candle_count(&self) -> i64 {
        self.client
            .query_one("SELECT count(*) FROM candles", &[])
            .await
            .expect("count candles")
            .get(0)
    }

    /// Drops the database (closing the store's connections by force). Errors are
    /// reported, not fatal: the database disappears with the server anyway.
    pub async fn drop_database(self) {
        let Self {
            db, store, client, ..
        } = self;
        drop(client);
        drop(store);
        let result = async {
            let server = ensure_server(db.kind()).await.map_err(|e| e.to_string())?;
            let (admin, connection) = tokio_postgres::connect(server.url(), NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    db.name()
                ))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            eprintln!("note: could not drop benchmark database {}: {e}", db.name());
        }
    }
}
