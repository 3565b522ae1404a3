//! OHLCV rollups (`ohlcv_5m` ... `ohlcv_1d`).
//!
//! Refresh strategy: deferred, with real-time reads. A candle write records, in the same
//! transaction, the span of raw times it touched per series in `ohlcv_pending`
//! ([`record_pending`], one small insert per batch); it does not touch the rollups. A
//! refresh ([`refresh_pending`]) consumes every pending span and rebuilds the rollup buckets
//! those spans cover into the tables `ohlcv_<w>_materialized`. Readers use the views
//! `ohlcv_<w>` (migration `00000000000002_rollups`), which serve the materialized buckets no pending
//! span touches and aggregate the touched ones from raw candles on the fly, so answers are
//! never stale, late and corrected data included, refreshed or not. The cost of maintaining
//! the rollups leaves the ingest path and is paid by the refresh, measured separately by
//! `cargo xtask bench`.
//!
//! Each rollup holds every native interval that divides its width; it is rebuilt
//! hierarchically (see [`refresh_spans`]): from the next finer rollup for the natives that
//! one holds, from raw candles for the others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketseries_core::{AggregateCapability, Candle, Interval};

use marketseries_sql::schema;

use crate::analyze;
use crate::statements;

/// The materialized widths (the shared list).
pub(crate) const ROLLUPS: [Interval; 5] = schema::OHLCV_WIDTHS;

/// The rollups as router capabilities.
pub(crate) fn capabilities() -> Vec<AggregateCapability> {
    ROLLUPS.into_iter().map(AggregateCapability::flat).collect()
}

/// Name of the table holding what is materialized of rollup `m`.
pub(crate) fn materialized(m: Interval) -> String {
    schema::ohlcv_materialized(m)
}

/// One series: symbol and native interval.
pub(crate) type Series = (String, Interval);

/// Spans `[lo, hi]` (inclusive) of raw candle times per series.
pub(crate) type Spans = BTreeMap<Series, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

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

/// Sorts `spans` and merges those that overlap or lie at most [`RUN_GAP`] apart.
fn merge(mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    spans.sort_unstable();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo <= last.1 + RUN_GAP => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The spans of raw times of `rows`, per series.
pub(crate) fn spans_of(rows: &[&Candle]) -> Spans {
    let mut spans = Spans::new();
    for c in rows {
        spans
            .entry((c.symbol.clone(), c.interval))
            .or_default()
            .push((c.time, c.time));
    }
    spans
        .into_iter()
        .map(|(series, times)| (series, merge(times)))
        .collect()
}

/// `spans` as the four parallel arrays of [`statements::record_pending`].
pub(crate) type SpanArrays<'a> = (
    Vec<&'a str>,
    Vec<String>,
    Vec<DateTime<Utc>>,
    Vec<DateTime<Utc>>,
);

/// See [`SpanArrays`].
pub(crate) fn span_arrays(spans: &Spans) -> SpanArrays<'_> {
    let mut out = SpanArrays::default();
    for ((symbol, native), runs) in spans {
        for &(lo, hi) in runs {
            out.0.push(symbol);
            out.1.push(native.to_string());
            out.2.push(lo);
            out.3.push(hi);
        }
    }
    out
}

/// Records `spans` as pending (part of a candle write's transaction).
pub(crate) async fn record_pending(
    tx: &tokio_postgres::Transaction<'_>,
    spans: &Spans,
) -> Result<(), tokio_postgres::Error> {
    let (symbols, natives, lo, hi) = span_arrays(spans);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&symbols, &natives, &lo, &hi];
    tx.execute(statements::record_pending(), &params)
        .await
        .map(drop)
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = Text)]
    symbol: String,
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = Timestamptz)]
    lo: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    hi: DateTime<Utc>,
}

/// Key of the advisory lock that serialises refreshes (`"mktsrs"` in ASCII).
const REFRESH_LOCK: i64 = 0x6d6b_7473_7273;

/// Consumes every pending span and rebuilds the rollup buckets they cover, in one
/// transaction (a failure leaves the spans pending). Refreshes are serialised by an
/// advisory lock; a writer committing meanwhile leaves its span for the next refresh.
/// Then, after the commit, analyzes what the refresh and the writes before it left without
/// planner statistics (rollup tables, `ohlcv_pending`, raw partitions; see the `analyze`
/// module), so reads right after maintenance plan as well as reads later.
/// Returns the number of spans consumed.
pub(crate) async fn refresh_pending(
    conn: &mut AsyncPgConnection,
) -> Result<usize, diesel::result::Error> {
    let (consumed, written) = consume_pending(conn).await?;
    analyze::stale(conn, &written).await?;
    Ok(consumed)
}

/// The transaction of [`refresh_pending`]: the spans consumed, and the rows written per
/// table (`ohlcv_pending`'s deleted rows included).
async fn consume_pending(
    conn: &mut AsyncPgConnection,
) -> Result<(usize, BTreeMap<String, u64>), diesel::result::Error> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(REFRESH_LOCK)
            .execute(conn)
            .await?;
        let rows: Vec<PendingRow> =
            diesel::sql_query("DELETE FROM ohlcv_pending RETURNING symbol, interval, lo, hi")
                .load(conn)
                .await?;
        let consumed = rows.len();
        let mut spans = Spans::new();
        for r in rows {
            let native: Interval = r
                .interval
                .parse()
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            spans
                .entry((r.symbol, native))
                .or_default()
                .push((r.lo, r.hi));
        }
        let spans = spans.into_iter().map(|(k, v)| (k, merge(v))).collect();
        let mut written = refresh_spans(conn, &spans).await?;
        written.insert(
            "ohlcv_pending".to_owned(),
            u64::try_from(consumed).unwrap_or(u64::MAX),
        );
        Ok((consumed, written))
    })
    .await
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

/// Most raw time (summed over series) one refresh statement rebuilds, so that no statement
/// of a refresh after a bulk load runs into the statement timeout: a year of ten series of
/// one-minute candles was one statement per rollup, and the first (5m from raw candles, 5.2M
/// rows) alone took longer than the default 60 s on a loaded machine. 360 series-days of
/// one-minute candles are about 520k rows, seconds of work; the runs are cut at whole days
/// (30 at most per piece), boundaries every rollup width divides.
const BATCH_SPAN: TimeDelta = TimeDelta::days(360);

/// See [`BATCH_SPAN`].
const PIECE_SPAN: TimeDelta = TimeDelta::days(30);

impl<'a> Runs<'a> {
    fn push(&mut self, symbol: &'a str, native: &str, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.symbols.push(symbol);
        self.natives.push(native.to_owned());
        self.from.push(from);
        self.to.push(to);
    }

    /// These runs cut into pieces of at most [`PIECE_SPAN`] (at day boundaries from their
    /// starts, which are aligned to the rollup) and packed into batches of at most
    /// [`BATCH_SPAN`] in all, each one refresh statement.
    fn batches(self) -> Vec<Runs<'a>> {
        let mut out: Vec<Runs<'a>> = Vec::new();
        let mut current = Runs::default();
        let mut span = TimeDelta::zero();
        for (i, &symbol) in self.symbols.iter().enumerate() {
            let mut from = self.from[i];
            while from < self.to[i] {
                let to = (from + PIECE_SPAN).min(self.to[i]);
                if span + (to - from) > BATCH_SPAN && !current.symbols.is_empty() {
                    out.push(std::mem::take(&mut current));
                    span = TimeDelta::zero();
                }
                current.push(symbol, &self.natives[i], from, to);
                span += to - from;
                from = to;
            }
        }
        if !current.symbols.is_empty() {
            out.push(current);
        }
        out
    }
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

/// Rebuilds every rollup bucket that holds a raw time of `spans` (merged per series),
/// finest rollup first. Each rollup is rebuilt hierarchically: the buckets of a series
/// whose native also divides the next finer rollup are recomputed from that rollup's
/// (already rebuilt) rows, the others (natives that divide this width but not the finer
/// one, such as `1h` candles in `ohlcv_1h`) from raw candles. Widths divide one another and
/// share the epoch grid, so the contents are exactly those of a rollup built from raw rows.
/// One statement per rollup and source covers every run of affected buckets of every
/// series, each run read by one index range scan.
/// Returns the rows written per rollup table.
pub(crate) async fn refresh_spans(
    conn: &mut AsyncPgConnection,
    spans: &Spans,
) -> Result<BTreeMap<String, u64>, diesel::result::Error> {
    let mut written: BTreeMap<String, u64> = ROLLUPS.map(|m| (materialized(m), 0)).into();
    let mut finer: Option<Interval> = None;
    for m in ROLLUPS {
        let mut from_finer = Runs::default();
        let mut from_raw = Runs::default();
        for ((symbol, native), raw) in spans.iter().filter(|((_, n), _)| n.divides(m)) {
            let target = if finer.is_some_and(|f| native.divides(f)) {
                &mut from_finer
            } else {
                &mut from_raw
            };
            let buckets = raw
                .iter()
                .map(|&(lo, hi)| (m.floor(lo), m.floor(hi) + m.duration()))
                .collect();
            for (from, to) in merge(buckets) {
                target.push(symbol, &native.to_string(), from, to);
            }
        }
        let sources = [
            (finer.map(materialized), from_finer),
            (Some("candles".to_owned()), from_raw),
        ];
        for (source, runs) in sources {
            let Some(source) = source else { continue };
            for batch in runs.batches() {
                let rows = diesel::sql_query(refresh_sql(&materialized(m), &source))
                    .bind::<Text, _>(schema::stride(m))
                    .bind::<Timestamptz, _>(m.origin())
                    .bind::<Array<Text>, _>(batch.symbols)
                    .bind::<Array<Text>, _>(batch.natives)
                    .bind::<Array<Timestamptz>, _>(batch.from)
                    .bind::<Array<Timestamptz>, _>(batch.to)
                    .execute(conn)
                    .await?;
                *written.entry(materialized(m)).or_default() +=
                    u64::try_from(rows).unwrap_or(u64::MAX);
            }
        }
        finer = Some(m);
    }
    Ok(written)
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

/// After retention, forgets the pending spans that end before `lower_bound` (all when
/// `None`): their raw rows are gone and [`trim`] removed their buckets.
pub(crate) async fn trim_pending(
    conn: &mut AsyncPgConnection,
    lower_bound: Option<DateTime<Utc>>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("DELETE FROM ohlcv_pending WHERE $1::timestamptz IS NULL OR hi < $1")
        .bind::<Nullable<Timestamptz>, _>(lower_bound)
        .execute(conn)
        .await
        .map(drop)
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

    #[test]
    fn batches_cut_long_runs_at_whole_days_and_bound_each_statement() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut runs = Runs::default();
        runs.push(
            "A",
            "1m",
            t("2024-01-01T00:00:00Z"),
            t("2025-01-01T00:00:00Z"),
        );
        runs.push(
            "B",
            "1m",
            t("2024-03-01T05:00:00Z"),
            t("2024-03-01T06:00:00Z"),
        );
        let batches = runs.batches();
        let mut pieces: Vec<(&str, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for b in &batches {
            let total: TimeDelta = b.from.iter().zip(&b.to).map(|(f, t)| *t - *f).sum();
            assert!(total <= BATCH_SPAN);
            for i in 0..b.symbols.len() {
                assert!(b.to[i] - b.from[i] <= PIECE_SPAN);
                pieces.push((b.symbols[i], b.from[i], b.to[i]));
            }
        }
        assert_eq!(batches.len(), 2, "366 + 1/24 days in batches of 360");
        // The pieces tile each run exactly, in order.
        let a: Vec<_> = pieces.iter().filter(|p| p.0 == "A").collect();
        assert_eq!(a[0].1, t("2024-01-01T00:00:00Z"));
        assert_eq!(a.last().unwrap().2, t("2025-01-01T00:00:00Z"));
        assert!(a.windows(2).all(|w| w[0].2 == w[1].1));
        assert!(pieces.contains(&("B", t("2024-03-01T05:00:00Z"), t("2024-03-01T06:00:00Z"))));
    }

    #[test]
    fn spans_split_series_and_far_apart_times() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let candle = |symbol: &str, time: &str| Candle {
            symbol: symbol.to_owned(),
            interval: Interval::M1,
            time: t(time),
            open: 1.into(),
            high: 1.into(),
            low: 1.into(),
            close: 1.into(),
            volume: 1.into(),
        };
        let rows = [
            candle("A", "2024-01-01T00:05:00Z"),
            candle("A", "2024-01-01T00:00:00Z"),
            candle("B", "2024-01-01T00:00:00Z"),
            candle("A", "2024-01-09T00:00:00Z"),
        ];
        let spans = spans_of(&rows.iter().collect::<Vec<_>>());
        assert_eq!(
            spans[&("A".to_owned(), Interval::M1)],
            vec![
                (t("2024-01-01T00:00:00Z"), t("2024-01-01T00:05:00Z")),
                (t("2024-01-09T00:00:00Z"), t("2024-01-09T00:00:00Z")),
            ]
        );
        assert_eq!(spans.len(), 2);
    }
}
