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
