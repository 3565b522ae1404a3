//! The flavor-neutral store every PostgreSQL-family backend of marketseries runs on.
//!
//! [`SqlStore<F>`](SqlStore) implements every store trait of `marketseries-core` once, over
//! the relations [`schema`] names: connection config ([`PgConfig`]) and pool (diesel-async
//! and bb8, UTC sessions with a statement timeout), error mapping onto
//! [`marketseries_core::Error`], batch validation and last-wins deduplication, the write
//! path (one atomic `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE` per batch, or
//! a binary `COPY` append through [`SqlStore::append_candles`]), and the read statements
//! ([`statements`]). A backend supplies a [`Flavor`]: how it is set up for a server, the
//! read statements that differ, work before and inside a write's transaction, and the
//! maintenance entry points (schema, policies, refresh, retention, stats).
//!
//! This crate's public API is the contract for writing a flavor, nothing more; users pick a
//! backend crate (`marketseries-postgres`, `marketseries-timescale`) or the `marketseries`
//! facade. Both backends run on PostgreSQL 14 or newer (`date_bin`).
//!
//! A flavor in outline (a real one creates its schema in `migrate`):
//!
//! ```no_run
//! use async_trait::async_trait;
//! use chrono::{DateTime, Utc};
//! use diesel_async::AsyncPgConnection;
//! use marketseries_core::{
//!     Capabilities, Dataset, JobStats, Policies, RefreshObserver, Result, RetentionReport,
//!     TimeRange,
//! };
//! use marketseries_sql::{Flavor, FlavorStats, PgConfig, SqlStore};
//!
//! struct Minimal;
//!
//! #[async_trait]
//! impl Flavor for Minimal {
//!     async fn setup(_: &PgConfig) -> Result<Self> { Ok(Minimal) }
//!     fn capabilities(&self, _: &PgConfig) -> Capabilities { Capabilities::raw_only("minimal") }
//!     async fn migrate(&self, _: &SqlStore<Self>) -> Result<()> { Ok(()) }
//!     async fn apply_policies(&self, _: &SqlStore<Self>, _: &mut AsyncPgConnection, _: &Policies) -> Result<()> {
//!         Ok(())
//!     }
//!     async fn drop_boundary(&self, _: &SqlStore<Self>, _: &mut AsyncPgConnection, _: Dataset, _: DateTime<Utc>)
//!         -> Result<Option<DateTime<Utc>>> { Ok(None) }
//!     async fn jobs(&self, _: &SqlStore<Self>) -> Result<Vec<JobStats>> { Ok(vec![]) }
//!     async fn refresh(&self, _: &SqlStore<Self>, _: &[Dataset], _: Option<TimeRange>, _: &RefreshObserver<'_>)
//!         -> Result<()> { Ok(()) }
//!     async fn apply_retention(&self, _: &SqlStore<Self>) -> Result<RetentionReport> { Ok(RetentionReport::default()) }
//!     async fn stats(&self, _: &SqlStore<Self>) -> Result<FlavorStats> {
//!         Ok(FlavorStats::default())
//!     }
//! }
//!
//! # async fn demo() -> Result<()> {
//! let store = SqlStore::<Minimal>::connect(PgConfig::new("postgres://u@127.0.0.1/db")).await?;
//! # Ok(()) }
//! ```

mod batch;
mod cached;
mod client;
mod config;
mod copy;
mod error;
mod flavor;
mod flow;
mod indicator;
mod migrate;
mod policy;
mod pool;
mod pool_status;
mod price;
mod price_points;
mod retry;
mod roles;
mod scan;
pub mod schema;
mod sentiment;
mod series;
pub mod statements;
mod store;
pub mod tls;
mod write;

pub use batch::count;
pub use client::{commit, pg_error, ClientManager, ClientPool, PooledClient};
pub use config::{whole_days, PgConfig};
pub use copy::MIN_COPY_ROWS;
pub use error::db as database_error;
pub use flavor::{Batch, Flavor, FlavorStats};
pub use pool::{DieselManager, PgConnection, PgPool, PooledPg, SESSION_SETUP};
pub use pool_status::{PoolGauge, PoolStatus};
pub use retry::RetryPolicy;
pub use roles::Roles;
pub use store::SqlStore;
