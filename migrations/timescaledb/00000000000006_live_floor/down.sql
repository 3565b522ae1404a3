-- Back to the probe of 00000000000003_sql_api.

CREATE OR REPLACE FUNCTION marketseries_natives(p_symbol text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.interval FROM candle_series s
    WHERE s.symbol = p_symbol
      AND coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
$$;

CREATE OR REPLACE FUNCTION marketseries_symbols() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.symbol FROM candle_series s
    WHERE coalesce((SELECT true FROM candles c WHERE c.symbol = s.symbol
                    AND c.interval = s.interval AND c.time = s.latest_time LIMIT 1), false)
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

CREATE OR REPLACE FUNCTION price_change_percent(p_symbol text, p_window interval,
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

CREATE OR REPLACE FUNCTION market_overview_at(p_at timestamptz)
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

CREATE OR REPLACE FUNCTION marketseries_change_percent(p_symbol text, p_iv text, p_window interval,
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

DROP FUNCTION marketseries_forget_dead_series(), marketseries_candles_floor();
