DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['net_flows_1h', 'flows_1d', 'flows_1h', 'sentiment_1d',
        'sentiment_1h', 'ohlcv_1d', 'ohlcv_4h', 'ohlcv_1h', 'ohlcv_15m', 'ohlcv_5m'] LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I', name || '_materialized');
        IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = name) THEN
            EXECUTE format('DROP MATERIALIZED VIEW %I CASCADE', name);
        ELSE
            EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', name);
        END IF;
    END LOOP;
END $$;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'marketseries: JIT setting left in place (%)', SQLERRM;
END $$;
