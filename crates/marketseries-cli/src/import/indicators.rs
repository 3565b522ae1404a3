//! Indicator files: `time,symbol,interval,name,value` (columns in any order; `indicator`
//! may name the `name` column and `timestamp` the `time` column).

use std::hash::{DefaultHasher, Hash};
use std::path::Path;

use chrono::{DateTime, Utc};
use csv::StringRecord;
use marketseries_core::validate::validate_indicator;
use marketseries_core::{Dataset, IndicatorValue, Interval, Records, TimeSeriesStore};

use super::detect::Header;
use super::times::TimeReader;
use super::{check_width, take, RecordFormat, WriteFuture};
use crate::error::{CliError, CliResult};
use crate::parse::{self, FieldError};

/// The header `import indicators` expects.
const EXPECTED: &str = "time,symbol,interval,name,value (any order; `indicator` may stand \
                        for `name`, `timestamp` for `time`)";

/// Column positions of an indicator file.
#[derive(Debug)]
pub struct IndicatorFormat {
    width: usize,
    /// `[time, symbol, interval, name, value]`.
    columns: [usize; 5],
    times: TimeReader,
}

impl IndicatorFormat {
    /// Reads the header.
    ///
    /// # Errors
    /// A header without the required columns, or with both `name` and `indicator` (which
    /// of them names the indicator would be a guess).
    pub fn new(first: &StringRecord, path: &Path) -> CliResult<Self> {
        let header = Header::new(first);
        let shown = || first.iter().collect::<Vec<&str>>().join(",");
        let unrecognised = |why: String| {
            CliError::invalid(format!(
                "{}: unrecognised indicator header `{}` ({why}); expected {EXPECTED}",
                path.display(),
                shown(),
            ))
        };
        if header.has("name") && header.has("indicator") {
            return Err(unrecognised(
                "both `name` and `indicator` columns; keep one".to_owned(),
            ));
        }
        // `time` wins over `timestamp`, as in generic candle files.
        let time = if header.has("time") || !header.has("timestamp") {
            "time"
        } else {
            "timestamp"
        };
        let name = if header.has("indicator") {
            "indicator"
        } else {
            "name"
        };
        let columns = header
            .require([time, "symbol", "interval", name, "value"])
            .map_err(unrecognised)?;
        Ok(Self {
            times: TimeReader::default(),
            width: header.width,
            columns,
        })
    }
}

impl RecordFormat for IndicatorFormat {
    fn times(&self) -> &TimeReader {
        &self.times
    }

    fn times_mut(&mut self) -> &mut TimeReader {
        &mut self.times
    }

    type Record = IndicatorValue;
    const NOUN: (&'static str, &'static str) = ("indicator value", "indicator values");
    const GROUP_NOUN: (&'static str, &'static str) = ("symbol", "symbols");

    fn has_header(&self) -> bool {
        true
    }

    fn parse(&self, row: &StringRecord, errors: &mut Vec<FieldError>) -> Option<IndicatorValue> {
        take(check_width(row, Some(self.width), 0), errors)?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let [t, s, i, n, v] = self.columns;
        // Every field is parsed even after a failure, so one line reports all its problems.
        let time = take(
            self.times
                .read(field(t))
                .map(|p| p.time)
                .map_err(|r| FieldError::new("time", r)),
            errors,
        );
        let interval = take(
            field(i)
                .parse::<Interval>()
                .map_err(|e| FieldError::new("interval", e.to_string())),
            errors,
        );
        let value = take(parse::decimal("value", field(v)), errors);
        let record = IndicatorValue {
            symbol: field(s).to_owned(),
            interval: interval?,
            name: field(n).to_owned(),
            time: time?,
            value: value?,
        };
        take(
            validate_indicator(&record).map_err(FieldError::from),
            errors,
        )?;
        Some(record)
    }

    const DATASET: Dataset = Dataset::Indicator;

    fn time(record: &IndicatorValue) -> DateTime<Utc> {
        record.time
    }

    fn group(record: &IndicatorValue) -> &str {
        &record.symbol
    }

    fn hash_value(record: &IndicatorValue, state: &mut DefaultHasher) {
        record.value.hash(state);
    }

    fn records(batch: Vec<IndicatorValue>) -> Records {
        Records::Indicators(batch)
    }

    fn hash_key(record: &IndicatorValue, state: &mut DefaultHasher) {
        (&record.symbol, record.interval, &record.name, record.time).hash(state);
    }

    fn store<'a>(store: &'a dyn TimeSeriesStore, batch: &'a [IndicatorValue]) -> WriteFuture<'a> {
        store.store_indicators(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    fn format(header: &str) -> IndicatorFormat {
        IndicatorFormat::new(&rec(header), Path::new("i.csv")).unwrap()
    }

    fn parse_line(f: &IndicatorFormat, line: &str) -> Result<IndicatorValue, Vec<String>> {
        let mut errors = Vec::new();
        f.parse(&rec(line), &mut errors)
            .ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn values_parse_exactly() {
        let f = format("time,symbol,interval,name,value");
        let v = parse_line(
            &f,
            "2024-03-01T00:00:00Z,BTCUSDT,1h,macd.signal,-12345678901234.123456789012",
        )
        .unwrap();
        assert_eq!(v.value.to_string(), "-12345678901234.123456789012");
        assert_eq!(v.interval, Interval::H1);
        assert_eq!(
            (v.name.as_str(), v.time.timestamp()),
            ("macd.signal", 1_709_251_200)
        );
        // Epochs and bare dates, as in the other files.
        let v = parse_line(&f, "1709251200000,BTCUSDT,1d,rsi_14,48.50").unwrap();
        assert_eq!(
            (v.time.timestamp(), v.value.to_string()),
            (1_709_251_200, "48.50".into())
        );
        let v = parse_line(&f, "2024-03-01,BTCUSDT,1d,rsi_14,1").unwrap();
        assert_eq!(v.time.timestamp(), 1_709_251_200);
    }

    #[test]
    fn aliases_order_and_normalised_names() {
        let f = format("\u{feff}Indicator,Value,Symbol,Interval,Timestamp,note");
        let v = parse_line(&f, "ema-20,61000.5,ETHUSDT,15m,1709251200,computed").unwrap();
        assert_eq!((v.name.as_str(), v.symbol.as_str()), ("ema-20", "ETHUSDT"));
        assert_eq!(v.interval, "15m".parse::<Interval>().unwrap());
        let e = IndicatorFormat::new(
            &rec("time,symbol,interval,name,indicator,value"),
            Path::new("i.csv"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("both `name` and `indicator`"), "{e}");
        let e = IndicatorFormat::new(&rec("time,symbol,value"), Path::new("i.csv")).unwrap_err();
        let expected = "unrecognised indicator header `time,symbol,value` \
                        (missing column(s) interval, name)";
        assert!(e.to_string().contains(expected), "{e}");
    }

    #[test]
    fn every_problem_of_a_line_is_named() {
        let f = format("time,symbol,interval,name,value");
        let errs = parse_line(&f, "yesterday,BTCUSDT,5x,rsi_14,abc").unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(fields, ["time", "interval", "value"], "{errs:?}");
        let errs = parse_line(&f, "2024-03-01T00:00:00Z,BTCUSDT,1h,rsi 14,1").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("name: "), "{errs:?}");
        let errs = parse_line(&f, "2024-03-01T00:00:00Z,BTCUSDT,1h,rsi_14,NaN").unwrap_err();
        assert!(
            errs[0].starts_with("value: must be a finite number"),
            "{errs:?}"
        );
        let errs = parse_line(&f, "2024-03-01T00:00:00Z,BTCUSDT,1h,rsi_14,1e21").unwrap_err();
        assert!(errs[0].starts_with("value: "), "{errs:?}");
        let errs = parse_line(&f, "2024-03-01T00:00:00Z,BTCUSDT,1h,rsi_14").unwrap_err();
        assert!(errs[0].starts_with("row: expected 5 fields"), "{errs:?}");
    }
}
