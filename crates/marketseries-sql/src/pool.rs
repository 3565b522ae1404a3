//! The bb8 pool: UTC sessions with a statement timeout, verified recycling by default.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use bb8::ManageConnection;
use diesel::ConnectionError;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use marketseries_core::{Error, Result};

use crate::config::PgConfig;

/// Settings of every session the store opens. Reads are prepared statements kept per
/// connection (`cached.rs`) whose parameters include symbols and time windows; a generic
/// plan prunes partitions (and TimescaleDB chunks) on those parameters when the executor
/// starts, so it is as selective as a custom plan without re-planning on every call over
/// every partition, which PostgreSQL's default plan-cache heuristic would otherwise do here
/// (custom plans look cheaper to it because they are pruned at plan time).
///
/// JIT compilation is off: the planner does not cost partition pruning at run time, so the
/// estimated cost of a short range read grows with the number of partitions (chunks) it
/// might touch, and past `jit_above_cost` a millisecond read spent seconds compiling
/// thousands of functions (a 30-day 1h OHLCV read over a year of daily partitions: 73 s,
/// nearly all of it in JIT optimisation and emission).
pub const SESSION_SETUP: &str =
    "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan; SET jit = off";

/// The pool type every SQL store uses.
pub type PgPool = bb8::Pool<DieselManager>;

/// A connection checked out of a [`PgPool`].
pub type PgConnection<'a> = bb8::PooledConnection<'a, DieselManager>;

/// How long a connection may have been idle in the pool and still be handed out without the
/// verifying round trip of [`PgConfig::verify_on_checkout`]: it came back from a call that
/// ended this recently, so the server very likely still serves it, while a connection that
/// sat idle longer (where server restarts, idle timeouts and network cuts happen) is
/// checked. The round trip was the whole overhead of the store's sub-millisecond reads over
/// their statement (`latest_price` on TimescaleDB: 0.225 ms against 0.148 ms for the
/// statement alone, of which 0.058 ms the round trip; docs/benchmarks.md).
pub(crate) const VERIFY_AFTER_IDLE: Duration = Duration::from_millis(1_000);

/// A pooled diesel-async connection and when it last came back to the pool (it derefs to
/// the [`AsyncPgConnection`]).
pub struct PooledPg {
    conn: AsyncPgConnection,
    /// When the pool got it back from its last user; `None` while it never had one.
    returned: Option<Instant>,
}

impl Deref for PooledPg {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl DerefMut for PooledPg {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// diesel-async's connection manager, closing every connection after use on a server
/// that serves one client per database ([`Flavor::serves_one_client`](crate::Flavor)), and
/// verifying only connections idle for at least `VERIFY_AFTER_IDLE` (one second).
pub struct DieselManager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    close_after_use: bool,
    /// A connection already open and set up (the one the flavor was set up on), handed
    /// out by the first `connect` instead of opening a new one.
    seed: std::sync::Mutex<Option<AsyncPgConnection>>,
}

impl std::fmt::Debug for DieselManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The inner manager holds the URL, and with it the password.
        f.debug_struct("DieselManager")
            .field("close_after_use", &self.close_after_use)
            .finish_non_exhaustive()
    }
}

impl ManageConnection for DieselManager {
    type Connection = PooledPg;
    type Error = PoolError;

    async fn connect(&self) -> std::result::Result<PooledPg, PoolError> {
        let seed = self
            .seed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let conn = match seed {
            Some(conn) => conn,
            None => self.inner.connect().await?,
        };
        Ok(PooledPg {
            conn,
            returned: None,
        })
    }

    /// Called at checkout when verification is on: a connection back from a call within
    /// `VERIFY_AFTER_IDLE` (one second) is taken as it is (a broken one was already dropped
    /// at check-in, by [`DieselManager::has_broken`]); any other gets the round trip.
    async fn is_valid(&self, conn: &mut PooledPg) -> std::result::Result<(), PoolError> {
        if conn
            .returned
            .is_some_and(|at| at.elapsed() < VERIFY_AFTER_IDLE)
        {
            return Ok(());
        }
        self.inner.is_valid(&mut conn.conn).await
    }

    /// Called when a connection comes back to the pool (bb8's check-in, and `add` of an
    /// outside connection), so that is when its idle time starts.
    fn has_broken(&self, conn: &mut PooledPg) -> bool {
        conn.returned = Some(Instant::now());
        self.close_after_use || self.inner.has_broken(&mut conn.conn)
    }
}

/// Builds the pool, every session running `setup` (the flavor's
/// [`Flavor::session_setup`](crate::Flavor::session_setup)) and the statement timeout; the
/// first connection is opened eagerly so a bad URL fails here with the server's message
/// rather than as a later checkout timeout.
///
/// With `one_client` every connection is closed after use and none is kept idle (see
/// [`Flavor::serves_one_client`](crate::Flavor::serves_one_client)).
///
/// `seed`, an open connection to the same server, is set up like every session and becomes
/// the pool's first connection (when the pool keeps none idle, its first checkout's), so
/// that opening the store costs one server connection, not two.
pub(crate) async fn build(
    config: &PgConfig,
    tls: &crate::tls::TlsConnector,
    setup: &'static str,
    one_client: bool,
    seed: Option<AsyncPgConnection>,
) -> Result<PgPool> {
    let timeout_ms = config.statement_timeout.as_millis();
    let session = format!("{setup}; SET statement_timeout = {timeout_ms}");
    let tls = tls.clone();
    // Opened here rather than by the pool, so that a refused connection (TLS above all)
    // reaches the caller as its typed error, not as the pool's text. Not on a server that
    // serves one client at a time: an open connection waiting for the pool's first checkout
    // would block the write path's client meanwhile.
    let seed = match seed {
        Some(conn) => Some(conn),
        None if one_client => None,
        None => Some(tls.establish().await?),
    };
    let seed = match seed {
        Some(mut conn) => {
            conn.batch_execute(&session)
                .await
                .map_err(crate::error::db)?;
            Some(conn)
        }
        None => None,
    };
    let mut manager = ManagerConfig::<AsyncPgConnection>::default();
    manager.recycling_method = if config.verify_on_checkout {
        RecyclingMethod::Verified
    } else {
        RecyclingMethod::Fast
    };
    manager.custom_setup = Box::new(move |_url| {
        let tls = tls.clone();
        async move {
            let mut conn = tls
                .establish()
                .await
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
            conn.batch_execute(&format!("{setup}; SET statement_timeout = {timeout_ms}"))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = DieselManager {
        inner: AsyncDieselConnectionManager::new_with_config(config.url.clone(), manager),
        close_after_use: one_client,
        seed: std::sync::Mutex::new(seed),
    };
    let min_idle = if one_client {
        0
    } else {
        config.pool_min_idle.min(config.pool_size.max(1))
    };
    let pool = bb8::Pool::builder()
        .max_size(config.pool_size.max(1))
        .min_idle(Some(min_idle))
        .connection_timeout(config.connect_timeout)
        // A connection closed after every use is new at every checkout.
        .test_on_check_out(config.verify_on_checkout && !one_client)
        .build(manager)
        .await
        .map_err(|e| match e {
            PoolError::ConnectionError(c) => Error::Connection(c.to_string()),
            PoolError::QueryError(q) => crate::error::db(q),
        })?;
    Ok(pool)
}
