//! Opening the store a database URL names, through the `marketseries` facade (which knows
//! which URL opens which backend); this module only adds the command line's URL handling
//! and error wording.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use marketseries::{Backend, Config, Opened};
use marketseries_core::{SystemClock, TimeSeriesStore};

use crate::error::{CliError, CliResult};

/// A database URL. It has no `Display` and its `Debug` is redacted, so it cannot reach
/// output by accident: URLs usually carry passwords.
#[derive(Clone)]
pub struct DbUrl(String);

impl From<String> for DbUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbUrl(<redacted>)")
    }
}

impl DbUrl {
    /// The URL itself, for handing to a driver. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the URL and any password in it replaced, for error messages that
    /// drivers may have built from the connection string.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, "<database url>");
        for password in marketseries::url_passwords(&self.0) {
            out = out.replace(password, "***");
        }
        out
    }
}

/// Connection settings the command line controls.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// How long to wait for a database connection.
    pub connect_timeout: Duration,
    /// Which backend serves a `postgres://` URL.
    pub backend: BackendChoice,
    /// Connections the command may hold at once (1 but for `maintain --jobs` and `serve`).
    pub connections: u32,
    /// Of those, how many a refresh works on at once.
    pub refresh_workers: u32,
}

/// The `--backend` option: which backend serves a `postgres://` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BackendChoice {
    /// TimescaleDB when the database has or can create the extension and holds no
    /// plain-PostgreSQL schema; plain PostgreSQL otherwise.
    #[default]
    Auto,
    /// Plain PostgreSQL (partitioned tables and rollups), even on a TimescaleDB server.
    Postgres,
    /// TimescaleDB (hypertables, continuous aggregates, compression).
    Timescaledb,
}

impl BackendChoice {
    /// The facade's choice.
    fn to_library(self) -> marketseries::BackendChoice {
        match self {
            Self::Auto => marketseries::BackendChoice::Auto,
            Self::Postgres => marketseries::BackendChoice::Explicit(Backend::Postgres),
            Self::Timescaledb => marketseries::BackendChoice::Explicit(Backend::Timescaledb),
        }
    }
}

/// An opened store: the facade's, plus the common API behind an `Arc`.
#[derive(Clone)]
pub struct OpenedStore {
    /// The concrete store (some commands use backend-specific operations).
    pub opened: Opened,
}

impl OpenedStore {
    /// The store behind the common API.
    pub fn store(&self) -> Arc<dyn TimeSeriesStore> {
        Arc::from(self.opened.clone().into_store())
    }
}

/// Opens the store a URL names.
///
/// # Errors
/// A usage error for a URL no backend accepts; the backend's connection error otherwise.
pub async fn connect(url: &DbUrl, options: ConnectOptions) -> CliResult<OpenedStore> {
    let mut config = Config::new(url.expose()).with_backend(options.backend.to_library());
    config
        .resolve()
        .map_err(|e| CliError::usage(url.redact(&e.to_string())))?;
    config.store.connect_timeout = options.connect_timeout;
    // One command runs one operation at a time, so one connection is enough; it is also
    // all that a server serving one client per database (the embedded TimescaleDB of the
    // test rig) can give. `maintain --jobs N` refreshes on N.
    config.store.pool_size = options.connections.max(1);
    config.store.refresh_workers = options.refresh_workers.clamp(1, options.connections.max(1));
    let opened = marketseries::open_backend(&config, Arc::new(SystemClock))
        .await
        .map_err(|e| CliError {
            message: Some(url.redact(&format!("cannot open the database: {e}"))),
            code: crate::error::exit_code(e.kind()),
        })?;
    Ok(OpenedStore { opened })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> DbUrl {
        DbUrl::from(s.to_owned())
    }

    #[test]
    fn redaction_hides_url_and_passwords() {
        let u = url("postgres://alice:s3cret@db.example:5432/market?sslmode=disable");
        assert_eq!(format!("{u:?}"), "DbUrl(<redacted>)");
        let msg = u.redact(&format!(
            "cannot connect to {}: password s3cret rejected",
            u.expose()
        ));
        assert!(!msg.contains("s3cret") && !msg.contains("alice:"), "{msg}");
        let q = url("postgres://h/db?user=bob&password=hunter2");
        assert_eq!(q.redact("auth hunter2 failed"), "auth *** failed");
    }

    #[tokio::test]
    async fn urls_no_backend_accepts_are_usage_errors() {
        let options = ConnectOptions {
            connect_timeout: Duration::from_secs(1),
            backend: BackendChoice::Postgres,
            connections: 1,
            refresh_workers: 1,
        };
        for (u, backend) in [
            ("mysql://root:pw@h/db", BackendChoice::Auto),
            ("timescaledb://u@h/db", BackendChoice::Postgres),
            ("host=localhost", BackendChoice::Auto),
        ] {
            let Err(e) = connect(&url(u), ConnectOptions { backend, ..options }).await else {
                panic!("{u} opened");
            };
            assert_eq!(e.code, crate::error::EXIT_USAGE, "{u}: {e}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }
}
