//! The `marketseries` command: migrate a database, import candle, sentiment, flow and
//! indicator CSV files, and query OHLCV bars, latest prices, indicator values, the market
//! overview and storage stats.
//!
//! The backend is chosen by the database URL (`--url` or `MARKETSERIES_URL`); see
//! [`connect::connect`]. Errors print as `error: <message>` on stderr; exit codes are 2
//! for usage, 3 for invalid input, 4 for database or connection errors and 1 for anything
//! else (see [`error`]); the URL is never printed.
//!
//! ```text
//! export MARKETSERIES_URL=postgres://user@localhost:5432/market
//! marketseries migrate
//! marketseries import candles BTCUSDT-1m-2024-03.csv            # Binance export
//! marketseries import candles btc.csv --symbol BTC-USD --interval 1h   # Yahoo-style
//! marketseries import candles all.csv --skip-invalid --batch-size 20000
//! marketseries import sentiment sentiment.csv
//! marketseries import flows flows.csv
//! marketseries import indicators indicators.csv              # time,symbol,interval,name,value
//! marketseries ohlcv --symbol BTCUSDT --interval 4h --from 2024-03-01 --to 2024-04-01 --format csv
//! marketseries latest --symbol BTCUSDT
//! marketseries indicators series --symbol BTCUSDT --interval 1h --name rsi_14 \
//!     --from 2024-03-01 --to 2024-03-02
//! marketseries indicators latest --symbol BTCUSDT
//! marketseries indicators list --symbol BTCUSDT --format json
//! marketseries indicators at --symbol BTCUSDT --interval 1h --name rsi_14 \
//!     --at 2024-03-01T10:30:00Z
//! marketseries overview --format csv
//! marketseries change --symbol BTCUSDT --last 7d --at 2024-03-01
//! marketseries volume-profile --symbol BTCUSDT --step 500 --last 7d
//! marketseries sentiment summary --last 24h --format json
//! marketseries flows whales --min-amount 100 --last 24h
//! marketseries stats --format json
//! marketseries completions bash
//! marketseries policy show
//! marketseries policy set retention price 400d      # refused if rows would expire, unless --yes
//! marketseries maintain --retention
//! ```

// A binary has no public API: `pub` here only means "used by other modules".
#![allow(unreachable_pub)]

mod cli;
mod commands;
mod connect;
mod error;
mod import;
mod output;
mod parse;
mod policy;
mod progress;
mod query;
mod serve;
mod transfer;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::cli::Cli;
use crate::commands::Target;
use crate::connect::{ConnectOptions, DbUrl};
use crate::error::CliError;

fn main() -> ExitCode {
    // Exits with 2 on usage errors (0 for --help and --version).
    let cli = Cli::parse();
    if let cli::Command::Completions(args) = &cli.command {
        return completions(args.shell);
    }
    // `copy` names both its stores itself; a dry-run import touches no database.
    let needs_url = match &cli.command {
        cli::Command::Copy(_) => false,
        cli::Command::Import(import) => !import.dry_run(),
        _ => true,
    };
    let url = match cli.url {
        None if !needs_url => Some(DbUrl::from(String::new())),
        url => url,
    };
    let Some(url) = url else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no database URL: pass --url <URL> or set MARKETSERIES_URL",
            )
            .exit();
    };
    let url = match &cli.password_file {
        None => url,
        Some(path) => match with_password_file(&url, path) {
            Ok(url) => url,
            Err(message) => {
                let _ = writeln!(std::io::stderr(), "error: {message}");
                return ExitCode::from(error::EXIT_USAGE);
            }
        },
    };
    let target = Target {
        url,
        options: ConnectOptions {
            connect_timeout: Duration::from_secs(cli.connect_timeout.max(1)),
            backend: cli.backend,
            connections: 1,
            refresh_workers: 1,
        },
    };
    // One command does one thing at a time: a single-threaded runtime is enough.
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
        .and_then(|runtime| runtime.block_on(commands::run(cli.command, &target)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(message) = &e.message {
                // Drivers may echo the connection string; it never reaches the terminal.
                let _ = writeln!(std::io::stderr(), "error: {}", target.url.redact(message));
            }
            ExitCode::from(e.code)
        }
    }
}

/// `completions SHELL`: the script on stdout (no database needed).
fn completions(shell: cli::ShellArg) -> ExitCode {
    use clap_complete::Shell;
    let shell = match shell {
        cli::ShellArg::Bash => Shell::Bash,
        cli::ShellArg::Zsh => Shell::Zsh,
        cli::ShellArg::Fish => Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "marketseries", &mut buf);
    match std::io::stdout().write_all(&buf) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot write output: {e}");
            ExitCode::from(error::EXIT_FAILURE)
        }
    }
}

/// `url` with the password read from `path` ([`marketseries::read_password_file`]), or
/// why not (naming the file, never the password).
fn with_password_file(url: &DbUrl, path: &str) -> Result<DbUrl, String> {
    let password = marketseries::read_password_file(path).map_err(|e| e.to_string())?;
    marketseries::Config::new(url.expose())
        .with_password(&password)
        .map(|c| DbUrl::from(c.url().to_owned()))
        .map_err(|e| format!("--password-file: {e}"))
}
