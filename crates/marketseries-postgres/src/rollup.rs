//! OHLCV rollup tables (`ohlcv_5m` ... `ohlcv_1d`).
//!
//! Refresh strategy: synchronous and incremental. Every candle upsert recomputes, in the same
//! transaction, exactly the rollup buckets its rows fall into, from the raw rows of those
//! buckets. Rollups are therefore never stale (late and corrected data included), reads need
//! no real-time merge, and `refresh` has nothing to do; the price is extra work on ingest,
//! measured by `cargo xtask bench`. Each rollup holds every native interval that divides its
//! width; it is refreshed hierarchically (see [`refresh_for`]): from the next finer rollup
//! for the natives that one holds, from raw candles for the others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Array, Nullable, Text, Timestamptz};
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

/// The runs of affected buckets of one rollup that are rebuilt from one source table, as
/// the four parallel arrays the refresh statement unnests.
#[derive(Default)]
struct Runs<'a> {
    symbols: Vec<&'a str>,
    natives: Vec<String>,
    from: Vec<DateTime<Utc>>,
    to: Vec<DateTime<Utc>>,
}

/// Rebuilds the rollup buckets of every run `(symbol, native, [from, to))` from the rows of
/// `source` (raw candles or the next finer rollup, which have the same columns): open of
/// the earliest row, close of the latest, high max, low min, volume sum. Runs of one series
/// never share a bucket, so no row is written twice.
fn refresh_sql(target: &str, source: &str) -> String {
    format!(
        "INSERT INTO {target} (symbol, interval, time, open, high, low, close, volume) \
         SELECT r.symbol, r.interval, date_bin($1::interval, s.time, $2), \
                (array_agg(s.open ORDER BY s.time))[1], max(s.high), min(s.low), \
                (array_agg(s.close ORDER BY s.time DESC))[1], sum(s.volume) \
         FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
              AS r(symbol, interval, lo, hi) \
         CROSS JOIN LATERAL (SELECT time, open, high, low, close, volume FROM {source} \
              WHERE symbol = r.symbol AND interval = r.interval \
                AND time >= r.lo AND time < r.hi) AS s \
         GROUP BY r.symbol, r.interval, 3 \
         ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
         high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, \
         volume = EXCLUDED.volume"
    )
}

/// Recomputes every rollup bucket that `rows` (already upserted) fall into, finest rollup
/// first. Each rollup is rebuilt hierarchically: the buckets of a series (symbol, native
/// interval) whose native also divides the next finer rollup are recomputed from that
/// rollup's (already refreshed) rows, the others (natives that divide this width but not
/// the finer one, such as `1h` candles in `ohlcv_1h`) from raw candles. Widths divide one
/// another and share the epoch grid, so the contents are exactly those of a rollup built
/// from raw rows. One statement per rollup and source covers every contiguous run of
/// affected buckets of every series, each run read by one index range scan.
pub(crate) async fn refresh_for(
    conn: &mut AsyncPgConnection,
    rows: &[&Candle],
) -> Result<(), diesel::result::Error> {
    let mut finer: Option<Interval> = None;
    for m in ROLLUPS {
        let mut series: BTreeMap<(&str, Interval), BTreeSet<DateTime<Utc>>> = BTreeMap::new();
        for c in rows.iter().filter(|c| c.interval.divides(m)) {
            series
                .entry((c.symbol.as_str(), c.interval))
                .or_default()
                .insert(m.floor(c.time));
        }
        let mut from_finer = Runs::default();
        let mut from_raw = Runs::default();
        for ((symbol, native), buckets) in &series {
            let target = if finer.is_some_and(|f| native.divides(f)) {
                &mut from_finer
            } else {
                &mut from_raw
            };
            for (from, to) in runs(m, buckets) {
                target.symbols.push(symbol);
                target.natives.push(native.to_string());
                target.from.push(from);
                target.to.push(to);
            }
        }
        let sources = [
            (finer.map(table), from_finer),
            (Some("candles".to_owned()), from_raw),
        ];
        for (source, runs) in sources {
            let Some(source) = source else { continue };
            if runs.symbols.is_empty() {
                continue;
            }
            diesel::sql_query(refresh_sql(&table(m), &source))
                .bind::<Text, _>(crate::price::stride(m))
                .bind::<Timestamptz, _>(m.origin())
                .bind::<Array<Text>, _>(runs.symbols)
                .bind::<Array<Text>, _>(runs.natives)
                .bind::<Array<Timestamptz>, _>(runs.from)
                .bind::<Array<Timestamptz>, _>(runs.to)
                .execute(conn)
                .await?;
        }
        finer = Some(m);
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
