//! The `candle_series` table: one row per series (symbol, native interval) with its latest
//! candle, kept by every candle write so that series discovery, base intervals and latest
//! prices read one small table (see `statements`).

use chrono::{DateTime, Utc};
use marketseries_core::Candle;
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;

use crate::statements;

/// The latest candle of each series in `rows` (deduplicated and sorted by key, as
/// `last_wins` returns them), as the parallel arrays of [`statements::record_series`].
pub(crate) type Latest<'a> = (Vec<&'a str>, Vec<String>, Vec<DateTime<Utc>>, Vec<Decimal>);

/// See [`Latest`].
pub(crate) fn latest<'a>(rows: &[&'a Candle]) -> Latest<'a> {
    let mut out = Latest::default();
    for (i, c) in rows.iter().enumerate() {
        let last_of_series = rows
            .get(i + 1)
            .is_none_or(|n| n.symbol != c.symbol || n.interval != c.interval);
        if last_of_series {
            out.0.push(c.symbol.as_str());
            out.1.push(c.interval.to_string());
            out.2.push(c.time);
            out.3.push(c.close);
        }
    }
    out
}

/// Records the latest candle of each series of `rows` (part of a candle write's
/// transaction).
pub(crate) async fn record(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Candle],
) -> Result<(), tokio_postgres::Error> {
    let (symbols, natives, times, closes) = latest(rows);
    let params: [&(dyn ToSql + Sync); 4] = [&symbols, &natives, &times, &closes];
    tx.execute(statements::record_series(), &params)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use marketseries_core::Interval;

    use super::*;

    #[test]
    fn the_last_row_of_each_series_is_its_latest() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let candle = |symbol: &str, interval: Interval, time: &str, close: i64| Candle {
            symbol: symbol.to_owned(),
            interval,
            time: t(time),
            open: close.into(),
            high: close.into(),
            low: close.into(),
            close: close.into(),
            volume: 1.into(),
        };
        let rows = [
            candle("A", Interval::M1, "2024-01-01T00:00:00Z", 1),
            candle("A", Interval::M1, "2024-01-01T00:01:00Z", 2),
            candle("A", Interval::H1, "2024-01-01T00:00:00Z", 3),
            candle("B", Interval::M1, "2024-01-01T00:00:00Z", 4),
        ];
        let (symbols, natives, times, closes) = latest(&rows.iter().collect::<Vec<_>>());
        assert_eq!(symbols, ["A", "A", "B"]);
        assert_eq!(natives, ["1m", "1h", "1m"]);
        assert_eq!(times[0], t("2024-01-01T00:01:00Z"));
        assert_eq!(closes, [2.into(), 3.into(), 4.into()]);
    }
}
