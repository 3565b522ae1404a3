//! SQL text only plain PostgreSQL runs: pending rollup spans and the read statements that
//! consult them (its [`Flavor::reads`](marketseries_sql::Flavor::reads)). Built from the
//! shared pieces of [`marketseries_sql::statements`]; public so that benchmarks can issue
//! exactly what the store issues and operators can `EXPLAIN` it.

use marketseries_core::Interval;
use marketseries_sql::schema;
use marketseries_sql::statements::{ReadPieces, ReadStatements, Window};

/// Settings of the plain-PostgreSQL store's sessions: the shared ones
/// ([`marketseries_sql::SESSION_SETUP`]) but for the plan cache, which plans every
/// execution with its parameters (`force_custom_plan`). A generic plan is planned over
/// every partition of every table a statement reads, since none can be pruned without the
/// parameters: on a year of daily partitions the first market overview on a connection
/// spent 650 ms in planning (bind) for a 4 ms execution, which every CLI call and every
/// fresh pooled connection paid, and PostgreSQL's default mode builds that generic plan at
/// the sixth execution to compare costs. With the parameters, the planner prunes to the
/// partitions of the window before planning them; every read statement of this flavor
/// bounds its raw-candle scans by its window parameters (not only by values computed in
/// the query), so that pruning applies.
pub const SESSION_SETUP: &str =
    "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_custom_plan; SET jit = off";

/// The read statements of plain PostgreSQL: a series' materialization is complete when no
/// rollup span of it is pending, and the high and low of the whole hours of a window come
/// from the `ohlcv_1h` rollup ([`rollup_high_low`]). Series need no liveness probe of
/// `candles`: `candle_series` is kept by every candle write in its transaction, and
/// retention, the only removal of candles, deletes the series rows whose latest candle it
/// dropped. The probe cost a correlated lookup planned and initialised over every
/// partition (its time is not known when the executor starts): 12-18 ms per latest price
/// on a year of daily partitions, and hundreds of ms for the first call on a connection.
pub static READS: ReadStatements = ReadStatements::new(ReadPieces {
    live: "true",
    complete: "NOT EXISTS (SELECT 1 FROM ohlcv_pending p \
               WHERE p.symbol = s.symbol AND p.interval = s.interval)",
    high_low: rollup_high_low,
});

/// High and low of a window: the whole hours from `ohlcv_1h_materialized`, the partial
/// hours at either end from raw candles, so a 24-hour window reads about 23 rollup rows
/// and at most two hours of candles instead of 1,440 one-minute candles. Only when the
/// series' native divides an hour and no pending span touches those hours (the rollup is
/// then exact for them); otherwise a range scan of the raw candles. Every branch but one
/// is switched off by a filter on the outer row, so only the chosen range scans run. The
/// partial-hour scans repeat the window bounds `w` beside the computed hour bounds `m` so
/// that the planner prunes their partitions (see [`SESSION_SETUP`]).
pub fn rollup_high_low(w: &Window<'_>) -> String {
    let Window {
        symbol,
        series,
        candles,
    } = *w;
    format!(
        "SELECT max(x.high) AS high, min(x.low) AS low \
         FROM (SELECT date_bin('1 hour', w.lo - interval '1 microsecond', \
                        timestamptz 'epoch') + interval '1 hour' AS lo, \
                      date_bin('1 hour', w.hi, timestamptz 'epoch') AS hi) m \
         CROSS JOIN LATERAL (SELECT 3600 % marketseries_interval_seconds(b.interval) = 0 \
           AND m.lo < m.hi AND NOT EXISTS (SELECT 1 FROM ohlcv_pending p \
             WHERE p.symbol = {symbol} AND p.interval = b.interval \
               AND p.lo < m.hi AND p.hi >= m.lo) AS ok) u \
         CROSS JOIN LATERAL ( \
           SELECT c.high, c.low {candles} AND NOT u.ok \
           UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
             AND c.time >= w.lo AND c.time < w.hi AND c.time < m.lo \
           UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
             AND c.time >= w.lo AND c.time >= m.hi AND c.time < w.hi \
           UNION ALL SELECT c.high, c.low FROM ohlcv_1h_materialized c \
             WHERE u.ok AND {series} AND c.time >= m.lo AND c.time < m.hi) x"
    )
}

/// Records pending OHLCV rollup spans: `$1` symbols, `$2` native intervals, `$3` first and
/// `$4` last raw time of each span (parallel arrays).
pub fn record_pending() -> &'static str {
    "INSERT INTO ohlcv_pending (symbol, interval, lo, hi) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])"
}

/// The rows of rollup `m` of one series with bucket start in `[lo, hi)` as a subquery
/// (alias `rt`) with the columns of `ohlcv_<m>`, given the placeholders `[symbol, native,
/// lo, hi]` (`lo` and `hi` aligned to `m`): what the real-time view `ohlcv_<m>` holds there,
/// but with the window applied to the pending spans before any raw candle is read. The
/// view cannot do that: a filter on its `time` reaches its raw branch only as a filter on
/// `date_bin(time)` after the range scans, so a read of 30 days through a year of pending
/// spans aggregated the whole year (20 s against 86 ms for raw aggregation of the range).
/// Here the pending spans of the series (merged, bucket-aligned) are cut to the window,
/// the materialized buckets they do not touch are read from the rollup table, and the
/// touched ones are aggregated from one range scan of raw candles per cut span, never more
/// candles than a raw aggregation of the window reads. The window bounds also bound the
/// raw scan directly, so partitions outside it are pruned.
pub fn real_time_ohlcv(m: Interval, [symbol, native, lo, hi]: [&str; 4]) -> String {
    let table = schema::ohlcv_materialized(m);
    let step = format!("interval '{} seconds'", m.seconds());
    let bin = |t: &str| format!("date_bin({step}, {t}, timestamptz 'epoch')");
    let (p_lo, p_hi) = (bin("p.lo"), bin("p.hi"));
    format!(
        "(WITH spans (span) AS MATERIALIZED ( \
           SELECT s.span * tstzrange({lo}::timestamptz, {hi}::timestamptz) \
           FROM (SELECT unnest(range_agg(tstzrange({p_lo}, {p_hi} + {step}))) AS span \
                 FROM ohlcv_pending p WHERE p.symbol = {symbol}::text \
                   AND p.interval = {native}::text \
                   AND p.hi >= {lo}::timestamptz AND p.lo < {hi}::timestamptz) s \
           WHERE s.span && tstzrange({lo}::timestamptz, {hi}::timestamptz)) \
         SELECT r.symbol, r.interval, r.time, r.open, r.high, r.low, r.close, r.volume \
         FROM {table} r WHERE r.symbol = {symbol}::text AND r.interval = {native}::text \
           AND r.time >= {lo}::timestamptz AND r.time < {hi}::timestamptz \
           AND NOT EXISTS (SELECT 1 FROM spans x WHERE x.span @> r.time) \
         UNION ALL \
         SELECT {symbol}::text, {native}::text, {bucket}, \
                (array_agg(c.open ORDER BY c.time))[1], max(c.high), min(c.low), \
                (array_agg(c.close ORDER BY c.time DESC))[1], sum(c.volume) \
         FROM spans x CROSS JOIN LATERAL ( \
           SELECT c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c \
           WHERE c.symbol = {symbol}::text AND c.interval = {native}::text \
             AND c.time >= {lo}::timestamptz AND c.time < {hi}::timestamptz \
             AND c.time >= lower(x.span) AND c.time < upper(x.span) OFFSET 0) c \
         GROUP BY 3) AS rt",
        bucket = bin("c.time"),
    )
}
