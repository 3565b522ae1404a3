//! The three targets one run compares on the same rows, and their connections.
//!
//! - [`TargetKind::Plain`]: the seed's "standard PostgreSQL": one unpartitioned `candles`
//!   table with a primary key on the native PostgreSQL server, read with hand-written SQL;
//! - [`TargetKind::Postgres`]: `marketseries-postgres` on the same server;
//! - [`TargetKind::Timescale`]: `marketseries-timescale` on the launcher's TimescaleDB (a
//!   native cluster when one is installed; the embedded server only proves the code path).
//!
//! The embedded TimescaleDB serves one client per database at a time, so on it a
//! [`Target`] keeps either the store's pool or the direct client open, never both
//! ([`Target::exclusive`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketseries::{Backend, BackendChoice, Config, Opened};
use marketseries_core::{Clock, Dataset, TimeSeriesStore};
use marketseries_testkit::launcher::{self, Flavor, ServerKind, TestDatabase};
use marketseries_timescale::TimescaleStore;
use tokio_postgres::{Client, NoTls};

/// What every fallible step of the benchmark returns: a message naming what failed.
pub type Res<T> = Result<T, String>;

/// One of the three targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// One unpartitioned table, hand-written SQL.
    Plain,
    /// `marketseries-postgres`.
    Postgres,
    /// `marketseries-timescale`.
    Timescale,
}

impl TargetKind {
    /// Every target, in report order.
    pub const ALL: [Self; 3] = [Self::Plain, Self::Postgres, Self::Timescale];

    /// Its name in benchmark ids and the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Postgres => "postgres",
            Self::Timescale => "timescale",
        }
    }

    /// The launcher's server it runs on.
    pub fn server(self) -> ServerKind {
        match self {
            Self::Plain | Self::Postgres => ServerKind::Postgres,
            Self::Timescale => ServerKind::Timescale,
        }
    }

    /// The session settings its direct statements run with: the store's own (plain
    /// PostgreSQL's for the plain table too, so hand-written SQL is planned alike).
    pub fn session_setup(self) -> &'static str {
        match self {
            Self::Plain | Self::Postgres => marketseries_postgres::statements::SESSION_SETUP,
            Self::Timescale => marketseries_sql::SESSION_SETUP,
        }
    }

    /// The store backend, `None` for the plain table.
    pub fn backend(self) -> Option<Backend> {
        match self {
            Self::Plain => None,
            Self::Postgres => Some(Backend::Postgres),
            Self::Timescale => Some(Backend::Timescaledb),
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TargetKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(Self::Plain),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "timescale" | "timescaledb" => Ok(Self::Timescale),
            _ => Err(()),
        }
    }
}

/// The plain target's table: the seed's shape, primary key on the same key as the
/// stores' tables (so both are range scans of one B-tree).
pub const PLAIN_DDL: &str = "CREATE TABLE candles (
    time     timestamptz NOT NULL,
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
)";

/// One target's database and its connections.
pub struct Target {
    /// Which target.
    pub kind: TargetKind,
    /// Its database (fresh, on the launcher's server or the one `--*-url` names).
    pub db: TestDatabase,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn TimeSeriesStore>>,
    timescale: Option<TimescaleStore>,
    opened: Option<Opened>,
    client: Option<Client>,
}

impl Target {
    /// A fresh database for `kind`: the plain table created, or the store migrated.
    ///
    /// # Errors
    /// No server, or the set-up fails.
    pub async fn create(kind: TargetKind, clock: Arc<dyn Clock>) -> Res<Self> {
        let db = launcher::fresh_database(kind.server())
            .await
            .map_err(|e| format!("{kind}: no database: {e}"))?;
        let mut target = Self {
            kind,
            db,
            clock,
            store: None,
            timescale: None,
            opened: None,
            client: None,
        };
        if kind == TargetKind::Plain {
            target
                .client()
                .await?
                .batch_execute(PLAIN_DDL)
                .await
                .map_err(|e| format!("plain: create the table: {e}"))?;
        } else {
            target
                .store()
                .await?
                .migrate()
                .await
                .map_err(|e| format!("{kind}: migrate: {e}"))?;
        }
        Ok(target)
    }

    /// Whether the server serves one client at a time (the embedded TimescaleDB).
    pub fn exclusive(&self) -> bool {
        self.db.flavor() == Flavor::Embedded
    }

    /// The database's URL (with the launcher's credentials).
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// The server's flavor (native or embedded).
    pub fn flavor(&self) -> Flavor {
        self.db.flavor()
    }

    /// How the store is opened: this target's backend, a pool of 2 (1 on the embedded
    /// server).
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.db.url()).with_backend(
            self.kind
                .backend()
                .map_or(BackendChoice::Auto, BackendChoice::Explicit),
        );
        config.store.pool_size = if self.exclusive() { 1 } else { 2 };
        if self.exclusive() {
            // No idle connection kept in reserve: the pool must hold none once dropped, or
            // the direct client would wait behind it on a one-client server.
            config.store.pool_min_idle = 0;
        }
        config
    }

    /// The store's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The store (opened on first use; on the embedded server the direct client is closed
    /// first).
    ///
    /// # Errors
    /// The plain target has no store, or it cannot be opened.
    pub async fn store(&mut self) -> Res<Arc<dyn TimeSeriesStore>> {
        if self.kind == TargetKind::Plain {
            return Err("the plain table has no store".into());
        }
        if let Some(store) = &self.store {
            return Ok(store.clone());
        }
        if self.exclusive() {
            self.client = None;
            tokio::task::yield_now().await;
        }
        let opened = marketseries::open_backend(&self.config(), self.clock.clone())
            .await
            .map_err(|e| format!("{}: open the store: {e}", self.kind))?;
        if let Opened::Timescale(ts) = &opened {
            self.timescale = Some(ts.clone());
        }
        self.opened = Some(opened.clone());
        let store: Arc<dyn TimeSeriesStore> = Arc::from(opened.into_store());
        self.store = Some(store.clone());
        Ok(store)
    }

    /// The TimescaleDB store, for its own operations (compression).
    ///
    /// # Errors
    /// Not the TimescaleDB target, or it cannot be opened.
    pub async fn timescale(&mut self) -> Res<TimescaleStore> {
        self.store().await?;
        self.timescale
            .clone()
            .ok_or_else(|| format!("{} is not TimescaleDB", self.kind))
    }

    /// What `marketseries import` runs after storing a file: the planner statistics of the
    /// partitions or chunks of `dataset` that hold rows in `[first, last]`
    /// (`Opened::analyze_written`); returns how many were analyzed.
    ///
    /// # Errors
    /// The plain target (it runs `ANALYZE` itself), or the statements fail.
    pub async fn analyze_written(
        &mut self,
        dataset: Dataset,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Res<usize> {
        self.store().await?;
        let opened = self
            .opened
            .as_ref()
            .ok_or_else(|| format!("{}: no store", self.kind))?;
        opened
            .analyze_written(dataset, first, last)
            .await
            .map_err(|e| format!("{}: analyze_written: {e}", self.kind))
    }

    /// A direct `tokio-postgres` client with the store's session settings (connected on
    /// first use; on the embedded server the store is closed first).
    ///
    /// # Errors
    /// It cannot connect.
    pub async fn client(&mut self) -> Res<&Client> {
        if self.client.is_none() {
            if self.exclusive() {
                self.close_store().await;
            }
            self.client = Some(connect(self.db.url(), self.kind.session_setup()).await?);
        }
        self.client.as_ref().ok_or_else(|| "no client".to_owned())
    }

    /// Closes the store and the client (before a fresh-connection measurement on the
    /// embedded server, or at the end).
    pub async fn release(&mut self) {
        self.client = None;
        self.close_store().await;
    }

    async fn close_store(&mut self) {
        self.store = None;
        self.timescale = None;
        self.opened = None;
        // Let the pool's connection tasks see their clients gone and close their sockets
        // (they run only while this runtime is driven).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    /// Drops the database (closing its connections by force). Failure is reported, not
    /// fatal: the database goes with the server.
    pub async fn drop_database(mut self) {
        self.release().await;
        let name = self.db.name().to_owned();
        let result = async {
            let server = launcher::ensure_server(self.db.kind())
                .await
                .map_err(|e| e.to_string())?;
            let admin = connect(server.url(), marketseries_sql::SESSION_SETUP).await?;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            eprintln!("note: could not drop benchmark database {name}: {e}");
        }
    }
}

/// The server's message of a `tokio-postgres` error (its `Display` says only "db error").
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A `tokio-postgres` connection running `setup` (a store's session settings, see
/// [`TargetKind::session_setup`]), so direct statements are planned as the store's.
///
/// # Errors
/// It cannot connect or set the session up.
pub async fn connect(url: &str, setup: &str) -> Res<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connect {}: {e}", launcher::redact(url)))?;
    tokio::spawn(connection);
    client
        .batch_execute(setup)
        .await
        .map_err(|e| format!("session set-up: {e}"))?;
    Ok(client)
}
