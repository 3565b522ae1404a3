//! Embedded diesel migrations, run through the async connection.

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use marketseries_core::{Error, Result};

use crate::flavor::Flavor;
use crate::store::SqlStore;

impl<F: Flavor> SqlStore<F> {
    /// Applies the pending `migrations` on one of the store's pooled connections; returns the
    /// versions applied. Backend crates pass their own embedded migrations.
    ///
    /// A pooled connection rather than a dedicated one, so that a server serving one client
    /// per database (the embedded TimescaleDB of the test rig) is not asked for a second.
    ///
    /// # Errors
    /// [`Error::Connection`]/[`Error::Timeout`] when no connection can be had;
    /// [`Error::Database`] naming the migration that failed.
    pub async fn run_migrations(&self, migrations: EmbeddedMigrations) -> Result<Vec<String>> {
        let conn = self.owned_conn().await?;
        let mut wrapper: AsyncConnectionWrapper<_> = AsyncConnectionWrapper::from(conn);
        // The wrapper is synchronous (it blocks on the async connection): keep it off the
        // runtime's worker threads.
        tokio::task::spawn_blocking(move || {
            wrapper
                .run_pending_migrations(migrations)
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(|e| Error::Database {
                    code: None,
                    message: format!("migration failed: {e}"),
                })
        })
        .await
        .map_err(|e| Error::Other(format!("migration task failed: {e}")))?
    }
}
