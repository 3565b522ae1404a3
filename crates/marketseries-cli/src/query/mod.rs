//! The question commands (`change`, `range`, `volume-profile`, `symbols`, `sentiment ...`,
//! `flows ...`): their shared options (a time range, a window ending now or at `--at`)
//! and one way of printing an answer as a table, CSV or JSON.

pub mod flows;
pub mod price;
pub mod sentiment;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use marketseries_core::{Clock, SystemClock, TimeRange};
use serde::Serialize;

use crate::cli::ReportFormat;
use crate::commands::{print, render};
use crate::error::CliResult;
use crate::output;

/// A time range: `--from`/`--to`, or `--last` ending at `--at` (default: now). Without
/// any, the last 24 hours.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Start (inclusive): RFC 3339, a date, or epoch seconds/ms.
    #[arg(long, value_parser = crate::parse::time_arg, requires = "to")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive).
    #[arg(long, value_parser = crate::parse::time_arg, requires = "from")]
    pub to: Option<DateTime<Utc>>,
    /// The range as a length ending at `--at` (or now): `24h`, `7d`, `90m` [default: 24h].
    #[arg(long, value_parser = crate::parse::duration, conflicts_with_all = ["from", "to"])]
    pub last: Option<TimeDelta>,
    /// Where `--last` ends, instead of now (backtests).
    #[arg(long, value_parser = crate::parse::time_arg, conflicts_with_all = ["from", "to"])]
    pub at: Option<DateTime<Utc>>,
}

impl RangeArgs {
    /// The range asked for, by the system clock where it is relative.
    ///
    /// # Errors
    /// An empty or inverted range, or one beyond the supported span (exit code 3).
    pub fn range(&self) -> CliResult<TimeRange> {
        Ok(match (self.from, self.to) {
            (Some(from), Some(to)) => TimeRange::new(from, to)?,
            _ => TimeRange::last(
                self.at.unwrap_or_else(|| SystemClock.now()),
                self.last.unwrap_or_else(|| TimeDelta::hours(24)),
            )?,
        })
    }
}

/// A window ending now (the store's clock) or at `--at`.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Length of the window: `24h`, `7d`, `90m`.
    #[arg(long, default_value = "24h", value_parser = crate::parse::duration)]
    pub last: TimeDelta,
    /// As of this instant instead of now (backtests): the window is `[at - last, at)`.
    #[arg(long, value_parser = crate::parse::time_arg)]
    pub at: Option<DateTime<Utc>>,
}

/// An answer ready to print: the value for JSON, and the rows for a table and CSV.
pub struct Answer<'a, T: Serialize + ?Sized> {
    /// What `--format json` prints (one document).
    pub json: &'a T,
    /// Column names (CSV header, table header).
    pub headers: &'a [&'a str],
    /// Which columns are numbers (right-aligned in a table).
    pub numeric: &'a [bool],
    /// One row per record, cells as printed.
    pub rows: Vec<Vec<String>>,
    /// What a table says instead of an empty one (CSV prints the header alone, JSON the
    /// empty value).
    pub empty: String,
}

impl<T: Serialize + ?Sized> Answer<'_, T> {
    /// Prints the answer in `format` on stdout.
    ///
    /// # Errors
    /// Writing to stdout failed (a closed pipe ends quietly).
    pub fn print(self, format: ReportFormat) -> CliResult {
        match format {
            ReportFormat::Json => render(|out| {
                serde_json::to_writer_pretty(&mut *out, self.json)?;
                writeln!(out)
            }),
            ReportFormat::Csv => render(|out| output::csv(out, self.headers, &self.rows)),
            ReportFormat::Table if self.rows.is_empty() => print(&format!("{}\n", self.empty)),
            ReportFormat::Table => {
                render(|out| output::table(out, self.headers, &self.rows, self.numeric))
            }
        }
    }
}

/// `-` for a value that is absent.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `[from, to)` as printed in "nothing found" lines.
pub fn shown(range: TimeRange) -> String {
    format!(
        "[{}, {})",
        crate::parse::format_time(range.from()),
        crate::parse::format_time(range.to())
    )
}
