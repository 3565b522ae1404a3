-- marketseries, plain PostgreSQL: the SQL API TimescaleDB has (issue 13), for Grafana and
-- psql users: the same functions and views, answering what the Rust API answers (same
-- base-interval, bucket and window rules). `*_at` functions take "now" explicitly.
--
-- Every function reading `candles` or a rollup plans its statements with their values
-- (`force_custom_plan`, or `EXECUTE ... USING`), so that only the partitions of the window
-- are planned, as the store's own reads are (marketseries_postgres::statements); JIT is off
-- for the reason the store's sessions turn it off.

-- Grid origin (epoch; the first Monday for week units) of an interval in marketseries text
-- form.
CREATE FUNCTION marketseries_interval_origin(iv text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN right(iv, 1) = 'w' THEN TIMESTAMPTZ '1970-01-05 00:00:00+00'
                ELSE TIMESTAMPTZ '1970-01-01 00:00:00+00' END
$$;

-- Whether every bucket of `outer_iv` is an exact union of buckets of `inner_iv`.
CREATE FUNCTION marketseries_divides(inner_iv text, outer_iv text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT marketseries_interval_seconds(outer_iv) % marketseries_interval_seconds(inner_iv) = 0
       AND extract(epoch FROM marketseries_interval_origin(outer_iv)
                              - marketseries_interval_origin(inner_iv))::bigint
           % marketseries_interval_seconds(inner_iv) = 0
$$;

-- The buckets of rollup `m` ('5m' ... '1d') of one series starting in [w_lo, w_hi) (aligned to
-- `m`), in real time: the store's read (`statements::real_time_ohlcv`): the pending spans
-- of the series cut to the window, the materialized buckets they do not touch, and the
-- touched buckets aggregated from one range scan of raw candles per cut span.
CREATE FUNCTION marketseries_rollup_ohlcv(m text, p_symbol text, native text,
                                          w_lo timestamptz, w_hi timestamptz)
RETURNS TABLE ("time" timestamptz, open numeric, high numeric, low numeric, close numeric,
               volume numeric)
LANGUAGE plpgsql STABLE SET jit = off AS $fn$
DECLARE
    step text := marketseries_interval_seconds(m) || ' seconds';
BEGIN
    IF m NOT IN ('5m', '15m', '1h', '4h', '1d') THEN
        RAISE EXCEPTION 'no rollup of width %', m USING ERRCODE = '22023';
    END IF;
    -- Nothing of the series pending in the window (the usual case once refreshed): the
    -- materialized buckets are the answer, and no statement over `candles` is planned
    -- (planning its range scan over the window's partitions was most of the call's time).
    -- One snapshot serves the whole (stable) function, so no write slips in between.
    IF NOT EXISTS (SELECT 1 FROM ohlcv_pending p WHERE p.symbol = p_symbol
                   AND p.interval = native AND p.hi >= w_lo AND p.lo < w_hi) THEN
        RETURN QUERY EXECUTE format(
            'SELECT r.time, r.open, r.high, r.low, r.close, r.volume FROM %I r '
            'WHERE r.symbol = $1 AND r.interval = $2 AND r.time >= $3 AND r.time < $4',
            'ohlcv_' || m || '_materialized')
        USING p_symbol, native, w_lo, w_hi;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH spans (span) AS MATERIALIZED (
            SELECT s.span * tstzrange($3, $4)
            FROM (SELECT unnest(range_agg(tstzrange(
                             date_bin(%1$L::interval, p.lo, timestamptz 'epoch'),
                             date_bin(%1$L::interval, p.hi, timestamptz 'epoch')
                                 + %1$L::interval))) AS span
                  FROM ohlcv_pending p WHERE p.symbol = $1 AND p.interval = $2
                    AND p.hi >= $3 AND p.lo < $4) s
            WHERE s.span && tstzrange($3, $4))
        SELECT r.time, r.open, r.high, r.low, r.close, r.volume FROM %2$I r
        WHERE r.symbol = $1 AND r.interval = $2 AND r.time >= $3 AND r.time < $4
          AND NOT EXISTS (SELECT 1 FROM spans x WHERE x.span @> r.time)
        UNION ALL
        SELECT date_bin(%1$L::interval, c.time, timestamptz 'epoch'),
               (array_agg(c.open ORDER BY c.time))[1], max(c.high), min(c.low),
               (array_agg(c.close ORDER BY c.time DESC))[1], sum(c.volume)
        FROM spans x CROSS JOIN LATERAL (
            SELECT c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c
            WHERE c.symbol = $1 AND c.interval = $2 AND c.time >= $3 AND c.time < $4
              AND c.time >= lower(x.span) AND c.time < upper(x.span) OFFSET 0) c
        GROUP BY 1
    $q$, step, 'ohlcv_' || m || '_materialized')
    USING p_symbol, native, w_lo, w_hi;
END
$fn$;

-- OHLCV bars of `p_interval` ('1h', '2h', '1w', ...) for buckets starting in
-- [floor(p_from), p_to), like PriceStore::ohlcv: from the finest native interval dividing
-- the request, read from the coarsest rollup that holds it (re-aggregated when it is not
-- the request's own width), else aggregated from raw candles. `candle_series` is exact on
-- this backend (every candle write keeps it, retention deletes the rows it empties).
CREATE FUNCTION get_ohlcv(p_symbol text, p_interval text, p_from timestamptz, p_to timestamptz)
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

-- (last close - first open) / first open * 100, rounded to 8 places, over the `p_iv`
-- candles of `p_symbol` in [p_at - p_window, p_at); NULL without candles: the first and the
-- last candle by one index probe each.
CREATE FUNCTION marketseries_change_percent(p_symbol text, p_iv text, p_window interval,
                                            p_at timestamptz)
RETURNS numeric LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off
AS $fn$
DECLARE
    -- A variable, not `p_at - p_window` in the statements: timestamptz minus interval is
    -- only stable, so the planner would not fold it, and would plan every partition.
    lo         timestamptz := p_at - p_window;
    first_open numeric;
    last_close numeric;
BEGIN
    SELECT c.open INTO first_open FROM candles c
    WHERE c.symbol = p_symbol AND c.interval = p_iv AND c.time >= lo AND c.time < p_at
    ORDER BY c.time LIMIT 1;
    SELECT c.close INTO last_close FROM candles c
    WHERE c.symbol = p_symbol AND c.interval = p_iv AND c.time >= lo AND c.time < p_at
    ORDER BY c.time DESC LIMIT 1;
    RETURN round((last_close - first_open) / first_open * 100, 8);
END
$fn$;

-- The change over base-interval candles, as PriceStore::price_change.
CREATE FUNCTION price_change_percent(p_symbol text, p_window interval,
                                     p_at timestamptz DEFAULT now())
RETURNS numeric LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    iv text;
BEGIN
    SELECT s.interval INTO iv FROM candle_series s
    WHERE s.symbol = p_symbol
    ORDER BY marketseries_interval_seconds(s.interval), right(s.interval, 1) = 'w', s.interval
    LIMIT 1;
    IF iv IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN marketseries_change_percent(p_symbol, iv, p_window, p_at);
END
$fn$;

-- Latest base-interval price and 24-hour change of every symbol, as
-- PriceStore::market_overview.
CREATE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE sql STABLE AS $$
    SELECT b.symbol, b.interval, b.latest_time, b.latest_close,
           marketseries_change_percent(b.symbol, b.interval, INTERVAL '24 hours', p_at)
    FROM (SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, s.latest_close
          FROM candle_series s
          ORDER BY s.symbol, marketseries_interval_seconds(s.interval),
                   right(s.interval, 1) = 'w', s.interval) b
    ORDER BY b.symbol COLLATE "C"
$$;

CREATE VIEW market_overview AS SELECT * FROM market_overview_at(now());

-- Per asset over [p_at - p_window, p_at), as SentimentStore::sentiment_summary.
CREATE FUNCTION sentiment_summary_at(p_window interval, p_at timestamptz)
RETURNS TABLE (asset text, avg_score float8, readings bigint, mentions bigint, bearish bigint,
               neutral bigint, bullish bigint, latest_time timestamptz)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $fn$
#variable_conflict use_column
DECLARE
    lo timestamptz := p_at - p_window;
BEGIN
    RETURN QUERY
    SELECT s.asset, avg(s.score), count(*), sum(s.mention_volume)::bigint,
           count(*) FILTER (WHERE s.label = 'bearish'), count(*) FILTER (WHERE s.label = 'neutral'),
           count(*) FILTER (WHERE s.label = 'bullish'), max(s.time)
    FROM sentiment s WHERE s.time >= lo AND s.time < p_at
    GROUP BY s.asset ORDER BY s.asset COLLATE "C";
END
$fn$;

CREATE VIEW sentiment_summary AS SELECT * FROM sentiment_summary_at(INTERVAL '24 hours', now());

-- Flows with amount >= p_min_amount in [p_from, p_to), optionally of one asset, newest
-- first, as FlowStore::whale_activity.
CREATE FUNCTION whale_activity_between(p_min_amount numeric, p_from timestamptz,
                                       p_to timestamptz, p_asset text DEFAULT NULL)
RETURNS SETOF flows
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $fn$
BEGIN
    RETURN QUERY
    SELECT * FROM flows f
    WHERE (p_asset IS NULL OR f.asset = p_asset) AND f.time >= p_from AND f.time < p_to
      AND f.amount >= p_min_amount
    ORDER BY f.time DESC, f.asset COLLATE "C", f.source COLLATE "C", f.flow_type COLLATE "C",
             f.reference COLLATE "C";
END
$fn$;

-- The seed's whale view: whale transfers and large transactions of the last 24 hours.
CREATE VIEW whale_activity AS
    SELECT * FROM flows
    WHERE flow_type IN ('whale_transfer', 'large_transaction') AND time >= now() - INTERVAL '24 hours'
    ORDER BY time DESC;
