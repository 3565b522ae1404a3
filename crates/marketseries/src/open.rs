//! [`open`]: the one place that knows which configuration opens which store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketseries_core::{Clock, Dataset, Error, Result, SystemClock, TimeSeriesStore};

use crate::config::{Backend, Config, Resolved};

/// An opened store, by backend, for callers that need backend-specific operations (such as
/// TimescaleDB's `TimescaleExt`); [`Opened::into_store`] gives the common API.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Opened {
    /// Plain PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(marketseries_postgres::PgStore),
    /// TimescaleDB.
    #[cfg(feature = "timescaledb")]
    Timescale(marketseries_timescale::TimescaleStore),
}

impl Opened {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "timescaledb")]
            Self::Timescale(_) => Backend::Timescaledb,
        }
    }

    /// Updates the planner statistics of what a bulk load of `dataset` timed in
    /// `[first, last]` wrote, so reads right after it are planned as well as after
    /// autovacuum's next pass (see `SqlStore::analyze_written` in `marketseries-sql`).
    /// Returns how many tables, partitions or chunks were analyzed. `marketseries import`
    /// runs this after storing a file; a program that bulk-loads through the API should too.
    ///
    /// # Errors
    /// As `SqlStore::analyze_written`: no connection, or a statement fails.
    pub async fn analyze_written(
        &self,
        dataset: Dataset,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Result<usize> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => s.analyze_written(dataset, first, last).await,
            #[cfg(feature = "timescaledb")]
            Self::Timescale(s) => s.analyze_written(dataset, first, last).await,
        }
    }

    /// What the store's connection pools hold and how often checkouts waited
    /// ([`SqlStore::pool_status`](marketseries_sql::SqlStore::pool_status)), for a service
    /// to export.
    pub fn pool_status(&self) -> marketseries_sql::PoolStatus {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => s.pool_status(),
            #[cfg(feature = "timescaledb")]
            Self::Timescale(s) => s.pool_status(),
        }
    }

    /// Creates the least-privilege group roles and grants them their rights on this
    /// database ([`SqlStore::create_roles`](marketseries_sql::SqlStore::create_roles)).
    ///
    /// # Errors
    /// As [`SqlStore::create_roles`](marketseries_sql::SqlStore::create_roles).
    pub async fn create_roles(&self, roles: &marketseries_sql::Roles) -> Result<()> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => s.create_roles(roles).await,
            #[cfg(feature = "timescaledb")]
            Self::Timescale(s) => s.create_roles(roles).await,
        }
    }

    /// One page of candles from a table of the seed's shape on this store's database (see
    /// `SqlStore::scan_seed_table`): how `marketseries copy --from-table` reads a seed
    /// database.
    ///
    /// # Errors
    /// As `SqlStore::scan_seed_table`.
    pub async fn scan_seed_table(
        &self,
        table: &str,
        query: &marketseries_core::ScanQuery,
    ) -> Result<marketseries_core::ScanPage> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => s.scan_seed_table(table, query).await,
            #[cfg(feature = "timescaledb")]
            Self::Timescale(s) => s.scan_seed_table(table, query).await,
        }
    }

    /// The store behind the common API.
    pub fn into_store(self) -> Box<dyn TimeSeriesStore> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Box::new(s),
            #[cfg(feature = "timescaledb")]
            Self::Timescale(s) => Box::new(s),
        }
    }
}

/// Opens the store `config` names on the system clock (see [`open_with_clock`]).
///
/// ```no_run
/// # async fn demo() -> marketseries::Result<()> {
/// use marketseries::{Config, TimeSeriesStore};
/// let store = marketseries::open(&Config::new("timescaledb://postgres@127.0.0.1/market")).await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`open_with_clock`].
pub async fn open(config: &Config) -> Result<Box<dyn TimeSeriesStore>> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

/// Opens the store `config` names, reading "now" from `clock`: the backend comes from
/// [`Config::resolve`], and for a `postgres://` URL with [`BackendChoice::Auto`] from the
/// server ([`backend_of`]). Call [`TimeSeriesStore::migrate`] before first use.
///
/// [`BackendChoice::Auto`]: crate::BackendChoice::Auto
///
/// # Errors
/// [`Error::Config`] for a URL or backend choice no backend accepts, a backend this build
/// leaves out (cargo features `postgres`, `timescaledb`), or a server that cannot host the
/// backend; [`Error::Connection`] when the server cannot be reached. Messages never show
/// the URL or its password.
pub async fn open_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn TimeSeriesStore>> {
    Ok(open_backend(config, clock).await?.into_store())
}

/// [`open_with_clock`], keeping the concrete store.
///
/// # Errors
/// As [`open_with_clock`].
pub async fn open_backend(config: &Config, clock: Arc<dyn Clock>) -> Result<Opened> {
    let backend = backend_of(config).await?;
    let redacted = |e: Error| redact_error(config, e);
    match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            marketseries_postgres::PgStore::connect_with_clock(config.store.clone(), clock)
                .await
                .map(Opened::Postgres)
                .map_err(redacted)
        }
        #[cfg(feature = "timescaledb")]
        Backend::Timescaledb => {
            marketseries_timescale::TimescaleStore::connect_with_clock(config.store.clone(), clock)
                .await
                .map(Opened::Timescale)
                .map_err(redacted)
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = clock;
            Err(not_built(other))
        }
    }
}

/// The backend `config` opens: what [`Config::resolve`] says, or for a `postgres://` URL
/// with [`BackendChoice::Auto`] what the server holds: TimescaleDB when the database has
/// or can create the extension and holds no plain-PostgreSQL schema (a partitioned
/// `candles`), plain PostgreSQL otherwise (one short connection to find out).
///
/// [`BackendChoice::Auto`]: crate::BackendChoice::Auto
///
/// # Errors
/// As [`open_with_clock`].
pub async fn backend_of(config: &Config) -> Result<Backend> {
    match config.resolve()? {
        Resolved::Backend(b) => Ok(b),
        Resolved::AskServer => ask_server(config).await,
    }
}

#[cfg(feature = "timescaledb")]
async fn ask_server(config: &Config) -> Result<Backend> {
    let timescale = marketseries_timescale::prefers_timescale(&config.store)
        .await
        .map_err(|e| redact_error(config, e))?;
    Ok(if timescale {
        Backend::Timescaledb
    } else {
        Backend::Postgres
    })
}

#[cfg(not(feature = "timescaledb"))]
async fn ask_server(_config: &Config) -> Result<Backend> {
    // Without the TimescaleDB backend, a postgres:// URL can only mean plain PostgreSQL.
    Ok(Backend::Postgres)
}

fn not_built(backend: Backend) -> Error {
    Error::Config(format!(
        "this build of marketseries leaves out the {backend} backend (cargo feature \
         `{backend}` of the `marketseries` crate)"
    ))
}

/// `e` with the URL and password of `config` removed from its message.
fn redact_error(config: &Config, e: Error) -> Error {
    match e {
        Error::Connection(m) => Error::Connection(config.redact(&m)),
        Error::Config(m) => Error::Config(config.redact(&m)),
        Error::Timeout(m) => Error::Timeout(config.redact(&m)),
        Error::Database { code, message } => Error::Database {
            code,
            message: config.redact(&message),
        },
        other => other,
    }
}
