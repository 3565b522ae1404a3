//! Rendering results: bars as table, CSV or JSON; aligned tables; sizes and counts.
//!
//! Decimals are printed with their `Display`, which keeps the exact digits and scale the
//! store returned (`100.50` stays `100.50`); times are RFC 3339 UTC.

use std::io::{self, Write};

use marketseries_core::Bar;

use crate::cli::BarFormat;
use crate::parse::format_time;

/// The CSV header of `ohlcv --format csv`.
pub const BAR_CSV_HEADER: &str = "time,open,high,low,close,volume";

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
