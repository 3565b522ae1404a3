//! The store's `tokio-postgres` clients: the write path (upserts, binary `COPY`, the
//! flavors' work inside a write's transaction) and the maintenance statements that are
//! repeated on lock conflicts run on them, because `tokio-postgres` passes the server's
//! SQLSTATE through and diesel 2.3 / diesel-async 0.9 do not (diesel-async wraps the
//! `DbError` in a private type behind `DatabaseErrorInformation`, which has no code
//! accessor). Errors here are classified by SQLSTATE only, never by message text.

use std::fmt;

use marketseries_core::Error;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use crate::config::PgConfig;

/// Opens the clients of the pool, each session set up as the flavor's pooled diesel
/// sessions are (UTC, plan cache mode, statement timeout).
pub struct ClientManager {
    tls: crate::tls::TlsConnector,
    setup: String,
    close_after_use: bool,
}

impl fmt::Debug for ClientManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL carries the password.
        f.debug_struct("ClientManager").finish_non_exhaustive()
    }
}

impl bb8::ManageConnection for ClientManager {
    type Connection = Client;
    type Error = Error;

    async fn connect(&self) -> Result<Client, Error> {
        let (client, connection) = self.tls.connect().await?;
        // The connection task ends when the client is dropped.
        tokio::spawn(connection);
        client
            .batch_execute(&self.setup)
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(client)
    }

    async fn is_valid(&self, client: &mut Client) -> Result<(), Error> {
        client
            .simple_query("")
            .await
            .map(drop)
            .map_err(|e| pg_error(&e))
    }

    fn has_broken(&self, client: &mut Client) -> bool {
        self.close_after_use || client.is_closed()
    }
}

/// The client pool: up to `pool_size` clients, opened on first use.
pub type ClientPool = bb8::Pool<ClientManager>;

/// A client checked out of a store's [`ClientPool`].
pub type PooledClient<'a> = bb8::PooledConnection<'a, ClientManager>;

/// Builds the pool without connecting (a store that never writes never opens a client).
/// With `one_client`, every client is closed after use (see
/// [`Flavor::serves_one_client`](crate::Flavor::serves_one_client)).
pub(crate) fn pool(
    config: &PgConfig,
    tls: &crate::tls::TlsConnector,
    setup: &str,
    one_client: bool,
) -> ClientPool {
    let manager = ClientManager {
        tls: tls.clone(),
        setup: format!(
            "{setup}; SET statement_timeout = {}",
            config.statement_timeout.as_millis()
        ),
        close_after_use: one_client,
    };
    bb8::Pool::builder()
        .max_size(config.pool_size.max(1))
        .min_idle(None)
        .connection_timeout(config.connect_timeout)
        .test_on_check_out(config.verify_on_checkout && !one_client)
        .build_unchecked(manager)
}

/// Whether `e` means the connection is gone (closed, or its socket failed), rather than
/// that the server refused a statement.
fn is_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || std::error::Error::source(e)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
}

/// Converts a `tokio-postgres` error by its SQLSTATE: a cancelled statement (57014, the
/// statement timeout) is [`Error::Timeout`]; any other server error is
/// [`Error::Database`] with its code; a connection that closed or failed is
/// [`Error::ConnectionLost`] (use [`commit`] for the `COMMIT` itself).
pub fn pg_error(e: &tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::QUERY_CANCELED {
            return Error::Timeout(db.message().to_owned());
        }
        return Error::Database {
            code: Some(db.code().code().to_owned()),
            message: db.message().to_owned(),
        };
    }
    if is_lost(e) {
        return Error::ConnectionLost(e.to_string());
    }
    Error::Database {
        code: e.code().map(|c| c.code().to_owned()),
        message: e.to_string(),
    }
}

/// Commits `tx`. A connection lost while the `COMMIT` was on its way or its answer was is
/// [`Error::AmbiguousCommit`]: the server may have committed.
///
/// # Errors
/// [`Error::AmbiguousCommit`], or as [`pg_error`] when the server refused the commit.
pub async fn commit(tx: Transaction<'_>) -> marketseries_core::Result<()> {
    tx.commit().await.map_err(|e| {
        if e.as_db_error().is_none() && is_lost(&e) {
            Error::AmbiguousCommit(e.to_string())
        } else {
            pg_error(&e)
        }
    })
}

/// Converts a checkout error: no client within the connect timeout is
/// [`Error::CheckoutTimeout`]; a server that refused the session with a retryable
/// SQLSTATE (cannot connect now, too many connections) is [`Error::Database`] with it;
/// anything else that prevented connecting is [`Error::Connection`].
pub(crate) fn checkout_error(e: bb8::RunError<Error>) -> Error {
    match e {
        bb8::RunError::TimedOut => Error::CheckoutTimeout(
            "no database connection became available within the connect timeout \
             (is the server reachable?)"
                .to_owned(),
        ),
        bb8::RunError::User(e) => match e {
            Error::Tls { .. } | Error::Connection(_) => e,
            db @ Error::Database { .. } if db.is_retryable() => db,
            other => Error::Connection(other.to_string()),
        },
    }
}
