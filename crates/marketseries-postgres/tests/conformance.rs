//! The conformance suite against plain PostgreSQL: a fresh database per test on the
//! throwaway native cluster (or `DATABASE_URL`). Fails, never skips, without a server.

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, Error, Result, TimeSeriesStore};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_testkit::StoreFactory;

struct Postgres;

#[async_trait]
impl StoreFactory for Postgres {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>> {
        let db = fresh_database(ServerKind::Postgres)
            .await
            .map_err(|e| Error::Connection(format!("test database: {e}")))?;
        let mut config = PgConfig::new(db.url());
        config.pool_size = 2;
        let store = PgStore::connect_with_clock(config, clock).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }
}

marketseries_testkit::conformance_tests!(Postgres);
