//! Recognising a file's layout from its first line.

use std::collections::HashMap;

use csv::StringRecord;

/// Column names of a header, normalised (lower case, spaces and dashes as `_`, no BOM) so
/// that `Open time`, `open_time` and `OPEN-TIME` all match.
#[derive(Debug, Clone)]
pub struct Header {
    columns: HashMap<String, usize>,
    /// Number of columns; every data row must have as many.
    pub width: usize,
}

/// Normalises one header cell.
fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

impl Header {
    /// Reads a header row. When a name repeats, its first column counts.
    pub fn new(record: &StringRecord) -> Self {
        let mut columns = HashMap::new();
        for (i, name) in record.iter().enumerate() {
            columns.entry(normalise(name)).or_insert(i);
        }
        Self {
            columns,
            width: record.len(),
        }
    }

    /// Position of a column.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.columns.get(name).copied()
    }

    /// Whether the header has the column.
    pub fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// Positions of `names`, or the list of those missing.
    pub fn require<const N: usize>(&self, names: [&str; N]) -> Result<[usize; N], String> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.has(n)).collect();
        if !missing.is_empty() {
            return Err(format!("missing column(s) {}", missing.join(", ")));
        }
        Ok(names.map(|n| self.get(n).unwrap_or_default()))
    }
}

/// The candle file layouts `import candles` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandleLayout {
    /// `time,symbol,interval,open,high,low,close,volume` (any order; ISO 8601 or epoch).
    Generic,
    /// Binance kline export: `open_time,open,high,low,close,volume,close_time,...`,
    /// with or without that header, epoch-millisecond (or microsecond) times.
    Binance,
    /// Yahoo-style `Datetime,Open,High,Low,Close,Adj Close,Volume`, times with offsets.
    Yahoo,
    /// pandas `DataFrame.to_csv()` of candles: an unnamed first column (the index) of
    /// times, then `Open,High,Low,Close,Volume` in any case.
    Pandas,
    /// Columns named by `--columns`.
    Mapped,
}

impl CandleLayout {
    /// Name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Binance => "Binance kline",
            Self::Yahoo => "Yahoo",
            Self::Pandas => "pandas (unnamed index column of times)",
            Self::Mapped => "mapped by --columns",
        }
    }
}

/// Where each candle field is in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleColumns {
    /// Which layout.
    pub layout: CandleLayout,
    /// Whether the first line is a header (headerless Binance exports start with data).
    pub has_header: bool,
    /// Exact number of fields per row, when a header fixes it; headerless files need at
    /// least [`CandleColumns::min_width`].
    pub width: Option<usize>,
    /// `[time, open, high, low, close, volume]` positions.
    pub ohlcv: [usize; 6],
    /// `symbol` column, if any.
    pub symbol: Option<usize>,
    /// `interval` column, if any.
    pub interval: Option<usize>,
}

impl CandleColumns {
    /// Fields a row must have at least.
    pub fn min_width(&self) -> usize {
        let mut all = self.ohlcv.to_vec();
        all.extend(self.symbol);
        all.extend(self.interval);
        all.into_iter().max().unwrap_or(0) + 1
    }
}

/// The accepted candle headers, for the error message when none matches.
const CANDLE_HEADERS: &str = "expected one of:\n  \
     generic: time,symbol,interval,open,high,low,close,volume\n  \
     Binance kline export: open_time,open,high,low,close,volume,close_time,... (or no header)\n  \
     Yahoo: Datetime,Open,High,Low,Close,Adj Close,Volume\n  \
     pandas DataFrame.to_csv(): ,Open,High,Low,Close,Volume (an unnamed index of times)\n\
     or name the columns with --columns time=...,open=...,high=...,low=...,close=...,volume=...";

/// Fields of a headerless Binance kline row that are used (open time through volume).
const BINANCE_FIELDS: usize = 6;

/// Recognises a candle file from its first record.
///
/// # Errors
/// A message quoting the header and listing the accepted ones.
pub fn candle_columns(first: &StringRecord) -> Result<CandleColumns, String> {
    // Binance's public exports (data.binance.vision) have no header: the first field of
    // the first line is already an epoch open time.
    let first_field = first.get(0).map(normalise).unwrap_or_default();
    if !first_field.is_empty() && first_field.bytes().all(|b| b.is_ascii_digit()) {
        if first.len() < BINANCE_FIELDS {
            return Err(format!(
                "line 1 starts with a number but has {} fields; a headerless Binance kline \
                 export has at least {BINANCE_FIELDS} (open_time,open,high,low,close,volume,...)",
                first.len()
            ));
        }
        return Ok(CandleColumns {
            layout: CandleLayout::Binance,
            has_header: false,
            width: None,
            ohlcv: [0, 1, 2, 3, 4, 5],
            symbol: None,
            interval: None,
        });
    }
    let header = Header::new(first);
    let (layout, time) = if header.has("open_time") {
        (CandleLayout::Binance, "open_time")
    } else if header.has("datetime") {
        (CandleLayout::Yahoo, "datetime")
    } else if header.has("date") && !header.has("time") {
        (CandleLayout::Yahoo, "date")
    } else if header.has("time") {
        (CandleLayout::Generic, "time")
    } else if header.has("timestamp") {
        (CandleLayout::Generic, "timestamp")
    } else if first_field.is_empty() && header.has("open") && header.has("close") {
        // pandas writes the index first, with an empty name unless the index has one.
        (CandleLayout::Pandas, "")
    } else {
        return Err(unrecognised(first));
    };
    let ohlcv = header
        .require([time, "open", "high", "low", "close", "volume"])
        .map_err(|missing| {
            format!(
                "the header looks like a {} file but has {missing}\n{CANDLE_HEADERS}",
                layout.name()
            )
        })?;
    Ok(CandleColumns {
        layout,
        has_header: true,
        width: Some(header.width),
        ohlcv,
        symbol: header.get("symbol"),
        interval: header.get("interval"),
    })
}

/// The fields `--columns` can name: the six required, then the two optional.
const MAPPED_FIELDS: [&str; 8] = [
    "time", "open", "high", "low", "close", "volume", "symbol", "interval",
];

/// Columns from `--columns` mappings `field=Column` (column names as in the header, any
/// case).
///
/// # Errors
/// A message naming the bad mapping, the unknown column (with the header's names) or the
/// missing fields.
pub fn mapped_columns(first: &StringRecord, mapping: &[String]) -> Result<CandleColumns, String> {
    let header = Header::new(first);
    let mut at: HashMap<&str, usize> = HashMap::new();
    for m in mapping {
        let (field, column) = m
            .split_once('=')
            .ok_or_else(|| format!("{m:?} is not FIELD=COLUMN"))?;
        let field = MAPPED_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(field.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown field {field:?} (fields: {})",
                    MAPPED_FIELDS.join(", ")
                )
            })?;
        let i = header.get(&normalise(column)).ok_or_else(|| {
            let shown: Vec<&str> = first.iter().collect();
            format!(
                "the header has no column {column:?} (it has: {})",
                shown.join(",")
            )
        })?;
        if at.insert(field, i).is_some() {
            return Err(format!("{field} is mapped twice"));
        }
    }
    let missing: Vec<&str> = MAPPED_FIELDS[..6]
        .iter()
        .copied()
        .filter(|f| !at.contains_key(f))
        .collect();
    if !missing.is_empty() {
        return Err(format!("no column given for {}", missing.join(", ")));
    }
    let get = |f: &str| at.get(f).copied().unwrap_or_default();
    Ok(CandleColumns {
        layout: CandleLayout::Mapped,
        has_header: true,
        width: Some(header.width),
        ohlcv: ["time", "open", "high", "low", "close", "volume"].map(get),
        symbol: at.get("symbol").copied(),
        interval: at.get("interval").copied(),
    })
}

/// The message for a header no layout matches.
pub fn unrecognised(first: &StringRecord) -> String {
    let shown: Vec<&str> = first.iter().collect();
    format!(
        "unrecognised header `{}`; {CANDLE_HEADERS}",
        shown.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn generic_in_any_order() {
        let c = candle_columns(&rec("symbol,interval,time,open,high,low,close,volume")).unwrap();
        assert_eq!(c.layout, CandleLayout::Generic);
        assert_eq!(c.ohlcv, [2, 3, 4, 5, 6, 7]);
        assert_eq!((c.symbol, c.interval, c.width), (Some(0), Some(1), Some(8)));
    }

    #[test]
    fn binance_with_and_without_header() {
        let c = candle_columns(&rec(
            "1709251200000,61000.1,61100,60900,61050.5,12.3,1709251259999,750000,100,6,370000,0",
        ))
        .unwrap();
        assert_eq!((c.layout, c.has_header), (CandleLayout::Binance, false));
        let c = candle_columns(&rec(
            "Open time,Open,High,Low,Close,Volume,Close time,Quote asset volume,Number of trades,Taker buy base asset volume,Taker buy quote asset volume,Ignore",
        ))
        .unwrap();
        assert_eq!((c.layout, c.has_header), (CandleLayout::Binance, true));
        assert_eq!(c.ohlcv, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn yahoo_header() {
        let c = candle_columns(&rec(
            "\u{feff}Datetime,Open,High,Low,Close,Adj Close,Volume",
        ))
        .unwrap();
        assert_eq!(c.layout, CandleLayout::Yahoo);
        assert_eq!(c.ohlcv, [0, 1, 2, 3, 4, 6]);
    }

    #[test]
    fn pandas_and_mapped_headers() {
        let c = candle_columns(&rec(",Open,High,Low,Close,Volume")).unwrap();
        assert_eq!(
            (c.layout, c.ohlcv),
            (CandleLayout::Pandas, [0, 1, 2, 3, 4, 5])
        );
        let header = rec("Date,o,h,l,c,v,ticker");
        let map = |m: &str| m.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let c = mapped_columns(
            &header,
            &map("time=Date open=o high=h low=l close=c volume=v symbol=ticker"),
        )
        .unwrap();
        assert_eq!((c.ohlcv, c.symbol), ([0, 1, 2, 3, 4, 5], Some(6)));
        let e = mapped_columns(&header, &map("time=Date open=o")).unwrap_err();
        assert!(
            e.contains("no column given for high, low, close, volume"),
            "{e}"
        );
        let e = mapped_columns(&header, &map("time=When")).unwrap_err();
        assert!(e.contains("no column \"When\""), "{e}");
        let e = mapped_columns(&header, &map("price=o")).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn unknown_and_incomplete_headers() {
        let e = candle_columns(&rec("when,price,size")).unwrap_err();
        assert!(
            e.starts_with("unrecognised header `when,price,size`"),
            "{e}"
        );
        let e = candle_columns(&rec("time,symbol,open,high")).unwrap_err();
        assert!(e.contains("missing column(s) low, close, volume"), "{e}");
    }
}
