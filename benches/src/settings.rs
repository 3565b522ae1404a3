//! What one benchmark run measures, from `MARKETSERIES_BENCH_*` variables (set by
//! `cargo xtask bench` from its options; criterion's own options go on the command line).

use std::path::PathBuf;
use std::str::FromStr;

use crate::target::TargetKind;

/// Days of one-minute candles at scale 1 (the seed's 90 days).
pub const DAYS_PER_SCALE: u32 = 90;
/// Symbols by default (the seed's 10).
pub const SYMBOLS: usize = 10;
/// The growth run multiplies the days by this much (DESIGN §5: "at 4x the data").
pub const GROWTH_FACTOR: u32 = 4;
/// Symbols of the wide market overview (DESIGN §5: "10 and 100 symbols").
pub const WIDE_SYMBOLS: usize = 100;

/// The settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Multiplies the days of the main run (`--scale N`; 4 is a year).
    pub scale: u32,
    /// Symbols of the main and growth runs (`--symbols K`).
    pub symbols: usize,
    /// `--quick`: tiny data, every operation once, no criterion (CI: does every code path
    /// work and answer like the Rust API?). Its times are no performance figures.
    pub quick: bool,
    /// Whether to run the growth comparison (scale x [`GROWTH_FACTOR`]) and the wide
    /// overview (`--no-growth` turns both off).
    pub growth: bool,
    /// Targets to measure, in order (`--targets plain,postgres,timescale`).
    pub targets: Vec<TargetKind>,
    /// Where the report, the results and the import file go (`target/bench`).
    pub out_dir: PathBuf,
    /// The `marketseries` binary for the CLI import comparison; none skips it.
    pub cli: Option<PathBuf>,
    /// The `psql` binary for the CLI import comparison.
    pub psql: PathBuf,
}

/// A `MARKETSERIES_BENCH_*` variable that does not parse.
#[derive(Debug)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T>(name: &str, default: T, min: T) -> Result<T, SettingsError>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(text) = var(name) else {
        return Ok(default);
    };
    match text.trim().parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(SettingsError(format!(
            "{name}={text:?}: expected a whole number >= {min}"
        ))),
    }
}

fn flag(name: &str) -> Result<bool, SettingsError> {
    match var(name).as_deref().map(str::trim) {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(other) => Err(SettingsError(format!("{name}={other:?}: expected 1 or 0"))),
    }
}

impl Settings {
    /// Reads the run's settings.
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `MARKETSERIES_BENCH_SCALE` | days multiplier of the main run | 1 (90 days) |
    /// | `MARKETSERIES_BENCH_SYMBOLS` | symbols | 10 |
    /// | `MARKETSERIES_BENCH_QUICK` | `1`: quick mode | 0 |
    /// | `MARKETSERIES_BENCH_GROWTH` | `0`: no growth run and no wide overview | 1 |
    /// | `MARKETSERIES_BENCH_TARGETS` | comma-separated targets | `plain,postgres,timescale` |
    /// | `MARKETSERIES_BENCH_OUT` | output directory | `target/bench` |
    /// | `MARKETSERIES_BENCH_CLI` | `marketseries` binary for the import comparison | none |
    /// | `MARKETSERIES_BENCH_PSQL` | `psql` binary | `psql` |
    ///
    /// # Errors
    /// A variable that does not parse, named in the message.
    pub fn from_env() -> Result<Self, SettingsError> {
        let targets = match var("MARKETSERIES_BENCH_TARGETS") {
            None => TargetKind::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(|t| {
                    t.trim().parse().map_err(|_| {
                        SettingsError(format!(
                            "MARKETSERIES_BENCH_TARGETS: unknown target {t:?} (expected plain, postgres or timescale)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let growth = var("MARKETSERIES_BENCH_GROWTH").is_none_or(|v| v.trim() != "0");
        Ok(Self {
            scale: number("MARKETSERIES_BENCH_SCALE", 1, 1)?,
            symbols: number("MARKETSERIES_BENCH_SYMBOLS", SYMBOLS, 1)?,
            quick: flag("MARKETSERIES_BENCH_QUICK")?,
            growth,
            targets,
            out_dir: var("MARKETSERIES_BENCH_OUT")
                .map_or_else(|| PathBuf::from("target/bench"), PathBuf::from),
            cli: var("MARKETSERIES_BENCH_CLI").map(PathBuf::from),
            psql: var("MARKETSERIES_BENCH_PSQL")
                .map_or_else(|| PathBuf::from("psql"), PathBuf::from),
        })
    }

    /// Days of candles at `scale` (quick mode: 2 days per scale step, enough for every
    /// window the operations read to hold data).
    pub fn days(&self, scale: u32) -> u32 {
        if self.quick {
            2 * scale
        } else {
            DAYS_PER_SCALE * scale
        }
    }

    /// Symbols of the main runs (quick mode: at most 3).
    pub fn main_symbols(&self) -> usize {
        if self.quick {
            self.symbols.min(3)
        } else {
            self.symbols
        }
    }

    /// Days of the wide overview's data (100 symbols).
    pub fn wide_days(&self) -> u32 {
        if self.quick {
            1
        } else {
            2
        }
    }
}
