-- marketseries, TimescaleDB: which series still have candles, without probing `candles`.
--
-- Readers used to check that the latest candle of each `candle_series` row still exists (a
-- primary-key probe). The probe's time is only known when the query runs, so a generic plan
-- holds, and every call starts up, every chunk of `candles` (measured at 90 days of 1m
-- candles on native 2.28: 5.4 ms server time for a latest price that costs 0.16 ms without
-- the probe, and 67 ms for its first call on a connection).
--
-- On TimescaleDB candles vanish only with whole chunks, dropped oldest first: by the
-- retention job (`add_retention_policy`), by the store's `apply_retention`, or by
-- `drop_chunks(older_than => ...)`. Upserts never delete. So the latest candle of a series
-- is gone exactly when it is older than the start of the oldest remaining chunk (the
-- "floor"): chunks do not overlap, the chunk that held it ended before the floor, and every
-- chunk from the floor on is still there. A write below the floor (a backfill behind
-- retention) would lower the floor under series that died; the store deletes the rows of
-- dead series before each candle write (`marketseries_forget_dead_series`), so that every
-- remaining row with `latest_time` at or above the floor names a candle that exists.
-- Dropping chunks in other ways (`drop_chunks(newer_than => ...)`, `DROP TABLE` of a chunk,
-- deleting candles by hand) is not supported by these reads.

-- The start of the oldest chunk of `candles` in the current schema; NULL without chunks
-- (then no series is live). From TimescaleDB's catalog, whose dimension slices of these
-- columns are the same from 2.0 to 2.28; `timescaledb_information.chunks` costs about
-- 1 ms per call at 90 chunks. A set-returning SQL function, so that the planner inlines it
-- and `(SELECT floor FROM marketseries_candles_floor())` is an uncorrelated subquery run
-- once per statement; a scalar SQL function with a FROM clause is not inlined and would
-- be planned again on every call.
CREATE FUNCTION marketseries_candles_floor() RETURNS TABLE (floor timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT _timescaledb_functions.to_timestamp(min(ds.range_start))
    FROM _timescaledb_catalog.hypertable h
    JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id AND d.column_name = 'time'
    JOIN _timescaledb_catalog.dimension_slice ds ON ds.dimension_id = d.id
    WHERE h.schema_name = current_schema() AND h.table_name = 'candles'
$$;

-- Deletes the `candle_series` rows of series without candles (see above); returns how many.
-- Run by the store before every candle write and after its retention.
CREATE FUNCTION marketseries_forget_dead_series() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (
        DELETE FROM candle_series s
        WHERE NOT coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl),
                           false)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;

-- The SQL API of 00000000000003_sql_api with the floor instead of the probe.

CREATE OR REPLACE FUNCTION marketseries_natives(p_symbol text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.interval FROM candle_series s
    WHERE s.symbol = p_symbol
      AND coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl), false)
$$;

CREATE OR REPLACE FUNCTION marketseries_symbols() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.symbol FROM candle_series s
    WHERE coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl), false)
    GROUP BY s.symbol
$$;

CREATE OR REPLACE FUNCTION get_ohlcv(p_symbol text, p_interval text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE ("time" timestamptz, open numeric, high numeric, low numeric, close numeric,
               volume numeric)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    secs   bigint := marketseries_interval_seconds(p_interval);
    stride interval;
    origin timestamptz;
    native text;
    source text;
    lo     timestamptz;
    hi     timestamptz;
BEGIN
    IF secs IS NULL OR secs > 366 * 86400 THEN
        RAISE EXCEPTION 'invalid interval %: expected a positive number and one of s, m, h, d, w',
            quote_literal(p_interval) USING ERRCODE = '22023';
    END IF;
    stride := make_interval(secs => secs);
    origin := marketseries_interval_origin(p_interval);
    SELECT s.interval INTO native FROM candle_series s
    WHERE s.symbol = p_symbol AND marketseries_divides(s.interval, p_interval)
      AND coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl), false)
    ORDER BY marketseries_interval_seconds(s.interval) LIMIT 1;
    IF native IS NULL THEN
        IF EXISTS (SELECT 1 FROM candles c WHERE c.symbol = p_symbol) THEN
            RAISE EXCEPTION 'no stored interval of % divides %', p_symbol, p_interval
                USING ERRCODE = '22023';
        END IF;
        RETURN;
    END IF;
    SELECT a.iv INTO source
    FROM (VALUES ('5m'), ('15m'), ('1h'), ('4h'), ('1d')) AS a(iv)
    WHERE marketseries_divides(native, a.iv) AND marketseries_divides(a.iv, p_interval)
    ORDER BY marketseries_interval_seconds(a.iv) DESC LIMIT 1;
    lo := date_bin(stride, p_from, origin);
    hi := date_bin(stride, p_to - INTERVAL '1 microsecond', origin) + stride;
    IF source = p_interval THEN
        -- The aggregate's own buckets: no re-aggregation.
        CASE source
        WHEN '5m' THEN RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
            FROM ohlcv_5m t WHERE t.symbol = p_symbol AND t.interval = native
            AND t.time >= lo AND t.time < hi ORDER BY t.time;
        WHEN '15m' THEN RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
            FROM ohlcv_15m t WHERE t.symbol = p_symbol AND t.interval = native
            AND t.time >= lo AND t.time < hi ORDER BY t.time;
        WHEN '1h' THEN RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
            FROM ohlcv_1h t WHERE t.symbol = p_symbol AND t.interval = native
            AND t.time >= lo AND t.time < hi ORDER BY t.time;
        WHEN '4h' THEN RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
            FROM ohlcv_4h t WHERE t.symbol = p_symbol AND t.interval = native
            AND t.time >= lo AND t.time < hi ORDER BY t.time;
        ELSE RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
            FROM ohlcv_1d t WHERE t.symbol = p_symbol AND t.interval = native
            AND t.time >= lo AND t.time < hi ORDER BY t.time;
        END CASE;
        RETURN;
    END IF;
    CASE coalesce(source, '')
    WHEN '5m' THEN RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM ohlcv_5m t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    WHEN '15m' THEN RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM ohlcv_15m t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    WHEN '1h' THEN RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM ohlcv_1h t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    WHEN '4h' THEN RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM ohlcv_4h t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    WHEN '1d' THEN RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM ohlcv_1d t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    ELSE RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b, first(t.open, t.time),
        max(t.high), min(t.low), last(t.close, t.time), sum(t.volume) FROM candles t
        WHERE t.symbol = p_symbol AND t.interval = native AND t.time >= lo AND t.time < hi
        GROUP BY 1 ORDER BY 1;
    END CASE;
END $$;

CREATE OR REPLACE FUNCTION price_change_percent(p_symbol text, p_window interval,
                                     p_at timestamptz DEFAULT now())
RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE
    iv text;
BEGIN
    SELECT s.interval INTO iv FROM candle_series s
    WHERE s.symbol = p_symbol
      AND coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl), false)
    ORDER BY marketseries_interval_seconds(s.interval), right(s.interval, 1) = 'w', s.interval
    LIMIT 1;
    IF iv IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN marketseries_change_percent(p_symbol, iv, p_window, p_at);
END $$;

-- As before, but the change's first and last candle are lateral joins (two index probes
-- each, as the store's own overview reads them) instead of a call of
-- `marketseries_change_percent` per symbol, and the query is planned on every call with
-- `p_at` as a constant (`force_custom_plan`), as the store plans its window reads: only the
-- window's chunks are planned. Planned once as a generic plan (an inlined SQL function
-- in a prepared statement), it held every chunk once per lateral join and excluded them at
-- every call's start-up: 37.8 ms against 9.5 ms for the Rust API at 360 days.
CREATE OR REPLACE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT b.symbol, b.interval, b.latest_time, b.latest_close,
           round((z.close - f.open) / f.open * 100, 8)
    FROM (SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, s.latest_close
          FROM candle_series s
          WHERE coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl),
                         false)
          ORDER BY s.symbol, marketseries_interval_seconds(s.interval),
                   right(s.interval, 1) = 'w', s.interval) b
    LEFT JOIN LATERAL (SELECT c.open FROM candles c
                       WHERE c.symbol = b.symbol AND c.interval = b.interval
                         AND c.time >= p_at - INTERVAL '24 hours' AND c.time < p_at
                       ORDER BY c.time LIMIT 1) f ON true
    LEFT JOIN LATERAL (SELECT c.close FROM candles c
                       WHERE c.symbol = b.symbol AND c.interval = b.interval
                         AND c.time >= p_at - INTERVAL '24 hours' AND c.time < p_at
                       ORDER BY c.time DESC LIMIT 1) z ON true
    ORDER BY b.symbol COLLATE "C";
END $$;

-- Planned on every call with its arguments as constants, for the same reason: the two
-- window probes of a generic plan held every chunk of `candles`.
CREATE OR REPLACE FUNCTION marketseries_change_percent(p_symbol text, p_iv text, p_window interval,
                                            p_at timestamptz)
RETURNS numeric LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    first_open numeric;
    last_close numeric;
BEGIN
    SELECT c.open INTO first_open FROM candles c
    WHERE c.symbol = p_symbol AND c.interval = p_iv
      AND c.time >= p_at - p_window AND c.time < p_at
    ORDER BY c.time LIMIT 1;
    SELECT c.close INTO last_close FROM candles c
    WHERE c.symbol = p_symbol AND c.interval = p_iv
      AND c.time >= p_at - p_window AND c.time < p_at
    ORDER BY c.time DESC LIMIT 1;
    RETURN round((last_close - first_open) / first_open * 100, 8);
END $$;
