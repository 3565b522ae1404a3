//! Mapping diesel, diesel-async and bb8 errors onto the core error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use marketseries_core::Error;

/// Converts a diesel error (reads and the maintenance that runs on the diesel pool). diesel
/// 2.3 exposes no SQLSTATE, so codes are recovered from the error kind where diesel has one;
/// a statement timeout is recognised by its message (the launcher and recommended setups run
/// with `lc_messages = 'C'`) to give it the `Timeout` kind. No code is recovered from message
/// text: nothing is retried on the strength of a message, and every statement the store
/// retries runs on its `tokio-postgres` clients ([`crate::pg_error`]).
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
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    return Error::ConnectionLost(message)
                }
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
        bb8::RunError::TimedOut => Error::CheckoutTimeout(
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
