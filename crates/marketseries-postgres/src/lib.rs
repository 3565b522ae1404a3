//! Plain PostgreSQL backend for marketseries: no extensions, PostgreSQL 14 or newer
//! (`date_bin`). A [`Flavor`](marketseries_sql::Flavor) of the shared
//! [`SqlStore`](marketseries_sql::SqlStore) of `marketseries-sql`.
//!
//! Raw data lives in range-partitioned tables (`candles`, `sentiment`, `flows`) whose
//! partitions the library creates before rows arrive and retention drops whole. Batches are
//! atomic: candle batches of 1,000 rows or more that only append are one binary `COPY`,
//! every other batch one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`
//! statement. OHLCV rollups (5m, 15m, 1h, 4h, 1d) are refreshed from the spans each write
//! records, by [`TimeSeriesStore::refresh`](marketseries_core::TimeSeriesStore::refresh) or
//! the background refresher that `apply_policies` starts; readers see them through
//! real-time views that aggregate pending spans from raw rows (see the `rollup` module), so
//! routed reads are exact whether or not a refresh has run. A store opens up to twice
//! `pool_size` connections: the pool, and the clients that issue `COPY`.
//!
//! ```no_run
//! # async fn demo() -> marketseries_core::Result<()> {
//! use marketseries_core::TimeSeriesStore;
//! use marketseries_postgres::{PgConfig, PgStore};
//! let store = PgStore::connect(PgConfig::new("postgres://postgres@127.0.0.1/market")).await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```

mod analyze;
mod bucket_rollup;
mod partitioned;
mod partitions;
mod refresher;
mod rollup;
pub mod statements;

use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub use marketseries_sql::PgConfig;
pub use partitioned::{Partitioned, PgStore, WritePaths, PARTITIONS_AHEAD};

/// The plain-PostgreSQL schema (`migrations/postgres`).
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
