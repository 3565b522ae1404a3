//! The SQL text of the price read statements, public so that benchmarks can issue exactly
//! what the store issues and operators can `EXPLAIN` it. Every backend built on
//! [`SqlStore`](crate::SqlStore) runs these, so they are plain SQL (PostgreSQL 14 or newer,
//! TimescaleDB hypertables included) over the `candles` columns and primary key
//! `(symbol, interval, time)`.
//!
//! Which series (symbol, native interval) exist is found by **loose index scans** over the
//! primary key: a recursive CTE steps from one distinct key prefix to the next with one
//! index probe each, instead of `SELECT DISTINCT`, which reads every row. A probe still
//! visits every partition (or chunk), so these cost a fraction of a millisecond per step on
//! a month of daily partitions and grow with the number of partitions, not rows.
//!
//! The statements that also take a time window read it through a `MATERIALIZED` CTE
//! (`bounds`) rather than from `$n` directly. Plan-time partition pruning on `$n` would make
//! PostgreSQL's plan cache prefer a custom plan, re-planned on every call over all the
//! partitions the loose index scans visit (milliseconds); with the bounds hidden in the CTE
//! the custom and generic plans are the same, the generic one is kept, and pruning happens
//! at execution time instead.

use std::sync::LazyLock;

/// Distinct native intervals of symbol `$1`, as CTE `natives (interval)` of a
/// `WITH RECURSIVE` (text order).
const NATIVES: &str = "natives (interval) AS ( \
      (SELECT interval FROM candles WHERE symbol = $1 ORDER BY interval LIMIT 1) \
    UNION ALL \
      SELECT n.interval FROM natives p CROSS JOIN LATERAL ( \
        SELECT c.interval FROM candles c WHERE c.symbol = $1 AND c.interval > p.interval \
        ORDER BY c.interval LIMIT 1) n)";

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
        "{NATIVES}, base (interval) AS (SELECT interval FROM natives ORDER BY {BY_WIDTH} LIMIT 1)"
    )
}

/// Time window `[$from, $to)` as CTE `bounds (lo, hi)` (see the module docs for why).
fn bounds(from: u8, to: u8) -> String {
    format!("bounds (lo, hi) AS MATERIALIZED (SELECT ${from}::timestamptz, ${to}::timestamptz)")
}

/// Native intervals of one symbol (text order). `$1` symbol. Columns: `interval`.
pub fn native_intervals() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("WITH RECURSIVE {NATIVES} SELECT interval FROM natives"));
    &SQL
}

/// Every symbol with candles, in byte order. No parameters. Columns: `symbol`.
pub fn symbols() -> &'static str {
    "WITH RECURSIVE symbols (symbol) AS ( \
          (SELECT symbol FROM candles ORDER BY symbol LIMIT 1) \
        UNION ALL \
          SELECT n.symbol FROM symbols s CROSS JOIN LATERAL ( \
            SELECT c.symbol FROM candles c WHERE c.symbol > s.symbol \
            ORDER BY c.symbol LIMIT 1) n) \
     SELECT symbol FROM symbols ORDER BY symbol COLLATE \"C\""
}

/// Latest base-interval candle of one symbol; no row without candles. `$1` symbol.
/// Columns: `interval`, `time`, `close`.
pub fn latest_price() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {base} \
             SELECT b.interval, l.time, l.close FROM base b CROSS JOIN LATERAL ( \
               SELECT c.time, c.close FROM candles c \
               WHERE c.symbol = $1 AND c.interval = b.interval \
               ORDER BY c.time DESC LIMIT 1) l",
            base = base_cte(),
        )
    });
    &SQL
}

/// First open, last close, high and low of one symbol's base-interval candles with `time`
/// in `[$2, $3)`; no row when there are none. `$1` symbol. Columns: `first_time`, `open`,
/// `last_time`, `close`, `high`, `low`.
pub fn price_change() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {base}, \
             {bounds} \
             SELECT f.time AS first_time, f.open, z.time AS last_time, z.close, \
                    hl.high, hl.low \
             FROM base b CROSS JOIN bounds w \
             {change}",
            bounds = bounds(2, 3),
            change = change_joins("$1", "CROSS"),
            base = base_cte(),
        )
    });
    &SQL
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
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE series (symbol, interval) AS ( \
                  (SELECT symbol, interval FROM candles ORDER BY symbol, interval LIMIT 1) \
                UNION ALL \
                  SELECT n.symbol, n.interval FROM series s CROSS JOIN LATERAL ( \
                    SELECT c.symbol, c.interval FROM candles c \
                    WHERE (c.symbol, c.interval) > (s.symbol, s.interval) \
                    ORDER BY c.symbol, c.interval LIMIT 1) n), \
             base (symbol, interval) AS ( \
               SELECT DISTINCT ON (symbol) symbol, interval FROM series \
               ORDER BY symbol, {BY_WIDTH}), \
             {bounds} \
             SELECT b.symbol, b.interval, l.time, l.close AS price, \
                    f.time AS first_time, f.open, z.time AS last_time, z.close, \
                    hl.high, hl.low \
             FROM base b CROSS JOIN bounds w \
             CROSS JOIN LATERAL ( \
               SELECT c.time, c.close FROM candles c \
               WHERE c.symbol = b.symbol AND c.interval = b.interval \
               ORDER BY c.time DESC LIMIT 1) l \
             {change} \
             ORDER BY b.symbol COLLATE \"C\"",
            bounds = bounds(1, 2),
            change = change_joins("b.symbol", "LEFT"),
        )
    });
    &SQL
}

/// Lateral joins `f` (first candle), `z` (last candle) and `hl` (high, low) over the
/// candles of `symbol` and `b.interval` in `w`: two index probes and one range scan, where
/// ordered `array_agg`s would sort the whole window. `join` is `CROSS` (no first candle, no
/// row) or `LEFT` (null columns).
fn change_joins(symbol: &str, join: &str) -> String {
    let window = format!(
        "FROM candles c WHERE c.symbol = {symbol} AND c.interval = b.interval \
         AND c.time >= w.lo AND c.time < w.hi"
    );
    let on = if join == "LEFT" { " ON true" } else { "" };
    format!(
        "{join} JOIN LATERAL (SELECT c.time, c.open {window} ORDER BY c.time LIMIT 1) f{on} \
         {join} JOIN LATERAL (SELECT c.time, c.close {window} ORDER BY c.time DESC LIMIT 1) z{on} \
         {join} JOIN LATERAL (SELECT max(c.high) AS high, min(c.low) AS low {window}) hl{on}"
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

/// The binary `COPY` of candles (plain PostgreSQL's append path). Columns in order: `text`
/// symbol, `text` native interval, `timestamptz` time, `numeric` open, high, low, close,
/// volume.
pub fn copy_candles() -> &'static str {
    "COPY candles (symbol, interval, time, open, high, low, close, volume) \
     FROM STDIN (FORMAT binary)"
}

/// Whether a rollup span of series (`$1` symbol, `$2` native interval) is pending (plain
/// PostgreSQL). Columns: `pending`.
pub fn series_pending() -> &'static str {
    "SELECT EXISTS (SELECT 1 FROM ohlcv_pending WHERE symbol = $1 AND interval = $2) \
     AS pending"
}
