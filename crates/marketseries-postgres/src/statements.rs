//! The SQL text of the price read statements, public so that benchmarks can issue exactly
//! what the store issues and operators can `EXPLAIN` it. Every backend built on
//! [`SqlStore`](crate::SqlStore) runs these, so they are plain SQL (PostgreSQL 14 or newer,
//! TimescaleDB hypertables included) over the `candles` columns and primary key
//! `(symbol, interval, time)`.
//!
//! Which series (symbol, native interval) exist, and the latest candle of each, come from
//! the table `candle_series`, which every candle write keeps (see [`record_series`]), rather
//! than from `candles`, where even a loose index scan probes the index of every partition (or
//! chunk) once per distinct value. Each series read from it is checked to still have its
//! latest candle (one primary-key probe), so series that retention removed entirely vanish.
//!
//! The store's sessions run with `plan_cache_mode = force_generic_plan` (see
//! `pool::SESSION_SETUP`): each statement is planned once per connection, and partitions
//! (chunks) outside its `$n` time window are pruned when the executor starts. Statements
//! that take a time window name it through a CTE `bounds (lo, hi)`, which the planner
//! inlines, so that pruning sees the parameters. Issued elsewhere without that setting,
//! PostgreSQL's default heuristic may prefer custom plans, re-planned on every call.

use std::sync::LazyLock;

use tokio_postgres::types::Type;

/// Column types of [`copy_candles`], in order: symbol, native interval, time, open, high,
/// low, close, volume.
pub const COPY_CANDLE_TYPES: [Type; 8] = [
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
];

/// Condition that series `s` (a `candle_series` row) still has its latest candle. A scalar
/// subquery, not `EXISTS`: the planner may turn `EXISTS` into a hash join over every row of
/// `candles` when it misjudges the size of `candle_series`; a scalar subquery is always one
/// primary-key probe per series.
const LIVE: &str = "coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol \
      AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)";

/// Native intervals of symbol `$1`, as CTE `natives (interval)` of a `WITH RECURSIVE`.
fn natives() -> String {
    format!("natives (interval) AS (SELECT s.interval FROM candle_series s WHERE s.symbol = $1 AND {LIVE})")
}

/// `ORDER BY` keys that sort canonical interval texts (`<count><unit>`, see
/// `marketseries_core::Interval`) as `Interval`'s `Ord` does: by width, then epoch-aligned
/// before Monday-aligned (`7d` before `1w`); the text last, for determinism. The base
/// interval of a symbol is the first native in this order.
const BY_WIDTH: &str = "left(interval, -1)::bigint * CASE right(interval, 1) \
      WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400 \
      ELSE 604800 END, right(interval, 1) = 'w', interval";

/// CTEs `natives (interval)` of symbol `$1` and `base (interval)`, its base interval (the
/// first native by [`BY_WIDTH`]), for a `WITH RECURSIVE`.
fn base_cte() -> String {
    format!(
        "{natives}, base (interval) AS (SELECT interval FROM natives ORDER BY {BY_WIDTH} LIMIT 1)",
        natives = natives()
    )
}

/// Time window `[$from, $to)` as CTE `bounds (lo, hi)` (inlined by the planner; see the
/// module docs).
fn bounds(from: u8, to: u8) -> String {
    format!("bounds (lo, hi) AS (SELECT ${from}::timestamptz, ${to}::timestamptz)")
}

/// Native intervals of one symbol (text order). `$1` symbol. Columns: `interval`.
pub fn native_intervals() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {natives} SELECT interval FROM natives ORDER BY interval",
            natives = natives()
        )
    });
    &SQL
}

/// [`native_intervals`] plus, per native, whether a rollup span of the series is pending
/// (plain PostgreSQL). `$1` symbol. Columns: `interval`, `pending`.
pub fn native_intervals_pending() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT s.interval, EXISTS (SELECT 1 FROM ohlcv_pending p \
               WHERE p.symbol = s.symbol AND p.interval = s.interval) AS pending \
             FROM candle_series s WHERE s.symbol = $1 AND {LIVE} ORDER BY s.interval"
        )
    });
    &SQL
}

/// Every symbol with candles, in byte order. No parameters. Columns: `symbol`.
pub fn symbols() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT s.symbol FROM candle_series s WHERE {LIVE} \
             GROUP BY s.symbol ORDER BY s.symbol COLLATE \"C\""
        )
    });
    &SQL
}

/// Latest base-interval candle of one symbol; no row without candles. `$1` symbol.
/// Columns: `interval`, `time`, `close`.
pub fn latest_price() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT s.interval, s.latest_time AS time, s.latest_close AS close \
             FROM candle_series s WHERE s.symbol = $1 AND {LIVE} \
             ORDER BY {BY_WIDTH} LIMIT 1"
        )
    });
    &SQL
}

/// First open, last close, high and low of one symbol's base-interval candles with `time`
/// in `[$2, $3)`; no row when there are none. `$1` symbol. Columns: `first_time`, `open`,
/// `last_time`, `close`, `high`, `low`.
pub fn price_change() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| price_change_sql(HighLow::Raw));
    &SQL
}

/// [`price_change`] for plain PostgreSQL: the high and low of the whole hours of the window
/// come from `ohlcv_1h_materialized`, those of the partial hours at either end from raw
/// candles, when the series' native divides an hour and no pending span touches those
/// hours (otherwise from raw candles only).
pub fn price_change_rollup() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| price_change_sql(HighLow::Rollup));
    &SQL
}

fn price_change_sql(high_low: HighLow) -> String {
    format!(
        "WITH RECURSIVE {base}, \
         {bounds} \
         SELECT f.time AS first_time, f.open, z.time AS last_time, z.close, \
                hl.high, hl.low \
         FROM base b CROSS JOIN bounds w \
         {change}",
        bounds = bounds(2, 3),
        change = change_joins("$1", "CROSS", high_low),
        base = base_cte(),
    )
}

/// Volume of one symbol's base-interval candles with `time` in `[$3, $4)` by closing price
/// level `floor(close / $2) * $2`, lowest first. `$1` symbol, `$2` step (numeric).
/// Columns: `price`, `volume`, `candles`.
pub fn volume_profile() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {base}, \
             {bounds} \
             SELECT v.price, v.volume, v.candles FROM base b CROSS JOIN bounds w \
             CROSS JOIN LATERAL ( \
               SELECT floor(c.close / $2) * $2 AS price, sum(c.volume) AS volume, \
                      count(*) AS candles \
               FROM candles c WHERE c.symbol = $1 AND c.interval = b.interval \
               AND c.time >= w.lo AND c.time < w.hi GROUP BY 1) v \
             ORDER BY v.price",
            bounds = bounds(3, 4),
            base = base_cte(),
        )
    });
    &SQL
}

/// For every symbol, its base interval, latest candle and change over `[$1, $2)` (`NULL`
/// change columns when it has no base-interval candles there), in byte order of symbol.
/// Columns: `symbol`, `interval`, `time`, `price`, then those of [`price_change`].
pub fn market_overview() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| market_overview_sql(HighLow::Raw));
    &SQL
}

/// [`market_overview`] for plain PostgreSQL: high and low as in [`price_change_rollup`].
pub fn market_overview_rollup() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| market_overview_sql(HighLow::Rollup));
    &SQL
}

fn market_overview_sql(high_low: HighLow) -> String {
    format!(
        "WITH base (symbol, interval, time, price) AS ( \
           SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, \
                  s.latest_close \
           FROM candle_series s WHERE {LIVE} ORDER BY s.symbol, {BY_WIDTH}), \
         {bounds} \
         SELECT b.symbol, b.interval, b.time, b.price, \
                f.time AS first_time, f.open, z.time AS last_time, z.close, \
                hl.high, hl.low \
         FROM base b CROSS JOIN bounds w \
         {change} \
         ORDER BY b.symbol COLLATE \"C\"",
        bounds = bounds(1, 2),
        change = change_joins("b.symbol", "LEFT", high_low),
    )
}

/// Where the high and low of a window come from.
#[derive(Clone, Copy)]
enum HighLow {
    /// A range scan of the raw candles of the window.
    Raw,
    /// Plain PostgreSQL: the whole hours of the window from `ohlcv_1h_materialized`, the
    /// partial hours at either end from raw candles, so a 24-hour window reads about 23
    /// rollup rows and at most two hours of candles instead of 1,440 one-minute candles.
    /// Only when the series' native divides an hour and no pending span touches those
    /// hours (the rollup is then exact for them); otherwise the raw range scan.
    Rollup,
}

/// Lateral joins `f` (first candle), `z` (last candle) and `hl` (high, low) over the
/// candles of `symbol` and `b.interval` in `w`: two index probes and range scans, where
/// ordered `array_agg`s would sort the whole window. `join` is `CROSS` (no first candle, no
/// row) or `LEFT` (null columns).
fn change_joins(symbol: &str, join: &str, high_low: HighLow) -> String {
    let series = format!("c.symbol = {symbol} AND c.interval = b.interval");
    let window = format!("FROM candles c WHERE {series} AND c.time >= w.lo AND c.time < w.hi");
    let on = if join == "LEFT" { " ON true" } else { "" };
    let hl = match high_low {
        HighLow::Raw => format!("SELECT max(c.high) AS high, min(c.low) AS low {window}"),
        // Every branch but one is switched off by a filter on the outer row, so only the
        // chosen range scans run.
        HighLow::Rollup => format!(
            "SELECT max(x.high) AS high, min(x.low) AS low \
             FROM (SELECT date_bin('1 hour', w.lo - interval '1 microsecond', \
                            timestamptz 'epoch') + interval '1 hour' AS lo, \
                          date_bin('1 hour', w.hi, timestamptz 'epoch') AS hi) m \
             CROSS JOIN LATERAL (SELECT 3600 % marketseries_interval_seconds(b.interval) = 0 \
               AND m.lo < m.hi AND NOT EXISTS (SELECT 1 FROM ohlcv_pending p \
                 WHERE p.symbol = {symbol} AND p.interval = b.interval \
                   AND p.lo < m.hi AND p.hi >= m.lo) AS ok) u \
             CROSS JOIN LATERAL ( \
               SELECT c.high, c.low {window} AND NOT u.ok \
               UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
                 AND c.time >= w.lo AND c.time < m.lo \
               UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
                 AND c.time >= m.hi AND c.time < w.hi \
               UNION ALL SELECT c.high, c.low FROM ohlcv_1h_materialized c \
                 WHERE u.ok AND {series} AND c.time >= m.lo AND c.time < m.hi) x"
        ),
    };
    format!(
        "{join} JOIN LATERAL (SELECT c.time, c.open {window} ORDER BY c.time LIMIT 1) f{on} \
         {join} JOIN LATERAL (SELECT c.time, c.close {window} ORDER BY c.time DESC LIMIT 1) z{on} \
         {join} JOIN LATERAL ({hl}) hl{on}"
    )
}

/// Aggregation of `table` (raw `candles` or a finer rollup) into buckets of stride `$1`
/// (text, e.g. `3600 seconds`) from origin `$2`, for symbol `$3`, native `$4`, `time` in
/// `[$5, $6)`. Columns: `time`, `open`, `high`, `low`, `close`, `volume`.
pub fn aggregate_ohlcv(table: &str) -> String {
    format!(
        "SELECT date_bin($1::interval, time, $2) AS time, \
         (array_agg(open ORDER BY time))[1] AS open, max(high) AS high, min(low) AS low, \
         (array_agg(close ORDER BY time DESC))[1] AS close, sum(volume) AS volume \
         FROM {table} WHERE symbol = $3 AND interval = $4 AND time >= $5 AND time < $6 \
         GROUP BY 1 ORDER BY 1"
    )
}

/// Rows of the rollup `table` for symbol `$1`, native `$2`, `time` in `[$3, $4)`.
/// Columns: `time`, `open`, `high`, `low`, `close`, `volume`.
pub fn materialized_ohlcv(table: &str) -> String {
    format!(
        "SELECT time, open, high, low, close, volume FROM {table} \
         WHERE symbol = $1 AND interval = $2 AND time >= $3 AND time < $4 ORDER BY time"
    )
}

/// Records pending OHLCV rollup spans (plain PostgreSQL): `$1` symbols, `$2` native
/// intervals, `$3` first and `$4` last raw time of each span (parallel arrays).
pub fn record_pending() -> &'static str {
    "INSERT INTO ohlcv_pending (symbol, interval, lo, hi) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])"
}

/// The candle upsert: arrays `$1` symbols, `$2` native intervals, `$3` times, `$4`..`$8`
/// open, high, low, close, volume (numeric); a stored key is replaced.
pub fn upsert_candles() -> &'static str {
    "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[], \
                          $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[]) \
     ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
     high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume"
}

/// The binary `COPY` of candles (plain PostgreSQL's append path). Columns in order:
/// [`COPY_CANDLE_TYPES`].
pub fn copy_candles() -> &'static str {
    "COPY candles (symbol, interval, time, open, high, low, close, volume) \
     FROM STDIN (FORMAT binary)"
}

/// Records the latest candle of each series of a batch (`$1` symbols, `$2` native
/// intervals, `$3` times, `$4` closes; one element per series): a series' row moves only
/// forward in time, and a correction of its latest candle updates it.
pub fn record_series() -> &'static str {
    "INSERT INTO candle_series (symbol, interval, latest_time, latest_close) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[]) \
     ON CONFLICT (symbol, interval) DO UPDATE SET latest_time = EXCLUDED.latest_time, \
     latest_close = EXCLUDED.latest_close \
     WHERE candle_series.latest_time <= EXCLUDED.latest_time"
}

/// Deletes the `candle_series` rows whose latest candle no longer exists (after retention
/// dropped every row of the series).
pub fn forget_dead_series() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("DELETE FROM candle_series s WHERE NOT {LIVE}"));
    &SQL
}
