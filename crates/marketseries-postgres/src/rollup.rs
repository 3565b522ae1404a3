//! OHLCV rollup tables (`ohlcv_5m` ... `ohlcv_1d`).
//!
//! Refresh strategy: synchronous and incremental. Every candle upsert recomputes, in the same
//! transaction, exactly the rollup buckets its rows fall into, from the raw rows of those
//! buckets. Rollups are therefore never stale (late and corrected data included), reads need
//! no real-time merge, and `refresh` has nothing to do; the price is extra work on ingest,
//! measured by `cargo xtask bench`. Each rollup is built from raw candles (not from a finer
//! rollup) and holds every native interval that divides its width.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{AggregateCapability, Candle, Interval};

/// The materialized widths.
pub(crate) const ROLLUPS: [Interval; 5] = [
    Interval::M5,
    Interval::M15,
    Interval::H1,
    Interval::H4,
    Interval::D1,
];

/// The rollups as router capabilities.
pub(crate) fn capabilities() -> Vec<AggregateCapability> {
    ROLLUPS.into_iter().map(AggregateCapability::flat).collect()
}

/// Table name of the rollup of width `m` (derived from a parsed interval only).
pub(crate) fn table(m: Interval) -> String {
    format!("ohlcv_{}", m.identifier())
}

/// Recomputes every rollup bucket that `rows` (already upserted) fall into.
pub(crate) async fn refresh_for(
    conn: &mut AsyncPgConnection,
    rows: &[&Candle],
) -> Result<(), diesel::result::Error> {
    for m in ROLLUPS {
        let buckets: BTreeSet<(&str, Interval, DateTime<Utc>)> = rows
            .iter()
            .filter(|c| c.interval.divides(m))
            .map(|c| (c.symbol.as_str(), c.interval, m.floor(c.time)))
            .collect();
        if buckets.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO {t} (symbol, interval, time, open, high, low, close, volume) \
             SELECT b.symbol, b.interval, b.time, (array_agg(c.open ORDER BY c.time))[1], \
                    max(c.high), min(c.low), (array_agg(c.close ORDER BY c.time DESC))[1], \
                    sum(c.volume) \
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS b(symbol, interval, time) \
             JOIN candles c ON c.symbol = b.symbol AND c.interval = b.interval \
                  AND c.time >= b.time AND c.time < b.time + $4::interval \
             GROUP BY b.symbol, b.interval, b.time \
             ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
             high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, \
             volume = EXCLUDED.volume",
            t = table(m)
        );
        diesel::sql_query(sql)
            .bind::<Array<Text>, _>(buckets.iter().map(|b| b.0).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(buckets.iter().map(|b| b.1.to_string()).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(buckets.iter().map(|b| b.2).collect::<Vec<_>>())
            .bind::<Text, _>(crate::price::stride(m))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// After retention dropped raw partitions, removes rollup rows of buckets that start before
/// `lower_bound` (the start of the oldest remaining raw partition, or `None` when no raw
/// partition is left). Partitions are whole days, so no rollup bucket straddles the bound.
pub(crate) async fn trim(
    conn: &mut AsyncPgConnection,
    lower_bound: Option<DateTime<Utc>>,
) -> Result<(), diesel::result::Error> {
    for m in ROLLUPS {
        match lower_bound {
            Some(bound) => {
                diesel::sql_query(format!("DELETE FROM {} WHERE time < $1", table(m)))
                    .bind::<Timestamptz, _>(bound)
                    .execute(conn)
                    .await?;
            }
            None => {
                diesel::sql_query(format!("DELETE FROM {}", table(m)))
                    .execute(conn)
                    .await?;
            }
        }
    }
    Ok(())
}
