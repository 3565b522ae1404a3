//! marketseries: crypto market time series (OHLCV candles, sentiment, on-chain and exchange
//! flows) in PostgreSQL, with one front door to its backends.
//!
//! This crate re-exports the core API (`marketseries-core`: records, intervals, the store
//! traits, the query router, the in-memory reference store) and the backends behind cargo
//! features, both on by default: `postgres` (plain PostgreSQL: partitioned tables and
//! rollups, no extensions) and `timescaledb` (hypertables, continuous aggregates,
//! compression). [`open`] picks the backend from a [`Config`]:
//!
//! | URL | backend |
//! | --- | --- |
//! | `timescaledb://…` (or `timescale://`) | TimescaleDB |
//! | `postgres://…` (or `postgresql://`) | the server decides: TimescaleDB when the database has or can create the extension and holds no plain-PostgreSQL schema, else plain PostgreSQL |
//! | either, with [`Config::with_backend`] / `MARKETSERIES_BACKEND` | the backend named |
//!
//! [`Config::from_env`] reads `MARKETSERIES_URL` (and `MARKETSERIES_BACKEND`), or the seed's
//! `TIMESCALEDB_HOST`, `_PORT`, `_NAME`, `_USER`, `_PASSWORD`, `_POOL_MIN`, `_POOL_MAX`.
//!
//! ```no_run
//! # async fn demo() -> marketseries::Result<()> {
//! use marketseries::{Config, PriceStore, TimeSeriesStore};
//! let store = marketseries::open(&Config::from_env()?).await?;
//! store.migrate().await?;
//! println!("{:?}", store.latest_price("BTCUSDT").await?);
//! # Ok(()) }
//! ```

#[cfg(not(any(feature = "postgres", feature = "timescaledb")))]
compile_error!(
    "the `marketseries` crate needs a backend: enable the `postgres` or `timescaledb` feature"
);

mod config;
mod open;
#[cfg(feature = "service")]
pub mod service;

pub use config::{
    read_password_file, url_passwords, Backend, BackendChoice, Config, EnvError, Resolved,
    BACKEND_VAR, PASSWORD_FILE_VAR, SEED_VARS, URL_VAR,
};
pub use marketseries_core::*;
#[cfg(feature = "postgres")]
pub use marketseries_postgres as postgres;
pub use marketseries_sql::tls::SslMode;
pub use marketseries_sql::{PgConfig, PoolGauge, PoolStatus, Roles};
#[cfg(feature = "timescaledb")]
pub use marketseries_timescale as timescale;
pub use open::{backend_of, open, open_backend, open_with_clock, Opened};

// Compile the README's example (which uses this crate) so it cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
