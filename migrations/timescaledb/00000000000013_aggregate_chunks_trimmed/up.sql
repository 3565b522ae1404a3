-- marketseries, TimescaleDB: retention trims aggregates row by row where their chunks are
-- wider than the raw ones.
--
-- The aggregates' materializations had chunks as wide as the raw tables' (a day), so that
-- dropping whole chunks cut raw rows and aggregates at the same boundaries. That left a
-- year of `ohlcv_1d` in 365 chunks of ten rows each: a 30-day 1h read started up 30 chunks
-- and excluded 330 more (4.9 ms against 0.75 ms with 30-day chunks; 1d over a year 6.9 ms
-- against 1.1 ms; native 2.28.3, ten symbols x 360 days, generic plans), and a refresh after
-- a bulk load created five chunks per day of data. Their chunks are now 30 raw partitions
-- wide (`Timescale::migrate`), and retention, having dropped the whole aggregate chunks
-- past the horizon, deletes the aggregate rows older than the oldest raw row left:
-- `marketseries_trim_aggregates` (called by `apply_retention`, and by the server job
-- `marketseries_trim_aggregates_job` beside each retention job).

-- Deletes, from the materializations of the continuous aggregates `aggregates` (view names
-- in `schema`), every bucket that starts before the oldest chunk of `raw_table` or before
-- `cutoff`, whichever is earlier: never a bucket inside the retention window (at or after
-- `cutoff`), never one whose raw chunk is still there. Returns the rows deleted.
CREATE OR REPLACE FUNCTION marketseries_trim_aggregates(
    schema text, raw_table text, aggregates text[], cutoff timestamptz
) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    bound timestamptz;
    agg text;
    mat record;
    deleted bigint;
    total bigint := 0;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'marketseries_trim_aggregates: cutoff must not be null';
    END IF;
    -- least() skips the NULL of a table without chunks: then the cutoff bounds alone.
    SELECT least(min(c.range_start), cutoff) INTO bound
    FROM timescaledb_information.chunks c
    WHERE c.hypertable_schema = schema AND c.hypertable_name = raw_table;
    FOREACH agg IN ARRAY coalesce(aggregates, '{}') LOOP
        SELECT ca.materialization_hypertable_schema AS s, ca.materialization_hypertable_name AS t,
               d.column_name AS c
          INTO mat
          FROM timescaledb_information.continuous_aggregates ca
          JOIN timescaledb_information.dimensions d
            ON d.hypertable_schema = ca.materialization_hypertable_schema
           AND d.hypertable_name = ca.materialization_hypertable_name
         WHERE ca.view_schema = schema AND ca.view_name = agg;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'marketseries_trim_aggregates: no continuous aggregate %.%', schema, agg;
        END IF;
        EXECUTE format('DELETE FROM %I.%I WHERE %I < $1', mat.s, mat.t, mat.c) USING bound;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        total := total + deleted;
    END LOOP;
    RETURN total;
END
$$;

-- The server job beside a retention job: `config` holds `schema`, `raw_table`, the
-- `aggregates` of that table and `drop_after` (the retention job's interval); the cutoff is
-- the server's now() minus it, as the retention job measures.
CREATE OR REPLACE PROCEDURE marketseries_trim_aggregates_job(job_id int, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM marketseries_trim_aggregates(
        config->>'schema',
        config->>'raw_table',
        ARRAY(SELECT jsonb_array_elements_text(config->'aggregates')),
        now() - (config->>'drop_after')::interval);
END
$$;
