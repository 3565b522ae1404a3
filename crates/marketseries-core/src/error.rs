//! The one error type every store returns.

use std::fmt;

use crate::interval::Interval;
use crate::validate::ValidationError;

/// Result alias used throughout marketseries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Broad class of an [`Error`], stable across versions; tests and callers match on this
/// rather than on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something malformed (bad interval text, bad record, bad range).
    InvalidInput,
    /// A batch exceeded the configured maximum size.
    BatchTooLarge,
    /// No stored native interval can serve the requested interval.
    UnsupportedInterval,
    /// The backend does not offer this operation (e.g. compression on plain PostgreSQL).
    Unsupported,
    /// Invalid configuration (pool, policies, URLs).
    Config,
    /// The operation would delete stored data and was not confirmed.
    Unconfirmed,
    /// Could not reach the database, or the connection broke before a commit was sent.
    Connection,
    /// The connection broke after `COMMIT` was sent and before the server answered: the
    /// transaction may or may not have committed.
    AmbiguousCommit,
    /// The operation exceeded a timeout (pool checkout or statement timeout).
    Timeout,
    /// The database reported an error.
    Database,
    /// Anything else; see the message.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::InvalidInput => "invalid input",
            Self::BatchTooLarge => "batch too large",
            Self::UnsupportedInterval => "unsupported interval",
            Self::Unsupported => "unsupported",
            Self::Config => "configuration",
            Self::Unconfirmed => "unconfirmed",
            Self::Connection => "connection",
            Self::AmbiguousCommit => "ambiguous commit",
            Self::Timeout => "timeout",
            Self::Database => "database",
            Self::Other => "other",
        };
        f.write_str(s)
    }
}

/// Everything that can go wrong in marketseries.
///
/// Match on [`Error::kind`] for control flow; the variants carry the details a human needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Interval text that is not a positive multiple of s/m/h/d/w in canonical form.
    #[error("invalid interval {input:?}: {reason}")]
    InvalidInterval {
        /// The text that was given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A record failed validation; nothing of its batch was stored.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A batch was larger than the store's configured maximum; nothing was stored.
    #[error("batch of {len} records exceeds the configured maximum of {max}")]
    BatchTooLarge {
        /// Records in the batch.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A query argument was malformed (empty range, non-positive window, zero price step...).
    #[error("invalid argument `{argument}`: {reason}")]
    InvalidArgument {
        /// Name of the argument.
        argument: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The symbol has candles, but none of its native intervals divides the request.
    #[error("cannot serve {requested} candles for {symbol:?}: no stored native interval divides it (stored: {})", display_intervals(.available))]
    UnsupportedInterval {
        /// Symbol asked for.
        symbol: String,
        /// Interval asked for.
        requested: Interval,
        /// Native intervals the symbol has.
        available: Vec<Interval>,
    },
    /// The backend does not offer this operation.
    #[error("{operation} is not supported by the {backend} backend: {reason}")]
    Unsupported {
        /// What was asked for.
        operation: &'static str,
        /// Backend name.
        backend: &'static str,
        /// Why not.
        reason: String,
    },
    /// Invalid configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// Applying policies would make stored rows expire, and the caller did not confirm it
    /// ([`crate::Expiry::Confirmed`]); nothing was changed.
    #[error("these policies would drop {preview}; nothing was changed (confirm to apply)")]
    Unconfirmed {
        /// What would be dropped.
        preview: crate::expiry::RetentionPreview,
    },
    /// The database could not be reached (refused, unknown host, bad credentials, TLS).
    /// Not retryable: repeating the call meets the same answer.
    #[error("connection error: {0}")]
    Connection(String),
    /// A TLS connection to the database was refused: the server does not offer TLS where
    /// `sslmode` demands it, or its certificate did not pass the verification `sslmode`
    /// asks for. Not retryable. [`Error::kind`] is [`ErrorKind::Connection`].
    #[error("TLS error ({failure}): {message}")]
    Tls {
        /// What failed.
        failure: TlsFailure,
        /// The details, naming the server and the setting involved.
        message: String,
    },
    /// An open connection broke before the transaction's `COMMIT` was sent: nothing of the
    /// transaction was committed. Retryable.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The connection broke after `COMMIT` was sent and before the server answered: the
    /// transaction may or may not have committed. Retryable for the store's writes, which
    /// are idempotent upserts (repeating one stores the same rows once).
    #[error("connection lost during COMMIT, outcome unknown: {0}")]
    AmbiguousCommit(String),
    /// No pooled connection became available within the connect timeout. Retryable.
    #[error("timed out waiting for a connection: {0}")]
    CheckoutTimeout(String),
    /// A statement ran past the statement timeout (SQLSTATE 57014, or a cancel). Not
    /// retryable: the same statement would run as long again.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The database reported an error.
    #[error("database error{}: {message}", .code.as_deref().map(|c| format!(" [SQLSTATE {c}]")).unwrap_or_default())]
    Database {
        /// SQLSTATE code when the server sent one.
        code: Option<String>,
        /// Server message.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Why a TLS connection was refused ([`Error::Tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server does not offer TLS, and `sslmode` (`require`, `verify-ca`, `verify-full`)
    /// does not fall back to plaintext.
    NotOffered,
    /// The server's certificate does not chain to a root in `sslrootcert` (another
    /// certificate authority, or a self-signed certificate).
    UntrustedCertificate,
    /// The certificate chains to a trusted root but is not valid for the host name
    /// connected to (`sslmode=verify-full`).
    HostMismatch,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// Any other failure of the TLS handshake.
    Handshake,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotOffered => "server does not offer TLS",
            Self::UntrustedCertificate => "untrusted server certificate",
            Self::HostMismatch => "certificate not valid for the host name",
            Self::Expired => "certificate expired or not yet valid",
            Self::Handshake => "handshake failed",
        })
    }
}

fn display_intervals(intervals: &[Interval]) -> String {
    if intervals.is_empty() {
        return "none".to_owned();
    }
    intervals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLSTATE codes after which repeating the same transaction can succeed: the
/// transaction was rolled back for reasons of other sessions or of the server's state,
/// not of its own content. A statement timeout (57014) is not among them.
pub const RETRYABLE_SQLSTATES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "55P03", // lock_not_available
    "57P01", // admin_shutdown
    "57P03", // cannot_connect_now
    "53300", // too_many_connections
];

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInterval { .. } | Self::Validation(_) | Self::InvalidArgument { .. } => {
                ErrorKind::InvalidInput
            }
            Self::BatchTooLarge { .. } => ErrorKind::BatchTooLarge,
            Self::UnsupportedInterval { .. } => ErrorKind::UnsupportedInterval,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Config(_) => ErrorKind::Config,
            Self::Unconfirmed { .. } => ErrorKind::Unconfirmed,
            Self::Connection(_) | Self::ConnectionLost(_) | Self::Tls { .. } => {
                ErrorKind::Connection
            }
            Self::AmbiguousCommit(_) => ErrorKind::AmbiguousCommit,
            Self::CheckoutTimeout(_) | Self::Timeout(_) => ErrorKind::Timeout,
            Self::Database { .. } => ErrorKind::Database,
            Self::Other(_) => ErrorKind::Other,
        }
    }

    /// Whether repeating the same call unchanged may succeed: exactly a database error whose
    /// SQLSTATE is one of [`RETRYABLE_SQLSTATES`] (serialization failure, deadlock, lock not
    /// available, admin shutdown, cannot connect now, too many connections), a pool
    /// checkout timeout ([`Error::CheckoutTimeout`]), a connection lost before the commit
    /// was sent ([`Error::ConnectionLost`]) and an ambiguous commit
    /// ([`Error::AmbiguousCommit`], safe to repeat for idempotent work, as every store
    /// write is). A statement timeout, a refused connection and bad input are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::ConnectionLost(_) | Self::AmbiguousCommit(_) | Self::CheckoutTimeout(_) => true,
            Self::Database {
                code: Some(code), ..
            } => RETRYABLE_SQLSTATES.contains(&code.as_str()),
            _ => false,
        }
    }

    /// What made this error retryable, as the store's retry counters name it: the SQLSTATE,
    /// or `connection-lost`, `ambiguous-commit`, `checkout-timeout`; `None` when it is not
    /// retryable.
    pub fn retry_reason(&self) -> Option<&str> {
        match self {
            Self::ConnectionLost(_) => Some("connection-lost"),
            Self::AmbiguousCommit(_) => Some("ambiguous-commit"),
            Self::CheckoutTimeout(_) => Some("checkout-timeout"),
            Self::Database {
                code: Some(code), ..
            } if RETRYABLE_SQLSTATES.contains(&code.as_str()) => Some(code),
            _ => None,
        }
    }

    /// The validation details when this is a validation error.
    pub fn as_validation(&self) -> Option<&ValidationError> {
        match self {
            Self::Validation(v) => Some(v),
            _ => None,
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid_argument(argument: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_follows_sqlstate() {
        let e = Error::Database {
            code: Some("40001".into()),
            message: "could not serialize".into(),
        };
        assert!(e.is_retryable());
        assert_eq!(e.kind(), ErrorKind::Database);
        let e = Error::Database {
            code: Some("23514".into()),
            message: "check violation".into(),
        };
        assert!(!e.is_retryable());
        for code in RETRYABLE_SQLSTATES {
            let e = Error::Database {
                code: Some((*code).into()),
                message: String::new(),
            };
            assert!(e.is_retryable(), "{code}");
            assert_eq!(e.retry_reason(), Some(*code));
        }
        let statement_timeout = Error::Database {
            code: Some("57014".into()),
            message: "canceling statement due to statement timeout".into(),
        };
        assert!(!statement_timeout.is_retryable());
        assert!(!Error::Timeout("statement".into()).is_retryable());
        assert!(Error::CheckoutTimeout("pool".into()).is_retryable());
        assert!(Error::ConnectionLost("eof".into()).is_retryable());
        assert!(!Error::Connection("refused".into()).is_retryable());
        let ambiguous = Error::AmbiguousCommit("eof".into());
        assert!(ambiguous.is_retryable());
        assert_eq!(ambiguous.kind(), ErrorKind::AmbiguousCommit);
        assert_eq!(ambiguous.retry_reason(), Some("ambiguous-commit"));
        assert!(!Error::invalid_argument("range", "empty").is_retryable());
        assert_eq!(
            Error::invalid_argument("range", "empty").retry_reason(),
            None
        );
    }
}
