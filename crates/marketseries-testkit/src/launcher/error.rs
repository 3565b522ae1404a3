//! The launcher's error type.

use std::path::PathBuf;

use super::ServerKind;

/// Why a throwaway database server or database could not be provided.
///
/// Every variant names what failed; the ones about a running server also carry the
/// last lines of that server's log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// A program or system facility the launcher needs is not installed.
    #[error(
        "missing prerequisite: {what}; {}, or point DATABASE_URL / TIMESCALEDB_URL at an \
         existing server",
        install_advice(.install_hint)
    )]
    MissingPrerequisite {
        /// What is missing, e.g. "PostgreSQL server binaries (initdb, pg_ctl, postgres)".
        what: String,
        /// The Debian package that provides it, e.g. "postgresql-15", "nodejs", "npm"; or,
        /// when no Debian package does (a native TimescaleDB for PostgreSQL 15), a phrase
        /// saying how to get it.
        install_hint: String,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the launcher was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An external command (initdb, pg_ctl, npm, ...) exited unsuccessfully.
    #[error("`{command}` failed ({status})\n--- its output ---\n{output}")]
    Command {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: String,
        /// The tail of its combined standard output and standard error.
        output: String,
    },

    /// A server could not be started, or started but did not answer.
    #[error("the {kind} server did not start: {reason}\n--- last lines of {} ---\n{log_tail}", .log.display())]
    Startup {
        /// Which server.
        kind: ServerKind,
        /// What went wrong.
        reason: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// A server this launcher started could not be stopped.
    #[error("could not stop the {kind} server: {reason}\n--- last lines of {} ---\n{log_tail}", .log.display())]
    Stop {
        /// Which server.
        kind: ServerKind,
        /// What went wrong.
        reason: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// Connecting to a server or running a statement on it failed.
    #[error("{context}: {detail}{}", tail_suffix(.log_tail))]
    Sql {
        /// What the launcher was doing, including the server URL.
        context: String,
        /// The full error text, including the database's message, detail and hint.
        detail: String,
        /// The last lines of the server's log (empty for external servers).
        log_tail: String,
        /// The underlying client error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A server did not answer in time.
    #[error("{context}: no answer within {seconds} s{}", tail_suffix(.log_tail))]
    Timeout {
        /// What the launcher was waiting for.
        context: String,
        /// How long it waited.
        seconds: u64,
        /// The last lines of the server's log (empty for external servers).
        log_tail: String,
    },

    /// A launcher state file could not be read or understood.
    #[error("launcher state file {}: {reason}", .path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A launcher setting taken from the environment (such as
    /// `MARKETSERIES_TIMESCALEDB`) has a value the launcher does not accept.
    #[error("{var}={value:?} is not accepted; use one of: {accepted}")]
    InvalidSetting {
        /// The environment variable.
        var: String,
        /// The value it has.
        value: String,
        /// The values it accepts, e.g. "auto, embedded, native (any case; unset or empty = auto)".
        accepted: String,
    },

    /// `DATABASE_URL` / `TIMESCALEDB_URL` is set but unusable.
    #[error("{var} is not a usable PostgreSQL connection string: {reason}")]
    InvalidUrl {
        /// The environment variable.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// "install the Debian package `x` (apt-get install x)" for a package name, else the hint
/// itself (a phrase such as "build TimescaleDB from source").
fn install_advice(install_hint: &str) -> String {
    if install_hint.contains(char::is_whitespace) {
        install_hint.to_owned()
    } else {
        format!("install the Debian package `{install_hint}` (apt-get install {install_hint})")
    }
}

fn tail_suffix(log_tail: &str) -> String {
    if log_tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- last lines of the server log ---\n{log_tail}")
    }
}

impl LaunchError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn sql(
        context: impl Into<String>,
        source: tokio_postgres::Error,
        log_tail: String,
    ) -> Self {
        Self::Sql {
            context: context.into(),
            detail: pg_error_text(&source),
            log_tail,
            source,
        }
    }
}

/// Renders a client error with its whole cause chain (tokio-postgres' `Display` shows
/// only the outermost kind, e.g. "db error").
pub(crate) fn pg_error_text(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
