//! The conformance suite against TimescaleDB: a fresh database per test on the launcher's
//! TimescaleDB server (native when installed, else the embedded one; or `TIMESCALEDB_URL`).
//! Fails, never skips, without a server.

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, Error, Result, TimeSeriesStore};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_testkit::StoreFactory;
use marketseries_timescale::PgConfig;

struct Timescale;

#[async_trait]
impl StoreFactory for Timescale {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>> {
        let db = fresh_database(ServerKind::Timescale)
            .await
            .map_err(|e| Error::Connection(format!("test database: {e}")))?;
        let mut config = PgConfig::new(db.url());
        // The embedded server serves one client at a time.
        config.pool_size = 1;
        let store =
            marketseries_timescale::TimescaleStore::connect_with_clock(config, clock).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }
}

marketseries_testkit::conformance_tests!(Timescale);
