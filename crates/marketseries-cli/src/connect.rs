//! Choosing and opening a backend from a database URL. [`connect`] is the one place that
//! knows which URL opens which store; a new backend is one more arm there.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use marketseries_core::TimeSeriesStore;
use marketseries_postgres::{PgConfig, PgStore};

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
}

/// The backends the command can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// Plain PostgreSQL (`marketseries-postgres`).
    Postgres,
}

/// Picks the backend for a URL by its scheme.
fn backend_for(url: &DbUrl) -> CliResult<Backend> {
    match url.scheme().as_deref() {
        // A TimescaleDB backend will claim its URLs here (by scheme or by asking the
        // server for the extension) once it exists; until then every PostgreSQL URL is
        // served by the plain backend, which runs on TimescaleDB servers too.
        Some("postgres" | "postgresql") => Ok(Backend::Postgres),
        Some(other) => Err(CliError::usage(format!(
            "unsupported database URL scheme `{other}`: expected postgres:// or postgresql://"
        ))),
        None => Err(CliError::usage(
            "the database URL must start with postgres:// or postgresql://",
        )),
    }
}

/// Opens the store a URL names.
///
/// # Errors
/// A usage error for a URL no backend accepts; the backend's connection error otherwise.
pub async fn connect(url: &DbUrl, options: ConnectOptions) -> CliResult<Arc<dyn TimeSeriesStore>> {
    match backend_for(url)? {
        Backend::Postgres => {
            let mut config = PgConfig::new(url.expose());
            // One command runs one operation at a time; a big pool would only hold
            // server connections open for nothing.
            config.pool_size = 2;
            config.connect_timeout = options.connect_timeout;
            let store = PgStore::connect(config)
                .await
                .map_err(|e| CliError::failed(format!("cannot open the database: {e}")))?;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> DbUrl {
        DbUrl::from(s.to_owned())
    }

    #[test]
    fn backend_by_scheme() {
        assert_eq!(
            backend_for(&url("postgres://u@h/db")).unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            backend_for(&url("PostgreSQL://u@h/db")).unwrap(),
            Backend::Postgres
        );
        let e = backend_for(&url("mysql://root:pw@h/db")).unwrap_err();
        assert!(e.to_string().contains("`mysql`") && !e.to_string().contains("pw"));
        assert!(backend_for(&url("host=localhost")).is_err());
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
