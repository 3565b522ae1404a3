//! The command's error type: a message for `error: ...` and an exit code.

use std::fmt;
use std::io;

/// Exit code for failures (bad data, database errors).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage errors, matching clap's.
pub const EXIT_USAGE: u8 = 2;

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
        // what to do about it.
        if e.kind() == marketseries_core::ErrorKind::Database
            && message.contains("relation")
            && message.contains("does not exist")
        {
            message.push_str(" (has `marketseries migrate` been run on this database?)");
        }
        Self::failed(message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or(""))
    }
}

/// Result alias for command handlers.
pub type CliResult<T = ()> = Result<T, CliError>;
