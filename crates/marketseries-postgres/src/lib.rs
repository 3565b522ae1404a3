//! Plain PostgreSQL backend for marketseries: no extensions, PostgreSQL 14 or newer
//! (`date_bin`).
//!
//! Raw data lives in range-partitioned tables (`candles`, `sentiment`, `flows`) whose
//! partitions the library creates before rows arrive and retention drops whole. Batches are
//! atomic: candle batches of 1,000 rows or more that only append are one binary `COPY`
//! (see the `copy` module), every other batch one
//! `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE` statement. OHLCV rollups (5m,
//! 15m, 1h, 4h, 1d) are refreshed from the spans each write records, by
//! [`TimeSeriesStore::refresh`](marketseries_core::TimeSeriesStore::refresh) or the
//! background refresher that `apply_policies` starts; readers see them through real-time
//! views that aggregate pending spans from raw rows (see the `rollup` module), so routed
//! reads are exact whether or not a refresh has run. A store opens up to twice
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

mod batch;
mod bucket_rollup;
mod cached;
mod config;
mod copy;
mod error;
mod flavor;
mod flow;
mod migrate;
mod partitioned;
mod partitions;
mod pool;
mod price;
mod price_points;
mod refresher;
mod rollup;
mod sentiment;
mod series;
pub mod statements;
mod store;

pub use batch::count;
pub use config::PgConfig;
pub use error::db as database_error;
pub use flavor::{raw_table, Batch, Flavor};
pub use partitioned::{whole_days, Partitioned, PgStore, WritePaths, PARTITIONS_AHEAD};
pub use pool::SESSION_SETUP;
pub use store::SqlStore;
