-- marketseries, TimescaleDB: drop the (interval, time DESC) index TimescaleDB creates on
-- each OHLCV aggregate's materialization hypertable for its group-by column `interval`.
--
-- Every read of a materialization names one series (symbol and native interval) and a time
-- window, and the store plans its reads generically (`plan_cache_mode =
-- force_generic_plan`): each chunk's scan is chosen without the window's values, and every
-- candidate index then looks equally cheap (a guessed window of about one row per chunk).
-- The planner picked this index, whose leading column has one value in practice ('1m'),
-- and filtered the symbol row by row: a 30-day hourly read of one symbol of ten walked
-- every symbol's buckets of the window, 2,194 buffers and 5.4 ms (psql median, native
-- 2.28.3, 90 days of 1m candles), against 92 buffers and 3.6 ms through
-- (symbol, time DESC) once this index is gone. No read of the store filters on the native
-- interval alone, and refreshes delete by time (the time index stays), so nothing used it
-- well. Where the aggregate is a plain view (Apache edition) there is nothing to drop.
DO $$
DECLARE
    agg text;
    mat record;
BEGIN
    FOREACH agg IN ARRAY ARRAY['ohlcv_5m', 'ohlcv_15m', 'ohlcv_1h', 'ohlcv_4h', 'ohlcv_1d'] LOOP
        FOR mat IN SELECT h.schema_name, h.table_name
                   FROM _timescaledb_catalog.continuous_agg ca
                   JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
                   WHERE ca.user_view_schema = current_schema() AND ca.user_view_name = agg LOOP
            EXECUTE format('DROP INDEX IF EXISTS %I.%I', mat.schema_name,
                           mat.table_name || '_interval_time_idx');
        END LOOP;
    END LOOP;
END $$;
