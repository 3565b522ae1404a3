//! TimescaleDB backend for marketseries (TimescaleDB 2.13 or newer).
//!
//! The tables, upserts and queries are those of `marketseries-postgres` (this crate is a
//! [`Flavor`](marketseries_postgres::Flavor) of its [`SqlStore`]); what differs lives here:
//!
//! - raw tables are **hypertables** with 1-day chunks (configurable through
//!   [`PgConfig::partition_width`]);
//! - OHLCV aggregates `ohlcv_5m` … `ohlcv_1d` are **hierarchical continuous aggregates**
//!   (each built from the next finer one), real-time (`materialized_only = false`), grouped
//!   by symbol and native interval; sentiment and flow aggregates likewise (hourly, daily,
//!   and hourly net flow);
//! - **compression** segmented by series and ordered by time descending, **retention** by
//!   dropping whole chunks, and refresh/compression/retention **policies** as TimescaleDB
//!   jobs ([`TimeSeriesStore::apply_policies`](marketseries_core::TimeSeriesStore::apply_policies));
//! - the **edition** is detected (`timescaledb.license`): on an Apache-only server there are
//!   no continuous aggregates or compression, the aggregates are plain views, routing reads
//!   raw data, and [`Capabilities`](marketseries_core::Capabilities) say so.
//!
//! Real-time aggregates include rows newer than their watermark; a late correction below
//! the watermark shows after a refresh, which the store runs itself for
//! [`Freshness::Refreshed`](marketseries_core::Freshness::Refreshed) queries and
//! [`TimeSeriesStore::refresh`](marketseries_core::TimeSeriesStore::refresh).
//!
//! ```no_run
//! # async fn demo() -> marketseries_core::Result<()> {
//! use marketseries_core::TimeSeriesStore;
//! use marketseries_postgres::PgConfig;
//! let store = marketseries_timescale::connect(PgConfig::new(
//!     "postgres://postgres@127.0.0.1/market?sslmode=disable",
//! ))
//! .await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```

mod aggregates;
mod edition;
mod ext;
mod flavor;
mod policies;
mod stats;

use std::sync::Arc;

use marketseries_core::{Clock, Result, SystemClock};
use marketseries_postgres::{PgConfig, SqlStore};

pub use aggregates::{Aggregate, AGGREGATES};
pub use edition::{prefers_timescale, Edition};
pub use ext::{Policy, TimescaleExt};
pub use flavor::Timescale;

/// A store on TimescaleDB. Cheap to clone.
pub type TimescaleStore = SqlStore<Timescale>;

/// Connects with the system clock, detecting the server's TimescaleDB edition. Call
/// [`TimeSeriesStore::migrate`](marketseries_core::TimeSeriesStore::migrate) before first
/// use.
///
/// # Errors
/// [`marketseries_core::Error::Connection`] when the server cannot be reached;
/// [`marketseries_core::Error::Config`] when TimescaleDB is not available on it or the
/// configuration is unusable.
pub async fn connect(config: PgConfig) -> Result<TimescaleStore> {
    connect_with_clock(config, Arc::new(SystemClock)).await
}

/// Connects with an explicit clock (relative queries and retention use it).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with_clock(config: PgConfig, clock: Arc<dyn Clock>) -> Result<TimescaleStore> {
    let edition = edition::detect(&config).await?;
    SqlStore::connect_flavor(config, clock, Timescale::new(edition)).await
}
