//! Mapping diesel, diesel-async and bb8 errors onto the core error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use marketseries_core::Error;

/// Converts a diesel error. diesel 2.3 exposes no SQLSTATE, so codes are recovered from the
/// error kind, and for the retryable cases diesel does not classify, from the message
/// (the launcher and recommended setups run with `lc_messages = 'C'`).
pub fn db(e: DieselError) -> Error {
    match e {
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_owned();
            let code = match kind {
                DatabaseErrorKind::UniqueViolation => Some("23505"),
                DatabaseErrorKind::ForeignKeyViolation => Some("23503"),
                DatabaseErrorKind::NotNullViolation => Some("23502"),
                DatabaseErrorKind::CheckViolation => Some("23514"),
                DatabaseErrorKind::SerializationFailure => Some("40001"),
                DatabaseErrorKind::ReadOnlyTransaction => Some("25006"),
                DatabaseErrorKind::ClosedConnection => return Error::Connection(message),
                _ if message.starts_with("deadlock detected") => Some("40P01"),
                _ if message.starts_with("canceling statement due to lock timeout")
                    || message.starts_with("could not obtain lock") =>
                {
                    Some("55P03")
                }
                // TimescaleDB's "could not refresh continuous aggregate ... due to a
                // concurrent refresh" (ERRCODE_LOCK_NOT_AVAILABLE).
                _ if message.contains("due to a concurrent refresh") => Some("55P03"),
                // TimescaleDB's "chunk ... is already compressed" (ERRCODE_DUPLICATE_OBJECT):
                // a compression job got to the chunk first.
                _ if message.contains("is already compressed") => Some("42710"),
                _ if message.starts_with("canceling statement due to statement timeout") => {
                    return Error::Timeout(message);
                }
                _ => None,
            };
            Error::Database {
                code: code.map(str::to_owned),
                message,
            }
        }
        other => Error::Database {
            code: None,
            message: other.to_string(),
        },
    }
}

/// Converts a pool checkout error.
pub(crate) fn pool(e: bb8::RunError<PoolError>) -> Error {
    match e {
        bb8::RunError::TimedOut => Error::Timeout(
            "no database connection became available within the connect timeout \
             (is the server reachable?)"
                .to_owned(),
        ),
        bb8::RunError::User(PoolError::ConnectionError(e)) => Error::Connection(e.to_string()),
        bb8::RunError::User(PoolError::QueryError(e)) => db(e),
    }
}

/// A core error raised inside a diesel transaction closure (whose error type must convert
/// from diesel's): the transaction rolls back and the core error comes out unchanged.
#[derive(Debug)]
pub(crate) struct TxError(pub(crate) Error);

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self(db(e))
    }
}
