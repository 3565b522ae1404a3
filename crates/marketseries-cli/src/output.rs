//! Rendering results: bars and indicator values as table, CSV or JSON; aligned tables;
//! sizes and counts.
//!
//! Decimals are printed with their `Display`, which keeps the exact digits and scale the
//! store returned (`100.50` stays `100.50`); times are RFC 3339 UTC.

use std::io::{self, Write};

use marketseries_core::{Bar, IndicatorSeries, IndicatorValue};

use crate::cli::{BarFormat, ValueFormat};
use crate::parse::format_time;

/// The CSV header of `ohlcv --format csv`.
pub const BAR_CSV_HEADER: &str = "time,open,high,low,close,volume";

/// The CSV header of indicator values (`indicators series|latest|at --format csv`): the
/// layout `import indicators` reads.
pub const INDICATOR_CSV_HEADER: &str = "time,symbol,interval,name,value";

/// The CSV header of `indicators list --format csv`.
pub const SERIES_CSV_HEADER: &str = "interval,name";

/// A column of an indicator value table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueColumn {
    /// The symbol.
    Symbol,
    /// The native interval.
    Interval,
    /// The indicator name.
    Name,
    /// The time the value applies to.
    Time,
    /// The value (right-aligned).
    Value,
}

impl ValueColumn {
    fn header(self) -> &'static str {
        match self {
            Self::Symbol => "symbol",
            Self::Interval => "interval",
            Self::Name => "name",
            Self::Time => "time",
            Self::Value => "value",
        }
    }

    fn cell(self, v: &IndicatorValue) -> String {
        match self {
            Self::Symbol => v.symbol.clone(),
            Self::Interval => v.interval.to_string(),
            Self::Name => v.name.clone(),
            Self::Time => format_time(v.time),
            Self::Value => v.value.to_string(),
        }
    }
}

/// Writes indicator values in the chosen format. CSV and JSON carry every field (CSV in
/// the import layout, [`INDICATOR_CSV_HEADER`]); the table only `columns`, since the
/// command line already fixes the others.
///
/// # Errors
/// Errors writing to `out`.
pub fn indicator_values(
    out: &mut dyn Write,
    format: ValueFormat,
    values: &[IndicatorValue],
    columns: &[ValueColumn],
) -> io::Result<()> {
    match format {
        ValueFormat::Csv => {
            writeln!(out, "{INDICATOR_CSV_HEADER}")?;
            for v in values {
                writeln!(
                    out,
                    "{},{},{},{},{}",
                    format_time(v.time),
                    v.symbol,
                    v.interval,
                    v.name,
                    v.value
                )?;
            }
            Ok(())
        }
        ValueFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, values)?;
            writeln!(out)
        }
        ValueFormat::Table => {
            let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
            let right: Vec<bool> = columns.iter().map(|&c| c == ValueColumn::Value).collect();
            let rows: Vec<Vec<String>> = values
                .iter()
                .map(|v| columns.iter().map(|c| c.cell(v)).collect())
                .collect();
            table(out, &headers, &rows, &right)
        }
    }
}

/// Writes the indicator series of a symbol (interval and name) in the chosen format.
///
/// # Errors
/// Errors writing to `out`.
pub fn indicator_series(
    out: &mut dyn Write,
    format: ValueFormat,
    series: &[IndicatorSeries],
) -> io::Result<()> {
    match format {
        ValueFormat::Csv => {
            writeln!(out, "{SERIES_CSV_HEADER}")?;
            for s in series {
                writeln!(out, "{},{}", s.interval, s.name)?;
            }
            Ok(())
        }
        ValueFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, series)?;
            writeln!(out)
        }
        ValueFormat::Table => {
            let rows: Vec<Vec<String>> = series
                .iter()
                .map(|s| vec![s.interval.to_string(), s.name.clone()])
                .collect();
            table(out, &["interval", "name"], &rows, &[false, false])
        }
    }
}

/// `1 candle`, `2 candles`.
pub fn plural(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Writes bars in the chosen format.
///
/// # Errors
/// Errors writing to `out`.
pub fn bars(out: &mut dyn Write, format: BarFormat, bars: &[Bar]) -> io::Result<()> {
    match format {
        BarFormat::Csv => {
            writeln!(out, "{BAR_CSV_HEADER}")?;
            for b in bars {
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    format_time(b.time),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume
                )?;
            }
            Ok(())
        }
        BarFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, bars)?;
            writeln!(out)
        }
        BarFormat::Table => {
            let rows: Vec<Vec<String>> = bars
                .iter()
                .map(|b| {
                    vec![
                        format_time(b.time),
                        b.open.to_string(),
                        b.high.to_string(),
                        b.low.to_string(),
                        b.close.to_string(),
                        b.volume.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &["time", "open", "high", "low", "close", "volume"],
                &rows,
                &[false, true, true, true, true, true],
            )
        }
    }
}

/// Writes a CSV document: `headers`, then `rows`, quoted where a cell needs it.
///
/// # Errors
/// Errors writing to `out`.
pub fn csv(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(headers)?;
    for row in rows {
        w.write_record(row)?;
    }
    w.flush()
}

/// Writes an aligned table: columns padded to their widest cell, separated by two spaces,
/// right-aligned where `right[i]` (numbers), no trailing spaces.
///
/// # Errors
/// Errors writing to `out`.
pub fn table(
    out: &mut dyn Write,
    headers: &[&str],
    rows: &[Vec<String>],
    right: &[bool],
) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&format!("{cell:>width$}"));
            } else {
                text.push_str(&format!("{cell:<width$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut headers.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// A byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB` (integer arithmetic, so no
/// float casts).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut unit = 1024u128;
    let mut name = UNITS[0];
    for (i, candidate) in UNITS.iter().enumerate().skip(1) {
        let next = 1u128 << (10 * (i + 1));
        if u128::from(n) < next {
            break;
        }
        unit = next;
        name = candidate;
    }
    // Tenths, rounded half up.
    let tenths = (u128::from(n) * 10 + unit / 2) / unit;
    format!("{}.{} {name}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn csv_bars_are_exact() {
        let bar = Bar {
            time: "2024-03-01T00:00:00Z".parse().unwrap(),
            open: "100.50".parse::<Decimal>().unwrap(),
            high: "101".parse::<Decimal>().unwrap(),
            low: "99.125".parse::<Decimal>().unwrap(),
            close: "100.0".parse::<Decimal>().unwrap(),
            volume: "123456789012.00000001".parse::<Decimal>().unwrap(),
        };
        let mut out = Vec::new();
        bars(&mut out, BarFormat::Csv, &[bar]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "time,open,high,low,close,volume\n\
             2024-03-01T00:00:00Z,100.50,101,99.125,100.0,123456789012.00000001\n"
        );
        let mut out = Vec::new();
        bars(&mut out, BarFormat::Json, &[bar]).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json[0]["open"], "100.50");
        assert_eq!(json[0]["time"], "2024-03-01T00:00:00Z");
    }

    #[test]
    fn indicator_values_are_exact_in_every_format() {
        let v = IndicatorValue {
            symbol: "BTCUSDT".into(),
            interval: "1h".parse().unwrap(),
            name: "macd.signal".into(),
            time: "2024-03-01T00:00:00Z".parse().unwrap(),
            value: "-12345678901234.123456789012".parse().unwrap(),
        };
        let render = |format, columns: &[ValueColumn]| {
            let mut out = Vec::new();
            indicator_values(&mut out, format, std::slice::from_ref(&v), columns).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            render(ValueFormat::Csv, &[]),
            "time,symbol,interval,name,value\n\
             2024-03-01T00:00:00Z,BTCUSDT,1h,macd.signal,-12345678901234.123456789012\n"
        );
        assert_eq!(
            render(ValueFormat::Table, &[ValueColumn::Time, ValueColumn::Value]),
            "time                                         value\n\
             2024-03-01T00:00:00Z  -12345678901234.123456789012\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(ValueFormat::Json, &[])).unwrap();
        assert_eq!(json[0]["value"], "-12345678901234.123456789012");
        assert_eq!(json[0]["interval"], "1h");
        let mut out = Vec::new();
        indicator_series(&mut out, ValueFormat::Csv, &[v.series()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "interval,name\n1h,macd.signal\n"
        );
    }

    #[test]
    fn tables_align() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["name", "rows"],
            &[
                vec!["candles".into(), "8640".into()],
                vec!["flows".into(), "7".into()],
            ],
            &[false, true],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name     rows\ncandles  8640\nflows       7\n"
        );
    }

    #[test]
    fn sizes_and_plurals() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(8 * 1024 * 1024), "8.0 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(plural(1usize, "candle", "candles"), "1 candle");
        assert_eq!(plural(3u64, "candle", "candles"), "3 candles");
    }
}
