DO $$
DECLARE
    w text;
BEGIN
    FOREACH w IN ARRAY ARRAY['5m', '15m', '1h', '4h', '1d'] LOOP
        EXECUTE format('DROP VIEW %I', 'ohlcv_' || w);
        EXECUTE format('DROP TABLE %I', 'ohlcv_' || w || '_materialized');
    END LOOP;
END $$;
DROP TABLE ohlcv_pending, sentiment_1h, sentiment_1d, flows_1h, flows_1d;
