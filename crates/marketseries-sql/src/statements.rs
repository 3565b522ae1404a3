//! The SQL text of the price read statements, public so that benchmarks can issue exactly
//! what the store issues and operators can `EXPLAIN` it. Every backend built on
//! [`SqlStore`](crate::SqlStore) runs these, so they are plain SQL (PostgreSQL 14 or newer,
//! TimescaleDB hypertables included) over the `candles` columns and primary key
//! `(symbol, interval, time)`.
//!
//! Which series (symbol, native interval) exist, and the latest candle of each, come from
//! the table `candle_series`, which every candle write keeps (see [`record_series`]), rather
//! than from `candles`, where even a loose index scan probes the index of every partition (or
//! chunk) once per distinct value. Each series read from it is checked to still have
//! candles by the flavor's [`ReadPieces::live`], so series that retention removed entirely
//! vanish.
//!
//! The store's sessions run with `plan_cache_mode = force_generic_plan` by default (see
//! `pool::SESSION_SETUP`; a flavor may set its own, [`crate::Flavor::session_setup`]): each
//! statement is planned once per connection, and partitions (chunks) outside its `$n` time
//! window are pruned when the executor starts. Statements that take a time window name it
//! through a CTE `bounds (lo, hi)`, which the planner inlines, so that pruning sees the
//! parameters. Issued elsewhere without that setting, PostgreSQL's default heuristic may
//! prefer custom plans, re-planned on every call.
//!
//! Which series still have candles is a flavor's piece ([`ReadPieces::live`]): the shared
//! [`LIVE`] probe, or `true` where the flavor keeps `candle_series` exact itself.

use std::sync::{LazyLock, OnceLock};

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

/// Native intervals of symbol `$1` whose series satisfy `live`, as CTE `natives
/// (interval)` of a `WITH RECURSIVE`.
fn natives(live: &str) -> String {
    format!("natives (interval) AS (SELECT s.interval FROM candle_series s WHERE s.symbol = $1 AND {live})")
}

/// `ORDER BY` keys that sort canonical interval texts (`<count><unit>`, see
/// `marketseries_core::Interval`) as `Interval`'s `Ord` does: by width, then epoch-aligned
/// before Monday-aligned (`7d` before `1w`); the text last, for determinism. The base
/// interval of a symbol is the first native in this order.
const BY_WIDTH: &str =
    "marketseries_interval_seconds(interval), right(interval, 1) = 'w', interval";

/// CTEs `natives (interval)` of symbol `$1` and `base (interval)`, its base interval (the
/// first native by [`BY_WIDTH`]), for a `WITH RECURSIVE`.
fn base_cte(live: &str) -> String {
    format!(
        "{natives}, base (interval) AS (SELECT interval FROM natives ORDER BY {BY_WIDTH} LIMIT 1)",
        natives = natives(live)
    )
}

/// Time window `[$from, $to)` as CTE `bounds (lo, hi)` (inlined by the planner; see the
/// module docs).
fn bounds(from: u8, to: u8) -> String {
    format!("bounds (lo, hi) AS (SELECT ${from}::timestamptz, ${to}::timestamptz)")
}

/// Native intervals of one symbol (text order), with the shared liveness check ([`LIVE`]);
/// see [`ReadStatements::native_intervals`].
pub fn native_intervals() -> &'static str {
    SHARED_READS.native_intervals()
}

/// Every symbol with candles, with the shared liveness check; see
/// [`ReadStatements::symbols`].
pub fn symbols() -> &'static str {
    SHARED_READS.symbols()
}

/// Latest base-interval candle of one symbol, with the shared liveness check; see
/// [`ReadStatements::latest_price`].
pub fn latest_price() -> &'static str {
    SHARED_READS.latest_price()
}

/// [`ReadStatements::native_intervals`] with `live` (an SQL boolean over the
/// `candle_series` row `s`, such as [`LIVE`]) deciding which series still exist.
pub fn native_intervals_with(live: &str) -> String {
    format!(
        "WITH RECURSIVE {natives} SELECT interval FROM natives ORDER BY interval",
        natives = natives(live)
    )
}

/// [`ReadStatements::symbols`] with `live` as in [`native_intervals_with`].
pub fn symbols_with(live: &str) -> String {
    format!(
        "SELECT s.symbol FROM candle_series s WHERE {live} \
         GROUP BY s.symbol ORDER BY s.symbol COLLATE \"C\""
    )
}

/// [`ReadStatements::latest_price`] with `live` as in [`native_intervals_with`].
pub fn latest_price_with(live: &str) -> String {
    format!(
        "SELECT s.interval, s.latest_time AS time, s.latest_close AS close \
         FROM candle_series s WHERE s.symbol = $1 AND {live} \
         ORDER BY {BY_WIDTH} LIMIT 1"
    )
}

/// The point-in-time price read statements of one flavor: the texts that differ between
/// backends, built from the shared pieces of this module. Each text is built once, on
/// first use, from the flavor's [`ReadPieces`].
pub struct ReadStatements {
    pieces: ReadPieces,
    series: OnceLock<String>,
    price_change: OnceLock<String>,
    market_overview: OnceLock<String>,
    native_intervals: OnceLock<String>,
    symbols: OnceLock<String>,
    latest_price: OnceLock<String>,
    volume_profile: OnceLock<String>,
}

/// What differs between the read statements of two flavors.
#[derive(Debug, Clone, Copy)]
pub struct ReadPieces {
    /// SQL boolean over the `candle_series` row `s`: the series still has candles. The
    /// shared [`LIVE`] probes its latest candle; a flavor whose every removal of candles
    /// also removes the series rows that lost theirs may say `true`, which spares every
    /// point-in-time read a correlated probe of `candles` (over every partition or chunk,
    /// since its time is not known when the executor starts).
    pub live: &'static str,
    /// SQL boolean over the `candle_series` row `s`: the materialized OHLCV aggregates
    /// hold every candle of the series (column `complete` of [`ReadStatements::series`]).
    pub complete: &'static str,
    /// Builds the high/low subquery of window reads ([`raw_high_low`] or a flavor's own).
    pub high_low: fn(&Window<'_>) -> String,
}

/// The pieces every flavor uses unless it supplies its own ([`Flavor::reads`]): the
/// [`LIVE`] probe, no series has a complete materialization, and highs and lows come from
/// raw candles ([`raw_high_low`]).
///
/// [`Flavor::reads`]: crate::Flavor::reads
pub const SHARED_PIECES: ReadPieces = ReadPieces {
    live: LIVE,
    complete: "false",
    high_low: raw_high_low,
};

/// The statements of [`SHARED_PIECES`].
pub static SHARED_READS: ReadStatements = ReadStatements::new(SHARED_PIECES);

impl ReadStatements {
    /// Statements built from `pieces` (see [`series_with`], [`price_change_with`],
    /// [`market_overview_with`], [`latest_price_with`], ...).
    pub const fn new(pieces: ReadPieces) -> Self {
        Self {
            pieces,
            series: OnceLock::new(),
            price_change: OnceLock::new(),
            market_overview: OnceLock::new(),
            native_intervals: OnceLock::new(),
            symbols: OnceLock::new(),
            latest_price: OnceLock::new(),
            volume_profile: OnceLock::new(),
        }
    }

    /// The pieces these statements are built from.
    pub fn pieces(&self) -> ReadPieces {
        self.pieces
    }

    /// The series of one symbol. `$1` symbol. Columns: `interval`, `complete` (whether the
    /// materialized OHLCV aggregates hold every candle of the series, so that a real-time
    /// read may read them alone).
    pub fn series(&'static self) -> &'static str {
        self.series
            .get_or_init(|| series_with(self.pieces.live, self.pieces.complete))
    }

    /// First open, last close, high and low of one symbol's base-interval candles with
    /// `time` in `[$2, $3)`; no row when there are none. `$1` symbol. Columns:
    /// `first_time`, `open`, `last_time`, `close`, `high`, `low`.
    pub fn price_change(&'static self) -> &'static str {
        self.price_change
            .get_or_init(|| price_change_with(self.pieces.live, self.pieces.high_low))
    }

    /// For every symbol, its base interval, latest candle and change over `[$1, $2)`
    /// (`NULL` change columns when it has no base-interval candles there), in byte order
    /// of symbol. Columns: `symbol`, `interval`, `time`, `price`, then those of
    /// [`ReadStatements::price_change`].
    pub fn market_overview(&'static self) -> &'static str {
        self.market_overview
            .get_or_init(|| market_overview_with(self.pieces.live, self.pieces.high_low))
    }

    /// Native intervals of one symbol (text order). `$1` symbol. Columns: `interval`.
    pub fn native_intervals(&'static self) -> &'static str {
        self.native_intervals
            .get_or_init(|| native_intervals_with(self.pieces.live))
    }

    /// Every symbol with candles, in byte order. No parameters. Columns: `symbol`.
    pub fn symbols(&'static self) -> &'static str {
        self.symbols.get_or_init(|| symbols_with(self.pieces.live))
    }

    /// Latest base-interval candle of one symbol; no row without candles. `$1` symbol.
    /// Columns: `interval`, `time`, `close`.
    pub fn latest_price(&'static self) -> &'static str {
        self.latest_price
            .get_or_init(|| latest_price_with(self.pieces.live))
    }

    /// Volume of one symbol's base-interval candles with `time` in `[$3, $4)` by closing
    /// price level `floor(close / $2) * $2`, lowest first. `$1` symbol, `$2` step
    /// (numeric). Columns: `price`, `volume`, `candles`.
    pub fn volume_profile(&'static self) -> &'static str {
        self.volume_profile
            .get_or_init(|| volume_profile_with(self.pieces.live))
    }
}

/// [`ReadStatements::series`] with `live` as in [`native_intervals_with`] and `complete`
/// (an SQL boolean expression over the `candle_series` row `s`) as column `complete`.
pub fn series_with(live: &str, complete: &str) -> String {
    format!(
        "SELECT s.interval, ({complete}) AS complete \
         FROM candle_series s WHERE s.symbol = $1 AND {live} ORDER BY s.interval"
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

/// [`ReadStatements::price_change`] with `live` as in [`native_intervals_with`] and
/// `high_low` building the subquery for columns `high`, `low`.
pub fn price_change_with(live: &str, high_low: fn(&Window<'_>) -> String) -> String {
    format!(
        "WITH RECURSIVE {base}, \
         {bounds} \
         SELECT f.time AS first_time, f.open, z.time AS last_time, z.close, \
                hl.high, hl.low \
         FROM base b CROSS JOIN bounds w \
         {change}",
        bounds = bounds(2, 3),
        change = change_joins("$1", "CROSS", high_low),
        base = base_cte(live),
    )
}

/// [`ReadStatements::volume_profile`] with `live` as in [`native_intervals_with`].
pub fn volume_profile_with(live: &str) -> String {
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
        base = base_cte(live),
    )
}

/// Volume profile with the shared liveness check; see [`ReadStatements::volume_profile`].
pub fn volume_profile() -> &'static str {
    SHARED_READS.volume_profile()
}

/// [`ReadStatements::market_overview`] with `live` and `high_low` as in
/// [`price_change_with`].
pub fn market_overview_with(live: &str, high_low: fn(&Window<'_>) -> String) -> String {
    format!(
        "WITH base (symbol, interval, time, price) AS ( \
           SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, \
                  s.latest_close \
           FROM candle_series s WHERE {live} ORDER BY s.symbol, {BY_WIDTH}), \
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
