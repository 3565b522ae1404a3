//! OHLCV rollups (`ohlcv_5m` ... `ohlcv_1d`).
//!
//! Refresh strategy: deferred, with real-time reads. A candle write records, in the same
//! transaction, the span of raw times it touched per series in `ohlcv_pending`
//! ([`record_pending`], one small insert per batch); it does not touch the rollups. A
//! refresh ([`refresh_pending`]) consumes every pending span and rebuilds the rollup buckets
//! those spans cover into the tables `ohlcv_<w>_materialized`, in bounded steps that each
//! commit on their own ([`plan_step`]: at most [`STEP_DAYS`] series-days, oldest days
//! first), so that a large backlog is resumable and reports its progress. Readers use the views
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
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Array, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketseries_core::{
    AggregateCapability, Candle, Dataset, Interval, RefreshObserver, RefreshProgress,
};

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

/// Bounds of pending raw times of one series: a span taken from `ohlcv_pending`, or a
/// merged day extent of the backlog.
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

/// First key of the advisory locks that serialise the refresh steps of one series
/// (`"mkts"` in ASCII; the second key is a hash of the series): steps of different series
/// run at once, on different connections ([`refresh_pending`]'s workers), while two
/// refreshes never rebuild one series' buckets at the same time.
const SERIES_LOCK: i32 = 0x6d6b_7473;

/// Takes the step's series locks (`$1` symbols, `$2` natives) in ascending key order, so
/// that two steps wanting overlapping series wait for each other instead of deadlocking.
const LOCK_SERIES: &str = "SELECT pg_advisory_xact_lock($3, k) \
     FROM (SELECT DISTINCT hashtext(symbol || ' ' || interval) AS k \
           FROM unnest($1::text[], $2::text[]) AS s(symbol, interval) ORDER BY 1) q";

/// Name of the refresh's steps in [`RefreshProgress::target`].
pub(crate) const STEP_TARGET: &str = "ohlcv rollups";

/// Most pending raw time one refresh step takes, in whole UTC days summed over series
/// (a series-day counts once however many candles and spans it holds). It equals
/// [`BATCH_SPAN`], so a step is one statement per rollup and source: after a year-long
/// backfill of ten series (3,650 series-days) a refresh is eleven steps of a few seconds
/// each instead of one transaction of minutes that a failure would undo entirely.
const STEP_DAYS: i64 = 360;

/// UTC-day extents `[from, to)` of one series' pending raw times, merged, ascending.
type Extents = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// What one refresh step takes of the backlog it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    /// Per series with anything taken: the instant before which its pending spans are
    /// consumed (a UTC day boundary), `None` for all of them.
    cuts: Vec<(Series, Option<DateTime<Utc>>)>,
    /// Series-days taken.
    days: i64,
    /// Series-days left pending after the step.
    remaining: i64,
    /// Every pending raw time before this is taken.
    through: DateTime<Utc>,
}

/// Whole days in `[from, to)` (both UTC day boundaries).
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The first step of at most `budget` series-days (at least one) through `backlog` (per
/// series, its pending raw times as merged day-aligned extents `[from, to)`, ascending),
/// oldest days first: every series' backlog before a day `C`, plus day `C` itself of the
/// first series that hold it while the budget lasts. `None` when nothing is pending.
///
/// Cuts fall on UTC day boundaries, which every rollup width divides, so a rollup bucket
/// is either wholly taken (rebuilt, and not pending when no other span touches it) or
/// still pending, and a coarse bucket is rebuilt in the step only from finer buckets
/// rebuilt before it in the same step or touched by no pending span.
fn plan_step(backlog: &[(Series, Extents)], budget: i64) -> Option<Plan> {
    let budget = budget.max(1);
    let extents = || backlog.iter().flat_map(|(_, e)| e.iter().copied());
    let total: i64 = extents().map(|(a, b)| days(a, b)).sum();
    let first = extents().map(|(a, _)| a).min()?;
    let last = extents().map(|(_, b)| b).max()?;
    if total <= budget {
        return Some(Plan {
            cuts: backlog.iter().map(|(s, _)| (s.clone(), None)).collect(),
            days: total,
            remaining: 0,
            through: last,
        });
    }
    // Series-days before `c`: monotone in `c`, 0 at `first`, `total` at `last`.
    let before =
        |c: DateTime<Utc>| -> i64 { extents().map(|(a, b)| days(a, b.min(c).max(a))).sum() };
    // The last day boundary `c` with `before(c) <= budget` (binary search over days).
    let (mut lo, mut hi) = (0, days(first, last));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if before(first + TimeDelta::days(mid)) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let cut = first + TimeDelta::days(lo);
    let mut left = budget - before(cut);
    let mut cuts = Vec::new();
    for (series, extents) in backlog {
        let holds_cut_day = extents.iter().any(|&(a, b)| a <= cut && cut < b);
        let own = if holds_cut_day && left > 0 {
            left -= 1;
            cut + TimeDelta::days(1)
        } else {
            cut
        };
        if extents.iter().next().is_some_and(|&(a, _)| a < own) {
            cuts.push((series.clone(), Some(own)));
        }
    }
    Some(Plan {
        cuts,
        days: budget,
        remaining: total - budget,
        through: cut,
    })
}

/// The pending raw times per series as merged UTC-day extents `[lo, hi)`, of the series
/// `($1 symbols, $2 natives)`, or of every series when `$1` is `NULL`.
const BACKLOG: &str = "SELECT symbol, interval, lower(span) AS lo, upper(span) AS hi \
     FROM (SELECT symbol, interval, unnest(range_agg(tstzrange( \
                  date_bin('1 day', lo, timestamptz 'epoch'), \
                  date_bin('1 day', hi, timestamptz 'epoch') + interval '1 day'))) AS span \
           FROM ohlcv_pending \
           WHERE $1::text[] IS NULL \
              OR (symbol, interval) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
           GROUP BY symbol, interval) p \
     ORDER BY symbol, interval, lo";

/// Takes the pending spans before each series' cut (`$1` symbols, `$2` natives, `$3` cuts,
/// `NULL` for all): deletes them, puts back the part at or after the cut of a span
/// that straddles it, and returns what was taken (`hi` clipped to just before the cut).
/// One statement, so the spans taken are exactly those returned, a writer's span
/// committed meanwhile included or not, never half.
const TAKE: &str = "WITH cut AS ( \
       SELECT symbol, interval, coalesce(cut, 'infinity') AS at \
       FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS c(symbol, interval, cut)), \
     taken AS ( \
       DELETE FROM ohlcv_pending p USING cut c \
       WHERE p.symbol = c.symbol AND p.interval = c.interval AND p.lo < c.at \
       RETURNING p.symbol, p.interval, p.lo, p.hi, c.at), \
     kept AS ( \
       INSERT INTO ohlcv_pending (symbol, interval, lo, hi) \
       SELECT symbol, interval, at, hi FROM taken WHERE hi >= at) \
     SELECT symbol, interval, lo, least(hi, at - interval '1 microsecond') AS hi FROM taken";

fn parse_native(text: &str) -> Result<Interval, diesel::result::Error> {
    text.parse()
        .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
}

/// What one committed step did.
struct StepDone {
    plan: Plan,
    /// Rows written per table (`ohlcv_pending`'s taken rows included).
    written: BTreeMap<String, u64>,
    /// Pending rows taken.
    consumed: usize,
}

/// The backlog as [`plan_step`] takes it: per series, its pending UTC-day extents.
async fn backlog(
    conn: &mut AsyncPgConnection,
    of: Option<&[Series]>,
) -> Result<Vec<(Series, Extents)>, diesel::result::Error> {
    let (symbols, natives) = of.map(series_arrays).unzip();
    let rows: Vec<PendingRow> = diesel::sql_query(BACKLOG)
        .bind::<Nullable<Array<Text>>, _>(symbols)
        .bind::<Nullable<Array<Text>>, _>(natives)
        .load(conn)
        .await?;
    let mut backlog: Vec<(Series, Extents)> = Vec::new();
    for r in rows {
        let series = (r.symbol, parse_native(&r.interval)?);
        match backlog.last_mut() {
            Some((s, extents)) if *s == series => extents.push((r.lo, r.hi)),
            _ => backlog.push((series, vec![(r.lo, r.hi)])),
        }
    }
    Ok(backlog)
}

/// `series` as the parallel arrays (symbols, natives) the statements unnest.
fn series_arrays(series: &[Series]) -> (Vec<&str>, Vec<String>) {
    series
        .iter()
        .map(|(symbol, native)| (symbol.as_str(), native.to_string()))
        .unzip()
}

/// One refresh step of the series `of`, in one transaction holding their series locks:
/// reads their backlog, takes at most [`STEP_DAYS`] series-days of it ([`plan_step`]) and
/// rebuilds the rollup buckets those spans cover ([`refresh_spans`]). A failure rolls back
/// this step only. `None` when nothing of theirs is pending.
async fn step(
    conn: &mut AsyncPgConnection,
    of: &[Series],
) -> Result<Option<StepDone>, diesel::result::Error> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let (symbols, natives) = series_arrays(of);
        diesel::sql_query(LOCK_SERIES)
            .bind::<Array<Text>, _>(symbols)
            .bind::<Array<Text>, _>(natives)
            .bind::<diesel::sql_types::Integer, _>(SERIES_LOCK)
            .execute(conn)
            .await?;
        let backlog = backlog(conn, Some(of)).await?;
        let Some(plan) = plan_step(&backlog, STEP_DAYS) else {
            return Ok(None);
        };
        let mut symbols: Vec<&str> = Vec::with_capacity(plan.cuts.len());
        let mut natives: Vec<String> = Vec::with_capacity(plan.cuts.len());
        let mut cuts: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(plan.cuts.len());
        for ((symbol, native), cut) in &plan.cuts {
            symbols.push(symbol);
            natives.push(native.to_string());
            cuts.push(*cut);
        }
        let taken: Vec<PendingRow> = diesel::sql_query(TAKE)
            .bind::<Array<Text>, _>(symbols)
            .bind::<Array<Text>, _>(natives)
            .bind::<Array<Nullable<Timestamptz>>, _>(cuts)
            .load(conn)
            .await?;
        let consumed = taken.len();
        let mut spans = Spans::new();
        for r in taken {
            spans
                .entry((r.symbol, parse_native(&r.interval)?))
                .or_default()
                .push((r.lo, r.hi));
        }
        let spans = spans.into_iter().map(|(k, v)| (k, merge(v))).collect();
        let mut written = refresh_spans(conn, &spans).await?;
        written.insert(
            "ohlcv_pending".to_owned(),
            u64::try_from(consumed).unwrap_or(u64::MAX),
        );
        Ok(Some(StepDone {
            plan,
            written,
            consumed,
        }))
    })
    .await
}

/// Series-days pending per series of `backlog`.
fn pending_days(extents: &Extents) -> i64 {
    extents.iter().map(|&(a, b)| days(a, b)).sum()
}

/// The series of `backlog` dealt into at most `workers` shards of about equal pending
/// series-days (largest first, each to the lightest shard), with each shard's days;
/// shards that would get nothing are left out.
fn shards(backlog: &[(Series, Extents)], workers: usize) -> Vec<(Vec<Series>, i64)> {
    let mut by_size: Vec<(&Series, i64)> =
        backlog.iter().map(|(s, e)| (s, pending_days(e))).collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut out: Vec<(Vec<Series>, i64)> =
        vec![(Vec::new(), 0); workers.clamp(1, backlog.len().max(1))];
    for (series, days) in by_size {
        if let Some(lightest) = out.iter_mut().min_by_key(|(_, d)| *d) {
            lightest.0.push(series.clone());
            lightest.1 += days;
        }
    }
    out.retain(|(series, _)| !series.is_empty());
    for (series, _) in &mut out {
        series.sort();
    }
    out
}

/// Consumes the pending spans in bounded steps, oldest days first, each its own
/// transaction ([`step`]: at most [`STEP_DAYS`] series-days, one statement per rollup and
/// source), calling `progress` after each commit, and rebuilds the rollup buckets they
/// cover. The series pending when it starts are dealt into one shard per connection of
/// `conns` ([`shards`], by pending days), and each connection works through its shard's
/// steps while the others work through theirs: series are independent (every bucket
/// belongs to one), so the server rebuilds them on as many cores as there are
/// connections. Two refreshes never rebuild one series at once: each step takes an
/// advisory lock per series it reads ([`SERIES_LOCK`]).
///
/// Resumable: a failure (statement timeout, lost connection, the process stopped) rolls
/// back the step it hit and returns its error once the other connections ended the steps
/// they were in (they start no other); the steps before it stay committed and the rest stays pending, so the next
/// refresh goes on from there. Reads are right meanwhile: a step commits the buckets it
/// rebuilt together with the removal of the spans it took, and the real-time views
/// aggregate whatever is still pending from raw candles.
///
/// Terminates: the number of steps is fixed by the backlog found at the start. A writer's
/// span committed meanwhile may be taken by a later step; what is left after the last step
/// (a new series' spans among it) waits for the next refresh.
///
/// Then, after the last commit, analyzes what the refresh and the writes before it left
/// without planner statistics (rollup tables, `ohlcv_pending`, raw partitions; see the
/// `analyze` module), so reads right after maintenance plan as well as reads later.
/// Returns the number of pending rows consumed (0, doing nothing, when `conns` is empty).
pub(crate) async fn refresh_pending(
    conns: Vec<&mut AsyncPgConnection>,
    progress: &RefreshObserver<'_>,
) -> Result<usize, diesel::result::Error> {
    let mut conns = conns;
    let Some(first) = conns.first_mut() else {
        return Ok(0);
    };
    let found = backlog(first, None).await?;
    let shards = shards(&found, conns.len());
    let steps_of = |days: i64| {
        u64::try_from((days + STEP_DAYS - 1) / STEP_DAYS)
            .unwrap_or(u64::MAX)
            .max(1)
    };
    let total: u64 = shards.iter().map(|(_, days)| steps_of(*days)).sum();
    let done = AtomicU64::new(0);
    let left = AtomicI64::new(shards.iter().map(|(_, days)| days).sum());
    let failed = AtomicBool::new(false);
    let workers = shards
        .iter()
        .zip(conns.iter_mut())
        .map(|((series, days), conn)| {
            let (done, left, failed) = (&done, &left, &failed);
            async move {
                let mut written: BTreeMap<String, u64> = BTreeMap::new();
                let mut consumed = 0;
                for _ in 0..steps_of(*days) {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let step = match step(conn, series).await {
                        Ok(Some(step)) => step,
                        Ok(None) => break,
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    };
                    consumed += step.consumed;
                    for (table, n) in step.written {
                        *written.entry(table).or_default() += n;
                    }
                    let step_no = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let remaining =
                        (left.fetch_sub(step.plan.days, Ordering::Relaxed) - step.plan.days).max(0);
                    progress(&RefreshProgress {
                        dataset: Dataset::Price,
                        target: STEP_TARGET.to_owned(),
                        step: step_no,
                        steps: Some(total.max(step_no)),
                        covered: TimeDelta::days(step.plan.days),
                        through: Some(step.plan.through),
                        remaining: Some(TimeDelta::days(remaining)),
                    });
                    if step.plan.remaining == 0 {
                        break;
                    }
                }
                Ok::<_, diesel::result::Error>((written, consumed))
            }
        });
    let results = futures_util::future::join_all(workers).await;
    let mut written: BTreeMap<String, u64> = ROLLUPS.map(|m| (materialized(m), 0)).into();
    written.insert("ohlcv_pending".to_owned(), 0);
    let mut consumed = 0;
    let mut failure = None;
    for result in results {
        match result {
            Ok((w, c)) => {
                consumed += c;
                for (table, n) in w {
                    *written.entry(table).or_default() += n;
                }
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(first) = conns.first_mut() else {
        return Ok(consumed);
    };
    analyze::stale(first, &written).await?;
    Ok(consumed)
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
/// never share a bucket, so no row is written twice. `$7` and `$8` bound every run: known
/// when the statement is planned, they prune the partitions of `candles` to those of the
/// batch, where the runs' own bounds (lateral parameters) prune only at run time, after the
/// executor set up a scan of every partition for each run (at 360 daily partitions a step
/// took twice as long as at 90 for the same rows).
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
                AND time >= r.lo AND time < r.hi AND time >= $7 AND time < $8) AS s \
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
                let (Some(&lowest), Some(&highest)) =
                    (batch.from.iter().min(), batch.to.iter().max())
                else {
                    continue;
                };
                let rows = diesel::sql_query(refresh_sql(&materialized(m), &source))
                    .bind::<Text, _>(schema::stride(m))
                    .bind::<Timestamptz, _>(m.origin())
                    .bind::<Array<Text>, _>(batch.symbols)
                    .bind::<Array<Text>, _>(batch.natives)
                    .bind::<Array<Timestamptz>, _>(batch.from)
                    .bind::<Array<Timestamptz>, _>(batch.to)
                    .bind::<Timestamptz, _>(lowest)
                    .bind::<Timestamptz, _>(highest)
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

    fn day(d: i64) -> DateTime<Utc> {
        "2024-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::days(d)
    }

    fn series(symbol: &str) -> Series {
        (symbol.to_owned(), Interval::M1)
    }

    /// Applies `plan` to `backlog` as the take statement does: the series-days taken and
    /// the backlog left.
    fn apply(backlog: &[(Series, Extents)], plan: &Plan) -> (i64, Vec<(Series, Extents)>) {
        let mut taken = 0;
        let mut left = Vec::new();
        for (s, extents) in backlog {
            let cut = plan
                .cuts
                .iter()
                .find(|(c, _)| c == s)
                .map(|(_, at)| at.unwrap_or(DateTime::<Utc>::MAX_UTC));
            let mut rest = Vec::new();
            for &(a, b) in extents {
                match cut {
                    Some(c) if b <= c => taken += days(a, b),
                    Some(c) if a < c => {
                        taken += days(a, c);
                        rest.push((c, b));
                    }
                    _ => rest.push((a, b)),
                }
            }
            if !rest.is_empty() {
                left.push((s.clone(), rest));
            }
        }
        (taken, left)
    }

    #[test]
    fn a_step_takes_everything_that_fits_its_budget() {
        let backlog = vec![
            (series("A"), vec![(day(0), day(10)), (day(20), day(25))]),
            (series("B"), vec![(day(3), day(4))]),
        ];
        let plan = plan_step(&backlog, 16).expect("pending");
        assert_eq!(plan.days, 16);
        assert_eq!(plan.remaining, 0);
        assert_eq!(plan.through, day(25));
        assert!(plan.cuts.iter().all(|(_, c)| c.is_none()));
        assert_eq!(plan_step(&[], 16), None, "nothing pending");
    }

    #[test]
    fn steps_take_the_oldest_days_first_within_the_budget_and_end() {
        // 3 series, 10 + 10 + 1 = 21 series-days; steps of 4.
        let mut backlog = vec![
            (series("A"), vec![(day(0), day(10))]),
            (series("B"), vec![(day(5), day(15))]),
            (series("C"), vec![(day(6), day(7))]),
        ];
        let first = plan_step(&backlog, 4).expect("pending");
        // Days 0-3 of A only (before day 4 the backlog is A's alone).
        assert_eq!(first.through, day(4));
        assert_eq!(first.days, 4);
        assert_eq!(first.remaining, 17);
        assert_eq!(first.cuts, vec![(series("A"), Some(day(4)))]);
        let mut steps = 0;
        let mut total = 0;
        let mut throughs = Vec::new();
        while let Some(plan) = plan_step(&backlog, 4) {
            let (taken, left) = apply(&backlog, &plan);
            assert_eq!(taken, plan.days, "the plan says what it takes");
            assert!((1..=4).contains(&taken), "bounded, and progress: {taken}");
            assert_eq!(
                plan.remaining,
                left.iter()
                    .flat_map(|(_, e)| e)
                    .map(|&(a, b)| days(a, b))
                    .sum::<i64>()
            );
            // Nothing older than `through` is left.
            assert!(left
                .iter()
                .flat_map(|(_, e)| e)
                .all(|&(a, _)| a >= plan.through));
            throughs.push(plan.through);
            total += taken;
            steps += 1;
            backlog = left;
            assert!(steps <= 6, "21 days in steps of 4 take 6 steps");
        }
        assert_eq!(total, 21);
        assert_eq!(steps, 6);
        assert!(throughs.windows(2).all(|w| w[0] <= w[1]), "{throughs:?}");
    }

    #[test]
    fn shards_deal_series_by_pending_days_and_leave_none_empty() {
        let backlog = vec![
            (series("A"), vec![(day(0), day(90))]),
            (series("B"), vec![(day(0), day(30))]),
            (series("C"), vec![(day(0), day(30)), (day(40), day(70))]),
            (series("D"), vec![(day(5), day(6))]),
        ];
        let two = shards(&backlog, 2);
        assert_eq!(
            two,
            vec![
                (vec![series("A"), series("D")], 91),
                (vec![series("B"), series("C")], 90),
            ]
        );
        let mut dealt: Vec<Series> = two.into_iter().flat_map(|(s, _)| s).collect();
        dealt.sort();
        assert_eq!(
            dealt,
            backlog.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()
        );
        assert_eq!(shards(&backlog, 9).len(), 4, "no more shards than series");
        assert_eq!(shards(&backlog, 0).len(), 1, "0 workers count as 1");
        assert!(shards(&[], 2).is_empty(), "nothing pending, no shard");
    }

    #[test]
    fn a_day_held_by_more_series_than_the_budget_is_split_by_series() {
        let backlog: Vec<_> = ["A", "B", "C", "D", "E"]
            .into_iter()
            .map(|s| (series(s), vec![(day(0), day(1))]))
            .collect();
        let plan = plan_step(&backlog, 2).expect("pending");
        assert_eq!(plan.days, 2);
        assert_eq!(plan.through, day(0));
        assert_eq!(
            plan.cuts,
            vec![(series("A"), Some(day(1))), (series("B"), Some(day(1)))]
        );
        let (taken, left) = apply(&backlog, &plan);
        assert_eq!((taken, left.len()), (2, 3));
    }

    #[test]
    fn cuts_fall_on_day_boundaries_every_rollup_width_divides() {
        assert_eq!(STEP_DAYS, BATCH_SPAN.num_days(), "a step is one batch");
        for m in ROLLUPS {
            assert!(m.divides(Interval::D1), "{m}");
            assert_eq!(m.floor(day(3)), day(3));
        }
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
