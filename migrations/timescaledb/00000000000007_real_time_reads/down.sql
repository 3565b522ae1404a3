DROP VIEW IF EXISTS ohlcv_5m_watermark, ohlcv_15m_watermark, ohlcv_1h_watermark,
    ohlcv_4h_watermark, ohlcv_1d_watermark;
-- The indexes live with the materialization hypertables (their schema, not this one).
DO $$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname IN ('ohlcv_5m_series_time', 'ohlcv_15m_series_time',
                                   'ohlcv_1h_series_time', 'ohlcv_4h_series_time',
                                   'ohlcv_1d_series_time')
                 AND i.indrelid IN (SELECT format('%I.%I', ca.materialization_hypertable_schema,
                                                  ca.materialization_hypertable_name)::regclass
                                    FROM timescaledb_information.continuous_aggregates ca
                                    WHERE ca.view_schema = current_schema()) LOOP
        EXECUTE format('DROP INDEX %s', idx);
    END LOOP;
END $$;

-- get_ohlcv as 00000000000006_live_floor defines it.
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
