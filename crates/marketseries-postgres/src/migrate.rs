//! Embedded diesel migrations (`migrations/postgres`), run through the async connection.

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use marketseries_core::{Error, Result};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Applies pending migrations on a dedicated connection; returns the versions applied.
pub(crate) async fn run(url: &str) -> Result<Vec<String>> {
    let conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| Error::Connection(e.to_string()))?;
    let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
    // The wrapper is synchronous (it blocks on the async connection): keep it off the
    // runtime's worker threads.
    tokio::task::spawn_blocking(move || {
        wrapper
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e| Error::Database {
                code: None,
                message: format!("migration failed: {e}"),
            })
    })
    .await
    .map_err(|e| Error::Other(format!("migration task failed: {e}")))?
}
