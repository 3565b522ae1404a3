//! Candle files: generic, Binance kline and Yahoo layouts.

use std::hash::{DefaultHasher, Hash};
use std::path::Path;

use chrono::{DateTime, Utc};
use csv::StringRecord;
use marketseries_core::validate::validate_candle;
use marketseries_core::{Candle, Dataset, Interval, Records, TimeSeriesStore};
use rust_decimal::Decimal;

use super::detect::{self, CandleColumns, CandleLayout};
use super::times::TimeReader;
use super::{check_width, take, RecordFormat, WriteFuture};
use crate::error::{CliError, CliResult};
use crate::parse::{self, FieldError, TimeForm};

/// Where a value common to the whole file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source<T> {
    /// A column of each row.
    Column(usize),
    /// The command line (or the file name).
    Fixed(T),
}

/// How to read candles from one file.
#[derive(Debug)]
pub struct CandleFormat {
    columns: CandleColumns,
    symbol: Source<String>,
    interval: Source<Interval>,
    times: TimeReader,
}

/// Binance names its exports `SYMBOL-INTERVAL-YEAR-MONTH[-DAY].csv`
/// (e.g. `BTCUSDT-1m-2024-03-01.csv`); the symbol and interval are then known without
/// flags.
fn binance_file_name(path: &Path) -> Option<(String, Interval)> {
    let stem = path.file_stem()?.to_str()?;
    let mut parts = stem.split('-');
    let symbol = parts.next()?;
    let interval: Interval = parts.next()?.parse().ok()?;
    let date: Vec<&str> = parts.collect();
    let dated = !date.is_empty()
        && date
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let symbol_ok = !symbol.is_empty() && symbol.bytes().all(|b| b.is_ascii_alphanumeric());
    (dated && symbol_ok).then(|| (symbol.to_owned(), interval))
}

/// Checks a `--symbol` once, up front, rather than failing every line with the same
/// message: a candle that is valid apart from the symbol is run through core validation.
fn check_symbol(symbol: &str) -> CliResult<()> {
    let probe = Candle {
        symbol: symbol.to_owned(),
        interval: Interval::M1,
        time: DateTime::UNIX_EPOCH,
        open: Decimal::ONE,
        high: Decimal::ONE,
        low: Decimal::ONE,
        close: Decimal::ONE,
        volume: Decimal::ZERO,
    };
    validate_candle(&probe)
        .map_err(|e| CliError::usage(format!("--symbol {symbol:?}: {}", e.problem)))
}

impl CandleFormat {
    /// Recognises the layout from line 1 and settles where symbol and interval come from:
    /// the file's columns, else `--symbol`/`--interval`, else (Binance) the file name.
    /// Returns the format and a note for stderr when something was inferred.
    ///
    /// # Errors
    /// An unrecognised header; a flag given for a file that has the column; symbol or
    /// interval not known from any source.
    pub fn new(
        first: &StringRecord,
        path: &Path,
        symbol: Option<&str>,
        interval: Option<Interval>,
    ) -> CliResult<(Self, String)> {
        let columns = detect::candle_columns(first)
            .map_err(|m| CliError::invalid(format!("{}: {m}", path.display())))?;
        Self::settle(columns, path, symbol, interval)
    }

    /// [`CandleFormat::new`], or with `--columns` mappings (`field=Column`) the columns
    /// they name instead of detection.
    ///
    /// # Errors
    /// As [`CandleFormat::new`]; a mapping that names an unknown field or a column the
    /// header lacks, or leaves a required field out (usage errors).
    pub fn with_columns(
        first: &StringRecord,
        path: &Path,
        symbol: Option<&str>,
        interval: Option<Interval>,
        mapping: &[String],
    ) -> CliResult<(Self, String)> {
        if mapping.is_empty() {
            return Self::new(first, path, symbol, interval);
        }
        let columns = detect::mapped_columns(first, mapping)
            .map_err(|m| CliError::usage(format!("--columns: {m}")))?;
        Self::settle(columns, path, symbol, interval)
    }

    /// Where symbol and interval come from, given the columns.
    fn settle(
        columns: CandleColumns,
        path: &Path,
        symbol: Option<&str>,
        interval: Option<Interval>,
    ) -> CliResult<(Self, String)> {
        let from_name = if columns.layout == CandleLayout::Binance {
            binance_file_name(path)
        } else {
            None
        };
        let mut inferred = Vec::new();
        let symbol = match (columns.symbol, symbol) {
            (Some(_), Some(_)) => {
                return Err(CliError::usage(format!(
                    "{} has a `symbol` column; --symbol is only for files without one",
                    path.display()
                )))
            }
            (Some(i), None) => Source::Column(i),
            (None, Some(s)) => {
                check_symbol(s)?;
                Source::Fixed(s.to_owned())
            }
            (None, None) => match &from_name {
                Some((s, _)) => {
                    inferred.push(format!("symbol {s}"));
                    Source::Fixed(s.clone())
                }
                None => {
                    return Err(CliError::usage(format!(
                        "{} ({} layout) has no `symbol` column: pass --symbol",
                        path.display(),
                        columns.layout.name()
                    )))
                }
            },
        };
        let interval = match (columns.interval, interval) {
            (Some(_), Some(_)) => {
                return Err(CliError::usage(format!(
                    "{} has an `interval` column; --interval is only for files without one",
                    path.display()
                )))
            }
            (Some(i), None) => Source::Column(i),
            (None, Some(iv)) => Source::Fixed(iv),
            (None, None) => match &from_name {
                Some((_, iv)) => {
                    inferred.push(format!("interval {iv}"));
                    Source::Fixed(*iv)
                }
                None => {
                    return Err(CliError::usage(format!(
                        "{} ({} layout) has no `interval` column: pass --interval",
                        path.display(),
                        columns.layout.name()
                    )))
                }
            },
        };
        let mut note = format!("format: {}", columns.layout.name());
        if !inferred.is_empty() {
            note.push_str(&format!(" ({} from the file name)", inferred.join(", ")));
        }
        Ok((
            Self {
                columns,
                symbol,
                interval,
                times: TimeReader::default(),
            },
            note,
        ))
    }

    /// Reads the time column as this layout requires.
    fn time(&self, text: &str) -> Result<DateTime<Utc>, FieldError> {
        let parsed = self
            .times
            .read(text)
            .map_err(|reason| FieldError::new("time", reason))?;
        match (self.columns.layout, parsed.form) {
            (CandleLayout::Binance, form) if !matches!(form, TimeForm::Epoch(_)) => {
                Err(FieldError::new(
                    "time",
                    format!(
                        "{text:?} is not an epoch open time (Binance exports use milliseconds)"
                    ),
                ))
            }
            // Yahoo writes exchange-local times; without the offset the instant is unknown.
            (CandleLayout::Yahoo, TimeForm::Naive) if !self.times.zone_given() => {
                Err(FieldError::new(
                    "time",
                    format!(
                        "{text:?} has no UTC offset (Yahoo-style times carry one, \
                         e.g. 2024-03-01 00:00:00+00:00; or pass --timezone)"
                    ),
                ))
            }
            _ => Ok(parsed.time),
        }
    }
}

impl RecordFormat for CandleFormat {
    fn times(&self) -> &TimeReader {
        &self.times
    }

    fn times_mut(&mut self) -> &mut TimeReader {
        &mut self.times
    }

    type Record = Candle;
    const NOUN: (&'static str, &'static str) = ("candle", "candles");
    const GROUP_NOUN: (&'static str, &'static str) = ("symbol", "symbols");

    fn has_header(&self) -> bool {
        self.columns.has_header
    }

    fn parse(&self, row: &StringRecord, errors: &mut Vec<FieldError>) -> Option<Candle> {
        take(
            check_width(row, self.columns.width, self.columns.min_width()),
            errors,
        )?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let [t, o, h, l, c, v] = self.columns.ohlcv;
        // Every field is parsed even after a failure, so one line reports all its problems.
        let time = take(self.time(field(t)), errors);
        let open = take(parse::decimal("open", field(o)), errors);
        let high = take(parse::decimal("high", field(h)), errors);
        let low = take(parse::decimal("low", field(l)), errors);
        let close = take(parse::decimal("close", field(c)), errors);
        let volume = take(parse::decimal("volume", field(v)), errors);
        let symbol = match &self.symbol {
            Source::Column(i) => field(*i).to_owned(),
            Source::Fixed(s) => s.clone(),
        };
        let interval = match self.interval {
            Source::Column(i) => take(
                field(i)
                    .parse::<Interval>()
                    .map_err(|e| FieldError::new("interval", e.to_string())),
                errors,
            ),
            Source::Fixed(iv) => Some(iv),
        };
        let candle = Candle {
            symbol,
            interval: interval?,
            time: time?,
            open: open?,
            high: high?,
            low: low?,
            close: close?,
            volume: volume?,
        };
        take(validate_candle(&candle).map_err(FieldError::from), errors)?;
        Some(candle)
    }

    const DATASET: Dataset = Dataset::Price;

    fn time(record: &Candle) -> DateTime<Utc> {
        record.time
    }

    fn group(record: &Candle) -> &str {
        &record.symbol
    }

    fn hash_value(record: &Candle, state: &mut DefaultHasher) {
        (
            record.open,
            record.high,
            record.low,
            record.close,
            record.volume,
        )
            .hash(state);
    }

    fn records(batch: Vec<Candle>) -> Records {
        Records::Candles(batch)
    }

    fn hash_key(record: &Candle, state: &mut DefaultHasher) {
        (&record.symbol, record.interval.seconds(), record.time).hash(state);
    }

    fn store<'a>(store: &'a dyn TimeSeriesStore, batch: &'a [Candle]) -> WriteFuture<'a> {
        store.store_candles(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rec(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    fn format(header: &str, symbol: Option<&str>, interval: Option<&str>) -> CandleFormat {
        CandleFormat::new(
            &rec(header),
            Path::new("x.csv"),
            symbol,
            interval.map(|i| i.parse().unwrap()),
        )
        .unwrap()
        .0
    }

    fn parse_line(f: &CandleFormat, line: &str) -> Result<Candle, Vec<String>> {
        let mut errors = Vec::new();
        f.parse(&rec(line), &mut errors)
            .ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    const GENERIC: &str = "time,symbol,interval,open,high,low,close,volume";

    #[test]
    fn generic_row_is_exact() {
        let f = format(GENERIC, None, None);
        let c = parse_line(
            &f,
            "2024-03-01T00:00:00Z,BTCUSDT,1m,61000.10,61100.00,60900.5,61050.25,12.34500000",
        )
        .unwrap();
        assert_eq!(c.open.to_string(), "61000.10");
        assert_eq!(c.volume.to_string(), "12.34500000");
        assert_eq!(c.interval, Interval::M1);
        assert_eq!(c.time.timestamp(), 1_709_251_200);
    }

    #[test]
    fn every_problem_of_a_line_is_reported() {
        let f = format(GENERIC, None, None);
        let errs = parse_line(&f, "yesterday,BTCUSDT,1m,NaN,61100,60900,61050,inf").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("time: "));
        assert!(errs[1].starts_with("open: must be a finite number"));
        assert!(errs[2].starts_with("volume: must be a finite number"));
        let errs = parse_line(&f, "1709251200,BTCUSDT,1m,10,8,9,9,1").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("high: "), "{errs:?}");
        let errs = parse_line(&f, "1709251200,BTCUSDT,1m,10").unwrap_err();
        assert!(errs[0].starts_with("row: expected 8 fields"), "{errs:?}");
    }

    #[test]
    fn flags_and_columns() {
        let e =
            CandleFormat::new(&rec(GENERIC), Path::new("x.csv"), Some("BTC"), None).unwrap_err();
        assert_eq!(e.code, 2);
        let yahoo = "Datetime,Open,High,Low,Close,Adj Close,Volume";
        let e = CandleFormat::new(&rec(yahoo), Path::new("x.csv"), Some("BTC"), None).unwrap_err();
        assert!(e.to_string().contains("--interval"), "{e}");
        let e = CandleFormat::new(&rec(yahoo), Path::new("x.csv"), Some("a b"), None).unwrap_err();
        assert!(e.to_string().contains("--symbol"), "{e}");
    }

    #[test]
    fn yahoo_requires_offsets() {
        let f = format(
            "Datetime,Open,High,Low,Close,Adj Close,Volume",
            Some("BTC-USD"),
            Some("1h"),
        );
        let c = parse_line(&f, "2024-03-01 01:00:00+01:00,10,11,9,10.5,10.5,100").unwrap();
        assert_eq!(c.time.timestamp(), 1_709_251_200);
        let errs = parse_line(&f, "2024-03-01 01:00:00,10,11,9,10.5,10.5,100").unwrap_err();
        assert!(errs[0].contains("no UTC offset"), "{errs:?}");
    }

    #[test]
    fn binance_names_and_epochs() {
        assert_eq!(
            binance_file_name(&PathBuf::from("/data/BTCUSDT-1m-2024-03-01.csv")),
            Some(("BTCUSDT".to_owned(), Interval::M1))
        );
        assert_eq!(binance_file_name(Path::new("candles.csv")), None);
        let (f, note) = CandleFormat::new(
            &rec("1709251200000,1,1,1,1,0,1709251259999,0,0,0,0,0"),
            Path::new("ETHUSDT-1h-2024-03.csv"),
            None,
            None,
        )
        .unwrap();
        assert!(note.contains("symbol ETHUSDT, interval 1h"), "{note}");
        assert!(!f.has_header());
        let c = parse_line(&f, "1709251200000000,2,3,1,2,5,0,0,0,0,0,0").unwrap();
        assert_eq!(
            (c.symbol.as_str(), c.time.timestamp()),
            ("ETHUSDT", 1_709_251_200)
        );
        let errs = parse_line(&f, "2024-03-01,2,3,1,2,5,0,0,0,0,0,0").unwrap_err();
        assert!(errs[0].contains("epoch"), "{errs:?}");
    }
}
