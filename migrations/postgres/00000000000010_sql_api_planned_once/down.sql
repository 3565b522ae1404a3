-- The helpers as 00000000000007_sql_api declared them, get_ohlcv as
-- 00000000000008_sql_api_direct_read left it.
ALTER FUNCTION marketseries_interval_seconds(text) STRICT;
CREATE OR REPLACE FUNCTION marketseries_interval_origin(iv text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN right(iv, 1) = 'w' THEN TIMESTAMPTZ '1970-01-05 00:00:00+00'
                ELSE TIMESTAMPTZ '1970-01-01 00:00:00+00' END
$$;
ALTER FUNCTION marketseries_divides(text, text) STRICT;

CREATE OR REPLACE FUNCTION get_ohlcv(p_symbol text, p_interval text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE ("time" timestamptz, open numeric, high numeric, low numeric, close numeric,
               volume numeric)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $fn$
#variable_conflict use_column
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
    ORDER BY marketseries_interval_seconds(s.interval) LIMIT 1;
    IF native IS NULL THEN
        IF EXISTS (SELECT 1 FROM candle_series s WHERE s.symbol = p_symbol) THEN
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
    IF source IS NULL THEN
        RETURN QUERY SELECT date_bin(stride, c.time, origin) AS b,
               (array_agg(c.open ORDER BY c.time))[1], max(c.high), min(c.low),
               (array_agg(c.close ORDER BY c.time DESC))[1], sum(c.volume)
        FROM candles c
        WHERE c.symbol = p_symbol AND c.interval = native AND c.time >= lo AND c.time < hi
        GROUP BY 1 ORDER BY 1;
    ELSIF source = p_interval AND NOT EXISTS (
            SELECT 1 FROM ohlcv_pending p WHERE p.symbol = p_symbol AND p.interval = native
            AND p.hi >= lo AND p.lo < hi) THEN
        -- A materialized width asked for and nothing of the series pending in the window:
        -- the buckets straight from the rollup table in index order, without the copy
        -- and sort a call of marketseries_rollup_ohlcv costs (half of this function's
        -- time in the benchmark). One snapshot serves the whole function.
        RETURN QUERY EXECUTE format(
            'SELECT r.time, r.open, r.high, r.low, r.close, r.volume FROM %I r '
            'WHERE r.symbol = $1 AND r.interval = $2 AND r.time >= $3 AND r.time < $4 '
            'ORDER BY r.time', 'ohlcv_' || source || '_materialized')
        USING p_symbol, native, lo, hi;
    ELSIF source = p_interval THEN
        RETURN QUERY SELECT t.time, t.open, t.high, t.low, t.close, t.volume
        FROM marketseries_rollup_ohlcv(source, p_symbol, native, lo, hi) t ORDER BY t.time;
    ELSE
        RETURN QUERY SELECT date_bin(stride, t.time, origin) AS b,
               (array_agg(t.open ORDER BY t.time))[1], max(t.high), min(t.low),
               (array_agg(t.close ORDER BY t.time DESC))[1], sum(t.volume)
        FROM marketseries_rollup_ohlcv(source, p_symbol, native, lo, hi) t
        GROUP BY 1 ORDER BY 1;
    END IF;
END
$fn$;
