//! TLS to the database, for both of the store's clients (the diesel-async pool and the
//! `tokio-postgres` write path) and every connection a backend opens itself: rustls, with
//! `sslmode` and `sslrootcert` read from the connection string with libpq's meanings.
//!
//! | `sslmode` | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | when the server offers it, else plaintext | none |
//! | `require` | always; a server without TLS is refused | none, or as `verify-ca` when `sslrootcert` is given |
//! | `verify-ca` | always | chains to a root of `sslrootcert` |
//! | `verify-full` | always | as `verify-ca`, and valid for the host name |
//!
//! `sslrootcert` is a PEM file of trusted roots, or `system` for the platform's store
//! (only with `verify-full`, as libpq 16); `verify-*` without it read
//! `~/.postgresql/root.crt`, as libpq does. Without a `sslmode` in the string, `PGSSLMODE`
//! is read, and `PGSSLROOTCERT` without a `sslrootcert`. A connection to `hostaddr` is
//! verified against `host`, so `host=db.example hostaddr=10.0.0.5` checks the name.

mod params;
mod verify;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use marketseries_core::{Error, Result, TlsFailure};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use params::SslMode;
use verify::Roots;

/// libpq's environment variable for the mode when the connection string names none.
pub const SSLMODE_VAR: &str = "PGSSLMODE";
/// libpq's environment variable for the roots when the connection string names none.
pub const SSLROOTCERT_VAR: &str = "PGSSLROOTCERT";

/// The stream of a connection: TLS, or plaintext under `disable` and a `prefer` the server
/// declined.
pub type TlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// A `tokio-postgres` connection as [`TlsConnector::connect`] opens it.
pub type DriverConnection = tokio_postgres::Connection<Socket, TlsStream>;

/// Opens connections to the server of one connection string, with the TLS it asks for.
/// Built once per store; cloning shares the TLS configuration.
#[derive(Clone)]
pub struct TlsConnector {
    driver_url: String,
    mode: SslMode,
    make: MakeRustlsConnect,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the password.
        f.debug_struct("TlsConnector")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// Reads the TLS settings of `url` (and `PGSSLMODE` / `PGSSLROOTCERT` where the URL
    /// names none) and loads the roots they name.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown `sslmode`, client-certificate parameters (not
    /// supported), `sslrootcert=system` with a mode weaker than `verify-full`, a root file
    /// that is missing or holds no certificate, and `verify-*` without any roots.
    pub fn new(url: &str) -> Result<Self> {
        Self::with_env(url, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    fn with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let params = params::split(url)?;
        let mode = match params.mode {
            Some(mode) => mode,
            None => match env(SSLMODE_VAR) {
                Some(value) => SslMode::parse(&value)
                    .map_err(|e| Error::Config(format!("{SSLMODE_VAR}: {e}")))?,
                None => SslMode::Prefer,
            },
        };
        let root_cert = params.root_cert.clone().or_else(|| env(SSLROOTCERT_VAR));
        let roots = roots(mode, root_cert, env("HOME").map(PathBuf::from))?;
        let make = MakeRustlsConnect::new(verify::client_config(mode, &roots)?);
        Ok(Self {
            driver_url: params.driver_url(mode),
            mode,
            make,
        })
    }

    /// The `sslmode` in force.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Opens a `tokio-postgres` connection (spawn the [`DriverConnection`]).
    ///
    /// # Errors
    /// [`Error::Tls`] when TLS was required and refused, or the certificate failed its
    /// check; [`Error::Database`] for a retryable refusal (the server starting up or
    /// shutting down, too many connections); [`Error::Connection`] otherwise.
    pub async fn connect(&self) -> Result<(Client, DriverConnection)> {
        let started = Arc::new(AtomicBool::new(false));
        let tls = Tracked {
            inner: self.make.clone(),
            started: Arc::clone(&started),
        };
        tokio_postgres::connect(&self.driver_url, tls)
            .await
            .map_err(|e| self.connect_error(&e, started.load(Ordering::Relaxed)))
    }

    /// Opens a diesel-async connection.
    ///
    /// # Errors
    /// As [`TlsConnector::connect`].
    pub async fn establish(&self) -> Result<AsyncPgConnection> {
        let (client, connection) = self.connect().await?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|e| Error::Connection(e.to_string()))
    }

    fn connect_error(&self, e: &tokio_postgres::Error, handshake_started: bool) -> Error {
        if e.as_db_error().is_some() {
            let db = crate::client::pg_error(e);
            return if db.is_retryable() {
                db
            } else {
                Error::Connection(e.to_string())
            };
        }
        let mode = self.mode;
        if let Some(failure) = rustls_failure(e) {
            return Error::Tls {
                failure,
                message: format!("{e} (sslmode={mode})"),
            };
        }
        if handshake_started {
            return Error::Tls {
                failure: TlsFailure::Handshake,
                message: format!("{e} (sslmode={mode})"),
            };
        }
        // Before a handshake, the driver fails on the socket (an I/O error) or on the
        // server's "no" to TLS, which only a mode that requires TLS turns into an error.
        if mode.requires_tls() && !has_io_source(e) {
            return Error::Tls {
                failure: TlsFailure::NotOffered,
                message: format!(
                    "the server does not offer TLS, and sslmode={mode} does not fall back to \
                     plaintext ({e})"
                ),
            };
        }
        Error::Connection(e.to_string())
    }
}

/// The roots `mode` checks against.
fn roots(mode: SslMode, root_cert: Option<String>, home: Option<PathBuf>) -> Result<Roots> {
    if root_cert.as_deref() == Some("system") && mode != SslMode::VerifyFull {
        return Err(Error::Config(format!(
            "sslrootcert=system needs sslmode=verify-full (sslmode={mode} would not check the \
             host name against the public roots)"
        )));
    }
    let named = |path: String| {
        if path == "system" {
            Roots::System
        } else {
            Roots::File(path)
        }
    };
    Ok(match mode {
        SslMode::Disable | SslMode::Prefer => Roots::Unchecked,
        SslMode::Require => root_cert.map_or(Roots::Unchecked, named),
        SslMode::VerifyCa | SslMode::VerifyFull => match root_cert {
            Some(path) => named(path),
            None => {
                let default = home.map(|h| h.join(".postgresql").join("root.crt"));
                match default {
                    Some(file) if file.is_file() => Roots::File(file.display().to_string()),
                    _ => {
                        return Err(Error::Config(format!(
                            "sslmode={mode} needs trusted roots: set sslrootcert=<PEM file> \
                             (or sslrootcert=system) in the connection string, or \
                             {SSLROOTCERT_VAR} (~/.postgresql/root.crt does not exist)"
                        )))
                    }
                }
            }
        },
    })
}

/// The rustls error anywhere in `e`'s sources, as a [`TlsFailure`].
fn rustls_failure(e: &tokio_postgres::Error) -> Option<TlsFailure> {
    use rustls::CertificateError as C;
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        // An I/O error's `source` skips the error it wraps: look inside it.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(match tls {
                    rustls::Error::InvalidCertificate(
                        C::NotValidForName | C::NotValidForNameContext { .. },
                    ) => TlsFailure::HostMismatch,
                    rustls::Error::InvalidCertificate(
                        C::Expired
                        | C::ExpiredContext { .. }
                        | C::NotValidYet
                        | C::NotValidYetContext { .. },
                    ) => TlsFailure::Expired,
                    rustls::Error::InvalidCertificate(
                        C::UnknownIssuer | C::BadSignature | C::BadEncoding,
                    ) => TlsFailure::UntrustedCertificate,
                    _ => TlsFailure::Handshake,
                });
            }
        }
        source = err.source();
    }
    None
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if err.is::<std::io::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The rustls connector, noting whether a handshake began: the driver asks for one only
/// after the server agreed to TLS, which tells a refusal from a failed handshake.
struct Tracked {
    inner: MakeRustlsConnect,
    started: Arc<AtomicBool>,
}

impl<S> MakeTlsConnect<S> for Tracked
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = TrackedConnect<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = Infallible;

    fn make_tls_connect(
        &mut self,
        hostname: &str,
    ) -> std::result::Result<Self::TlsConnect, Infallible> {
        let inner = MakeTlsConnect::<S>::make_tls_connect(&mut self.inner, hostname)?;
        Ok(TrackedConnect {
            inner,
            started: Arc::clone(&self.started),
        })
    }
}

/// One connection's half of [`Tracked`].
struct TrackedConnect<C> {
    inner: C,
    started: Arc<AtomicBool>,
}

impl<S, C: TlsConnect<S>> TlsConnect<S> for TrackedConnect<C> {
    type Stream = C::Stream;
    type Error = C::Error;
    type Future = C::Future;

    fn connect(self, stream: S) -> C::Future {
        self.started.store(true, Ordering::Relaxed);
        self.inner.connect(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_mode_comes_from_the_url_then_the_environment() {
        let c =
            TlsConnector::with_env("postgres://h/d?sslmode=disable", |_| Some("require".into()))
                .unwrap();
        assert_eq!(c.mode(), SslMode::Disable);
        let c = TlsConnector::with_env("postgres://h/d", |k| {
            (k == SSLMODE_VAR).then(|| "require".to_owned())
        })
        .unwrap();
        assert_eq!(c.mode(), SslMode::Require);
        assert_eq!(c.driver_url, "postgres://h/d?sslmode=require");
        let c = TlsConnector::with_env("host=h dbname=d", no_env).unwrap();
        assert_eq!(c.mode(), SslMode::Prefer);
        let e = TlsConnector::with_env("postgres://h/d", |k| {
            (k == SSLMODE_VAR).then(|| "sometimes".to_owned())
        })
        .unwrap_err();
        assert!(e.to_string().contains(SSLMODE_VAR), "{e}");
    }

    #[test]
    fn verification_needs_roots() {
        let e = TlsConnector::with_env("postgres://h/d?sslmode=verify-full", no_env).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        let e = TlsConnector::with_env(
            "postgres://h/d?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
            no_env,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/ca.pem: no such file"),
            "{e}"
        );
        let e = TlsConnector::with_env("postgres://h/d?sslmode=require&sslrootcert=system", no_env)
            .unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("ms-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("empty.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let url = format!(
            "postgres://h/d?sslmode=verify-full&sslrootcert={}",
            file.display()
        );
        let e = TlsConnector::with_env(&url, no_env).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
