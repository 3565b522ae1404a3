//! The one way this crate's tests open a store: a fresh database on the launcher's
//! TimescaleDB server (native when installed, else the embedded one, as
//! `MARKETSERIES_TIMESCALEDB` chooses; or `TIMESCALEDB_URL`), migrated. Fails, never skips,
//! without a server.

// Shared by several test binaries, each a crate of its own with no public API.
#![allow(unreachable_pub)]

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, Error, Result, TimeSeriesStore};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_testkit::StoreFactory;
use marketseries_timescale::{PgConfig, TimescaleStore};

/// A migrated store on a fresh database. A pool of one: the embedded server serves one
/// client at a time.
pub async fn connect(clock: Arc<dyn Clock>) -> Result<TimescaleStore> {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .map_err(|e| Error::Connection(format!("test database: {e}")))?;
    let mut config = PgConfig::new(db.url());
    config.pool_size = 1;
    let store = TimescaleStore::connect_with_clock(config, clock).await?;
    store.migrate().await?;
    Ok(store)
}

/// [`connect`], panicking on failure (for test bodies).
#[allow(dead_code)] // Not every test binary uses both.
pub async fn store(clock: Arc<dyn Clock>) -> TimescaleStore {
    connect(clock).await.expect("test store")
}

/// The conformance suite's factory.
#[allow(dead_code)]
pub struct Timescale;

#[async_trait]
impl StoreFactory for Timescale {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>> {
        Ok(Arc::new(connect(clock).await?))
    }
}
