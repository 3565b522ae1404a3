-- The SQL face of the store: functions that give SQL users the answers the Rust API gives
-- (same base-interval, bucket and window rules), and the seed's views, which are those
-- functions at now(). Each `*_at` function takes "now" explicitly so it can be tested.

-- Grid origin (epoch; the first Monday for week units) of an interval in marketseries
-- text form; `marketseries_interval_seconds` is defined with the tables.
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

-- The native intervals stored for a symbol, from `candle_series` (one row per series, kept
-- by every candle write), each checked to still have its latest candle (one primary-key
-- probe), as the Rust reads do: a loose index scan over `candles` probes every chunk.
CREATE FUNCTION marketseries_natives(p_symbol text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.interval FROM candle_series s
    WHERE s.symbol = p_symbol
      AND coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
$$;

-- Every symbol with candles, likewise.
CREATE FUNCTION marketseries_symbols() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.symbol FROM candle_series s
    WHERE coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
    GROUP BY s.symbol
$$;

-- The finest native interval stored for a symbol (its base interval).
CREATE FUNCTION marketseries_base_interval(p_symbol text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT n.interval FROM marketseries_natives(p_symbol) AS n (interval)
    ORDER BY marketseries_interval_seconds(interval), right(interval, 1) = 'w', interval LIMIT 1
$$;

-- OHLCV bars of `p_interval` ('1h', '2h', '1w', ...) for buckets starting in
-- [floor(p_from), p_to), like PriceStore::ohlcv: from the finest native interval dividing
-- the request, read from the coarsest aggregate that holds it (a continuous aggregate on
-- the TSL edition, a plain view over the raw rows otherwise: the names exist on both), else
-- from raw. Each source has its own static statement, so PL/pgSQL keeps its plan for the
-- session, planned once (generic, as the store's sessions do; chunks are excluded when the
-- executor starts): a dynamic `EXECUTE` was planned again on every call (over every chunk
-- of the aggregate and of the raw table), the lookup of the source in
-- `timescaledb_information.continuous_aggregates` cost 13 ms of its own, and the natives
-- came from an SQL function, planned again on every call (272 ms in all for a 1h x 30 days
-- read of 90 days of 1m candles on native 2.28, against 1.5 ms reading the aggregate; 13-19
-- ms after, the store's two statements 12 ms).
CREATE FUNCTION get_ohlcv(p_symbol text, p_interval text, p_from timestamptz, p_to timestamptz)
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
      AND coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
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

-- (last close - first open) / first open * 100, rounded to 8 places, over the `p_iv`
-- candles of `p_symbol` in [p_at - p_window, p_at); NULL without candles: the first and the
-- last candle by one index probe each (a single aggregate over the window with the base
-- interval as a function call in its WHERE scanned every chunk: 1.3 s per symbol over 90
-- days of 1m candles on TimescaleDB 2.28).
CREATE FUNCTION marketseries_change_percent(p_symbol text, p_iv text, p_window interval,
                                            p_at timestamptz)
RETURNS numeric LANGUAGE plpgsql STABLE AS $$
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

-- The change over base-interval candles, as PriceStore::price_change. The base interval is
-- looked up by a static statement, whose plan PL/pgSQL keeps for the session (a call of
-- `marketseries_base_interval`, an SQL function that cannot be inlined, planned its query
-- again on every call, over every chunk).
CREATE FUNCTION price_change_percent(p_symbol text, p_window interval,
                                     p_at timestamptz DEFAULT now())
RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE
    iv text;
BEGIN
    SELECT s.interval INTO iv FROM candle_series s
    WHERE s.symbol = p_symbol
      AND coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
    ORDER BY marketseries_interval_seconds(s.interval), right(s.interval, 1) = 'w', s.interval
    LIMIT 1;
    IF iv IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN marketseries_change_percent(p_symbol, iv, p_window, p_at);
END $$;

-- Latest base-interval price and 24-hour change of every symbol, as PriceStore::market_overview:
-- the latest candle of each series is its `candle_series` row, and the change is taken over
-- that series without looking its base interval up again.
CREATE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE sql STABLE AS $$
    SELECT b.symbol, b.interval, b.latest_time, b.latest_close,
           marketseries_change_percent(b.symbol, b.interval, INTERVAL '24 hours', p_at)
    FROM (SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, s.latest_close
          FROM candle_series s
          WHERE coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                          AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
          ORDER BY s.symbol, marketseries_interval_seconds(s.interval),
                   right(s.interval, 1) = 'w', s.interval) b
    ORDER BY b.symbol COLLATE "C"
$$;

CREATE VIEW market_overview AS SELECT * FROM market_overview_at(now());

-- Per asset over [p_at - p_window, p_at), as SentimentStore::sentiment_summary.
CREATE FUNCTION sentiment_summary_at(p_window interval, p_at timestamptz)
RETURNS TABLE (asset text, avg_score float8, readings bigint, mentions bigint, bearish bigint,
               neutral bigint, bullish bigint, latest_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.asset, avg(s.score), count(*), sum(s.mention_volume)::bigint,
           count(*) FILTER (WHERE s.label = 'bearish'), count(*) FILTER (WHERE s.label = 'neutral'),
           count(*) FILTER (WHERE s.label = 'bullish'), max(s.time)
    FROM sentiment s WHERE s.time >= p_at - p_window AND s.time < p_at
    GROUP BY s.asset ORDER BY s.asset COLLATE "C"
$$;

CREATE VIEW sentiment_summary AS SELECT * FROM sentiment_summary_at(INTERVAL '24 hours', now());

-- Flows with amount >= p_min_amount in [p_from, p_to), optionally of one asset, newest first,
-- as FlowStore::whale_activity.
CREATE FUNCTION whale_activity_between(p_min_amount numeric, p_from timestamptz,
                                       p_to timestamptz, p_asset text DEFAULT NULL)
RETURNS SETOF flows LANGUAGE sql STABLE AS $$
    SELECT * FROM flows f
    WHERE (p_asset IS NULL OR f.asset = p_asset) AND f.time >= p_from AND f.time < p_to
      AND f.amount >= p_min_amount
    ORDER BY f.time DESC, f.asset COLLATE "C", f.source COLLATE "C", f.flow_type COLLATE "C",
             f.reference COLLATE "C"
$$;

-- The seed's whale view: whale transfers and large transactions of the last 24 hours.
CREATE VIEW whale_activity AS
    SELECT * FROM flows
    WHERE flow_type IN ('whale_transfer', 'large_transaction') AND time >= now() - INTERVAL '24 hours'
    ORDER BY time DESC;
