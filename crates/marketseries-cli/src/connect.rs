//! Choosing and opening a backend from a database URL. [`connect`] is the one place that
//! knows which URL opens which store; a new backend is one more arm there.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use marketseries_core::TimeSeriesStore;
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_timescale::TimescaleStore;

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

    /// The scheme, lower-cased (`postgres`), when the URL has one.
    pub fn scheme(&self) -> Option<String> {
        let (scheme, _) = self.0.split_once("://")?;
        let valid = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        valid.then(|| scheme.to_ascii_lowercase())
    }

    /// The password in the URL: `user:PASSWORD@host`, or a `password=` query parameter.
    fn passwords(&self) -> Vec<&str> {
        let mut found = Vec::new();
        if let Some((_, rest)) = self.0.split_once("://") {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    found.push(password);
                }
            }
        }
        if let Some((_, query)) = self.0.split_once('?') {
            for pair in query.split('&') {
                if let Some(password) = pair.strip_prefix("password=") {
                    found.push(password);
                }
            }
        }
        found.retain(|p| !p.is_empty());
        found
    }

    /// `text` with the URL and any password in it replaced, for error messages that
    /// drivers may have built from the connection string.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, "<database url>");
        for password in self.passwords() {
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

/// The backends the command can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// Plain PostgreSQL (`marketseries-postgres`).
    Postgres,
    /// TimescaleDB (`marketseries-timescale`).
    Timescale,
}

/// What a URL's scheme says: a backend, or "ask the server".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemeSays {
    Backend(Backend),
    AskServer,
}

/// Reads the scheme: `timescaledb://` (or `timescale://`) names the TimescaleDB backend;
/// `postgres://`/`postgresql://` leave it to `--backend`.
fn scheme_says(url: &DbUrl, choice: BackendChoice) -> CliResult<SchemeSays> {
    let scheme = url.scheme();
    let timescale_scheme = matches!(scheme.as_deref(), Some("timescaledb" | "timescale"));
    match (scheme.as_deref(), choice) {
        (Some("postgres" | "postgresql"), BackendChoice::Auto) => Ok(SchemeSays::AskServer),
        (Some("postgres" | "postgresql"), BackendChoice::Postgres) => {
            Ok(SchemeSays::Backend(Backend::Postgres))
        }
        (Some("postgres" | "postgresql"), BackendChoice::Timescaledb) => {
            Ok(SchemeSays::Backend(Backend::Timescale))
        }
        (Some(_), BackendChoice::Postgres) if timescale_scheme => Err(CliError::usage(
            "a timescaledb:// URL and --backend postgres contradict each other: use a \
             postgres:// URL for the plain backend",
        )),
        (Some(_), _) if timescale_scheme => Ok(SchemeSays::Backend(Backend::Timescale)),
        (Some(other), _) => Err(CliError::usage(format!(
            "unsupported database URL scheme `{other}`: expected postgres://, postgresql:// \
             or timescaledb://"
        ))),
        (None, _) => Err(CliError::usage(
            "the database URL must start with postgres://, postgresql:// or timescaledb://",
        )),
    }
}

/// The URL the driver understands: `timescaledb://` and `timescale://` become
/// `postgres://` (the rest is a PostgreSQL connection URL).
fn driver_url(url: &DbUrl) -> String {
    let raw = url.expose();
    match raw.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("timescaledb")
                || scheme.eq_ignore_ascii_case("timescale") =>
        {
            format!("postgres://{rest}")
        }
        _ => raw.to_owned(),
    }
}

/// An opened store, by backend (some commands use backend-specific operations).
#[derive(Clone)]
pub enum Opened {
    /// Plain PostgreSQL.
    Postgres(Arc<PgStore>),
    /// TimescaleDB.
    Timescale(Arc<TimescaleStore>),
}

impl Opened {
    /// The store behind the common API.
    pub fn store(&self) -> Arc<dyn TimeSeriesStore> {
        match self {
            Self::Postgres(s) => Arc::clone(s) as Arc<dyn TimeSeriesStore>,
            Self::Timescale(s) => Arc::clone(s) as Arc<dyn TimeSeriesStore>,
        }
    }
}

/// Opens the store a URL names.
///
/// # Errors
/// A usage error for a URL no backend accepts; the backend's connection error otherwise.
pub async fn connect(url: &DbUrl, options: ConnectOptions) -> CliResult<Opened> {
    let cannot_open = |e: marketseries_core::Error| {
        CliError::failed(url.redact(&format!("cannot open the database: {e}")))
    };
    let mut config = PgConfig::new(driver_url(url));
    config.connect_timeout = options.connect_timeout;
    // One command runs one operation at a time, so one connection is enough; it is also
    // all that a server serving one client per database (the embedded TimescaleDB of the
    // test rig) can give.
    config.pool_size = 1;
    let backend = match scheme_says(url, options.backend)? {
        SchemeSays::Backend(b) => b,
        SchemeSays::AskServer => {
            if marketseries_timescale::prefers_timescale(&config)
                .await
                .map_err(cannot_open)?
            {
                Backend::Timescale
            } else {
                Backend::Postgres
            }
        }
    };
    Ok(match backend {
        Backend::Postgres => Opened::Postgres(Arc::new(
            PgStore::connect(config).await.map_err(cannot_open)?,
        )),
        Backend::Timescale => Opened::Timescale(Arc::new(
            marketseries_timescale::TimescaleStore::connect(config)
                .await
                .map_err(cannot_open)?,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> DbUrl {
        DbUrl::from(s.to_owned())
    }

    #[test]
    fn backend_by_scheme_and_choice() {
        use BackendChoice::{Auto, Postgres, Timescaledb};
        let says = |u: &str, c| scheme_says(&url(u), c).unwrap();
        assert_eq!(says("postgres://u@h/db", Auto), SchemeSays::AskServer);
        assert_eq!(says("PostgreSQL://u@h/db", Auto), SchemeSays::AskServer);
        assert_eq!(
            says("postgres://u@h/db", Postgres),
            SchemeSays::Backend(Backend::Postgres)
        );
        assert_eq!(
            says("postgresql://u@h/db", Timescaledb),
            SchemeSays::Backend(Backend::Timescale)
        );
        for u in [
            "timescaledb://u@h/db",
            "TimescaleDB://u@h/db",
            "timescale://u@h/db",
        ] {
            assert_eq!(
                says(u, Auto),
                SchemeSays::Backend(Backend::Timescale),
                "{u}"
            );
            assert_eq!(
                says(u, Timescaledb),
                SchemeSays::Backend(Backend::Timescale)
            );
        }
        let e = scheme_says(&url("timescaledb://u@h/db"), Postgres).unwrap_err();
        assert!(e.to_string().contains("contradict"), "{e}");
        let e = scheme_says(&url("mysql://root:pw@h/db"), Auto).unwrap_err();
        assert!(e.to_string().contains("`mysql`") && !e.to_string().contains("pw"));
        assert!(scheme_says(&url("host=localhost"), Auto).is_err());
    }

    #[test]
    fn timescale_schemes_become_postgres_for_the_driver() {
        assert_eq!(
            driver_url(&url("timescaledb://u:p@h:5432/db?sslmode=disable")),
            "postgres://u:p@h:5432/db?sslmode=disable"
        );
        assert_eq!(driver_url(&url("Timescale://h/db")), "postgres://h/db");
        assert_eq!(driver_url(&url("postgresql://h/db")), "postgresql://h/db");
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
}
