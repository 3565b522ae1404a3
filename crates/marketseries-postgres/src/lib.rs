//! Plain PostgreSQL backend for marketseries: no extensions, PostgreSQL 14 or newer
//! (`date_bin`).
//!
//! Raw data lives in range-partitioned tables (`candles`, `sentiment`, `flows`) whose
//! partitions the library creates before rows arrive and retention drops whole. Batches are
//! one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE` statement each, so they
//! are atomic. OHLCV rollups (5m, 15m, 1h, 4h, 1d) are maintained in the same transaction as
//! each candle batch (see the `rollup` module), so routed reads are exact and real-time.
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
mod error;
mod flavor;
mod flow;
mod migrate;
mod partitioned;
mod partitions;
mod pool;
mod price;
mod price_points;
mod rollup;
mod sentiment;
pub mod statements;
mod store;

pub use batch::count;
pub use config::PgConfig;
pub use error::db as database_error;
pub use flavor::{raw_table, Batch, Flavor};
pub use partitioned::{whole_days, Partitioned, PgStore, PARTITIONS_AHEAD};
pub use store::SqlStore;
