//! OHLCV rollup tables (`ohlcv_5m` ... `ohlcv_1d`).
//!
//! Refresh strategy: synchronous and incremental. Every candle upsert recomputes, in the same
//! transaction, exactly the rollup buckets its rows fall into, from the raw rows of those
//! buckets. Rollups are therefore never stale (late and corrected data included), reads need
//! no real-time merge, and `refresh` has nothing to do; the price is extra work on ingest,
//! measured by `cargo xtask bench`. Each rollup is built from raw candles (not from a finer
//! rollup) and holds every native interval that divides its width.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz};
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

/// Buckets further apart than this start a new run (one range scan each), so scattered late
/// rows do not make a refresh scan everything between them.
const RUN_GAP: TimeDelta = TimeDelta::days(1);

/// Contiguous runs `[from, to)` covering the rollup-`m` buckets of `times` (sorted).
pub(crate) fn runs(
    m: Interval,
    times: &BTreeSet<DateTime<Utc>>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &bucket in times {
        let end = bucket + m.duration();
        match out.last_mut() {
            Some(run) if bucket <= run.1 + RUN_GAP => run.1 = run.1.max(end),
            _ => out.push((bucket, end)),
        }
    }
    out
}

/// Recomputes every rollup bucket that `rows` (already upserted) fall into: for each series
/// (symbol, native interval) and rollup, every bucket in each contiguous run of affected
/// buckets is rebuilt from raw rows with one index range scan.
pub(crate) async fn refresh_for(
    conn: &mut AsyncPgConnection,
    rows: &[&Candle],
) -> Result<(), diesel::result::Error> {
    for m in ROLLUPS {
        let mut series: BTreeMap<(&str, Interval), BTreeSet<DateTime<Utc>>> = BTreeMap::new();
        for c in rows.iter().filter(|c| c.interval.divides(m)) {
            series
                .entry((c.symbol.as_str(), c.interval))
                .or_default()
                .insert(m.floor(c.time));
        }
        let sql = format!(
            "INSERT INTO {t} (symbol, interval, time, open, high, low, close, volume) \
             SELECT symbol, interval, date_bin($1::interval, time, $2), \
                    (array_agg(open ORDER BY time))[1], max(high), min(low), \
                    (array_agg(close ORDER BY time DESC))[1], sum(volume) \
             FROM candles WHERE symbol = $3 AND interval = $4 AND time >= $5 AND time < $6 \
             GROUP BY symbol, interval, 3 \
             ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
             high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, \
             volume = EXCLUDED.volume",
            t = table(m)
        );
        for ((symbol, native), buckets) in &series {
            for (from, to) in runs(m, buckets) {
                diesel::sql_query(&sql)
                    .bind::<Text, _>(crate::price::stride(m))
                    .bind::<Timestamptz, _>(m.origin())
                    .bind::<Text, _>(*symbol)
                    .bind::<Text, _>(native.to_string())
                    .bind::<Timestamptz, _>(from)
                    .bind::<Timestamptz, _>(to)
                    .execute(conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// After retention dropped raw partitions, removes from each rollup table in `tables` the
/// rows of buckets that start before `lower_bound` (the start of the oldest remaining raw
/// partition), or every row when `None` (no raw partition left). Partitions are whole days,
/// so no rollup bucket (at most a day wide) straddles the bound.
pub(crate) async fn trim(
    conn: &mut AsyncPgConnection,
    tables: impl IntoIterator<Item = String>,
    lower_bound: Option<DateTime<Utc>>,
) -> Result<(), diesel::result::Error> {
    for table in tables {
        diesel::sql_query(format!(
            "DELETE FROM {table} WHERE $1::timestamptz IS NULL OR time < $1"
        ))
        .bind::<Nullable<Timestamptz>, _>(lower_bound)
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_close_buckets_and_split_far_ones() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let buckets: BTreeSet<_> = [
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T01:00:00Z"),
            t("2024-01-05T00:00:00Z"),
        ]
        .into();
        assert_eq!(
            runs(Interval::H1, &buckets),
            vec![
                (t("2024-01-01T00:00:00Z"), t("2024-01-01T02:00:00Z")),
                (t("2024-01-05T00:00:00Z"), t("2024-01-05T01:00:00Z")),
            ]
        );
    }
}
