//! The command's error type: a message for `error: ...` and an exit code.
//!
//! Exit codes: 0 success, 1 other failures, 2 usage ([`EXIT_USAGE`], clap's), 3 invalid
//! input ([`EXIT_INVALID_INPUT`]), 4 database or connection ([`EXIT_DATABASE`]).

use std::fmt;
use std::io;

use marketseries_core::ErrorKind;

/// Exit code for failures that are none of the below.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage errors, matching clap's.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for invalid input: a bad file, record, range, interval or value.
pub const EXIT_INVALID_INPUT: u8 = 3;
/// Exit code for database and connection errors (unreachable, TLS, timeout, the server
/// refused a statement).
pub const EXIT_DATABASE: u8 = 4;

/// Why a command failed.
#[derive(Debug)]
pub struct CliError {
    /// What to print after `error: `; `None` prints nothing (a closed output pipe is not
    /// worth a message).
    pub message: Option<String>,
    /// Process exit code.
    pub code: u8,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            code: EXIT_FAILURE,
        }
    }

    /// Invalid input (exit code 3): a bad file, record or value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            code: EXIT_INVALID_INPUT,
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            code: EXIT_USAGE,
        }
    }

    /// An error writing to stdout. A reader that went away (`marketseries ohlcv ... |
    /// head`) ends the command quietly and successfully, as other Unix tools do.
    pub fn output(e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self {
                message: None,
                code: 0,
            }
        } else {
            Self::failed(format!("cannot write output: {e}"))
        }
    }
}

impl From<marketseries_core::Error> for CliError {
    fn from(e: marketseries_core::Error) -> Self {
        let mut message = e.to_string();
        // The one mistake every new user makes; the server's wording alone does not say
        // what to do about it. A write into a database nobody migrated meets a missing
        // function first (undefined_function), a read a missing table (undefined_table).
        let unmigrated = match &e {
            marketseries_core::Error::Database {
                code: Some(code), ..
            } => code == "42P01" || code == "42883",
            _ => false,
        };
        if unmigrated
            || e.kind() == ErrorKind::Database
                && message.contains("relation")
                && message.contains("does not exist")
        {
            message.push_str(" (has `marketseries migrate` been run on this database?)");
        }
        Self {
            message: Some(message),
            code: exit_code(e.kind()),
        }
    }
}

/// The exit code of a library error of `kind`.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput
        | ErrorKind::BatchTooLarge
        | ErrorKind::UnsupportedInterval
        | ErrorKind::Config => EXIT_INVALID_INPUT,
        ErrorKind::Connection
        | ErrorKind::AmbiguousCommit
        | ErrorKind::Timeout
        | ErrorKind::Database => EXIT_DATABASE,
        // Unsupported, unconfirmed, other, and kinds added later.
        _ => EXIT_FAILURE,
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or(""))
    }
}

/// Result alias for command handlers.
pub type CliResult<T = ()> = Result<T, CliError>;
