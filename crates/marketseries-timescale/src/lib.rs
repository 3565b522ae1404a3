//! TimescaleDB backend for marketseries (TimescaleDB 2.13 or newer).
//!
//! The tables, upserts and queries are those of `marketseries-sql` (this crate is a
//! [`Flavor`](marketseries_sql::Flavor) of its [`SqlStore`](marketseries_sql::SqlStore));
//! what differs lives here:
//!
//! - raw tables are **hypertables** with 1-day chunks (configurable through
//!   [`PgConfig::partition_width`]);
//! - OHLCV aggregates `ohlcv_5m` … `ohlcv_1d` are **hierarchical continuous aggregates**
//!   (each built from the next finer one), real-time (`materialized_only = false`), grouped
//!   by symbol and native interval; sentiment and flow aggregates likewise (hourly, daily,
//!   and hourly net flow);
//! - **compression** segmented by series and ordered by time descending, **retention** by
//!   dropping whole chunks (the aggregates' chunks, 30 raw partitions wide, then trimmed row
//!   by row to the raw rows left), and refresh/compression/retention **policies** as
//!   TimescaleDB jobs ([`TimeSeriesStore::apply_policies`](marketseries_core::TimeSeriesStore::apply_policies));
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
//! use marketseries_timescale::{PgConfig, TimescaleStore};
//! let store = TimescaleStore::connect(PgConfig::new(
//!     "postgres://postgres@127.0.0.1/market?sslmode=disable",
//! ))
//! .await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```

mod aggregates;
mod analyze;
mod edition;
mod ext;
mod flavor;
mod policies;
mod real_time;
pub mod statements;
mod stats;

pub use aggregates::{Aggregate, AGGREGATES};
pub use edition::{prefers_timescale, Edition};
pub use ext::{Policy, TimescaleExt};
pub use flavor::Timescale;
pub use marketseries_sql::PgConfig;

/// A store on TimescaleDB. Cheap to clone. Open it with
/// [`SqlStore::connect`](marketseries_sql::SqlStore::connect)
/// (`TimescaleStore::connect(config)`), which detects the server's TimescaleDB edition;
/// [`marketseries_core::Error::Config`] when TimescaleDB is not available on the server.
pub type TimescaleStore = marketseries_sql::SqlStore<Timescale>;
