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

/// Condition that series `s` (a `candle_series` row) still has its latest candle (for
/// flavors building their own [`series_with`]). A scalar
/// subquery, not `EXISTS`: the planner may turn `EXISTS` into a hash join over every row of
/// `candles` when it misjudges the size of `candle_series`; a scalar subquery is always one
/// primary-key probe per series.
pub const LIVE: &str = "coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol \
      AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)";

/// Native intervals of symbol `$1`, as CTE `natives (interval)` of a `WITH RECURSIVE`.
fn natives() -> String {
    format!("natives (interval) AS (SELECT s.interval FROM candle_series s WHERE s.symbol = $1 AND {LIVE})")
}

/// `ORDER BY` keys that sort canonical interval texts (`<count><unit>`, see
/// `marketseries_core::Interval`) as `Interval`'s `Ord` does: by width, then epoch-aligned
/// before Monday-aligned (`7d` before `1w`); the text last, for determinism. The base
/// interval of a symbol is the first native in this order.
const BY_WIDTH: &str =
    "marketseries_interval_seconds(interval), right(interval, 1) = 'w', interval";

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

/// The point-in-time price read statements of one flavor: the texts that differ between
/// backends, built from the shared pieces of this module. Each text is built once, on
/// first use.
pub struct ReadStatements {
    series: LazyLock<String>,
    price_change: LazyLock<String>,
    market_overview: LazyLock<String>,
}

/// The statements every flavor runs unless it supplies its own ([`Flavor::reads`]): no
/// series has a complete materialization ([`series_with`]`("false")`), and highs and lows
/// come from raw candles ([`raw_high_low`]).
///
/// [`Flavor::reads`]: crate::Flavor::reads
pub static SHARED_READS: ReadStatements = ReadStatements::new(
    || series_with("false"),
    || price_change_with(raw_high_low),
    || market_overview_with(raw_high_low),
);

impl ReadStatements {
    /// Statements built by the given functions (see [`series_with`], [`price_change_with`],
    /// [`market_overview_with`]).
    pub const fn new(
        series: fn() -> String,
        price_change: fn() -> String,
        market_overview: fn() -> String,
    ) -> Self {
        Self {
            series: LazyLock::new(series),
            price_change: LazyLock::new(price_change),
            market_overview: LazyLock::new(market_overview),
        }
    }

    /// The series of one symbol. `$1` symbol. Columns: `interval`, `complete` (whether the
    /// materialized OHLCV aggregates hold every candle of the series, so that a real-time
    /// read may read them alone).
    pub fn series(&'static self) -> &'static str {
        &self.series
    }

    /// First open, last close, high and low of one symbol's base-interval candles with
    /// `time` in `[$2, $3)`; no row when there are none. `$1` symbol. Columns:
    /// `first_time`, `open`, `last_time`, `close`, `high`, `low`.
    pub fn price_change(&'static self) -> &'static str {
        &self.price_change
    }

    /// For every symbol, its base interval, latest candle and change over `[$1, $2)`
    /// (`NULL` change columns when it has no base-interval candles there), in byte order
    /// of symbol. Columns: `symbol`, `interval`, `time`, `price`, then those of
    /// [`ReadStatements::price_change`].
    pub fn market_overview(&'static self) -> &'static str {
        &self.market_overview
    }
}

/// [`ReadStatements::series`] with `complete` (an SQL boolean expression over the
/// `candle_series` row `s`) as column `complete`.
pub fn series_with(complete: &str) -> String {
    format!(
        "SELECT s.interval, ({complete}) AS complete \
         FROM candle_series s WHERE s.symbol = $1 AND {LIVE} ORDER BY s.interval"
    )
}

/// What a high/low subquery of a window read may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// The symbol expression (`$1`, or `b.symbol` in the overview).
    pub symbol: &'a str,
    /// Condition selecting the series' candles `c` (the symbol, and `b.interval`, its base
    /// interval).
    pub series: &'a str,
    /// `FROM candles c WHERE <series> AND <time in w>`, where `w (lo, hi)` is the window.
    pub candles: &'a str,
}

/// The shared high/low subquery: a range scan of the raw candles of the window.
pub fn raw_high_low(w: &Window<'_>) -> String {
    format!(
        "SELECT max(c.high) AS high, min(c.low) AS low {}",
        w.candles
    )
}

/// [`ReadStatements::price_change`] with `high_low` building the subquery for columns
/// `high`, `low`.
pub fn price_change_with(high_low: fn(&Window<'_>) -> String) -> String {
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

/// [`ReadStatements::market_overview`] with `high_low` as in [`price_change_with`].
pub fn market_overview_with(high_low: fn(&Window<'_>) -> String) -> String {
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

/// Lateral joins `f` (first candle), `z` (last candle) and `hl` (high, low) over the
/// candles of `symbol` and `b.interval` in `w`: two index probes and range scans, where
/// ordered `array_agg`s would sort the whole window. `join` is `CROSS` (no first candle, no
/// row) or `LEFT` (null columns).
fn change_joins(symbol: &str, join: &str, high_low: fn(&Window<'_>) -> String) -> String {
    let series = format!("c.symbol = {symbol} AND c.interval = b.interval");
    let window = format!("FROM candles c WHERE {series} AND c.time >= w.lo AND c.time < w.hi");
    let on = if join == "LEFT" { " ON true" } else { "" };
    let hl = high_low(&Window {
        symbol,
        series: &series,
        candles: &window,
    });
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

/// The candle upsert: arrays `$1` symbols, `$2` native intervals, `$3` times, `$4`..`$8`
/// open, high, low, close, volume (numeric); a stored key is replaced.
pub fn upsert_candles() -> &'static str {
    "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[], \
                          $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[]) \
     ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
     high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume"
}

/// The binary `COPY` of candles (the append path, [`crate::SqlStore::append_candles`]). Columns in order:
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
