//! Embedded diesel migrations, run through the async connection.

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use marketseries_core::{Error, Result};

/// The plain-PostgreSQL schema (`migrations/postgres`).
pub(crate) const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Applies the pending `migrations` on a dedicated connection to `config`'s server; returns
/// the versions applied. Backend crates pass their own embedded migrations.
///
/// # Errors
/// [`Error::Connection`] when the server cannot be reached; [`Error::Database`] naming the
/// migration that failed.
pub async fn run_migrations(
    config: &crate::PgConfig,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>> {
    run(&config.url, migrations).await
}

pub(crate) async fn run(url: &str, migrations: EmbeddedMigrations) -> Result<Vec<String>> {
    let conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| Error::Connection(e.to_string()))?;
    let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
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
