-- marketseries, TimescaleDB: the live floor (migration 00000000000006_live_floor) found by
-- one probe of TimescaleDB's (dimension_id, range_start, range_end) index of dimension
-- slices instead of a join over every slice of every dimension.
--
-- Every read of live series (latest price, overview, symbols) runs the floor once. The join
-- read all dimension slices of the database (171 at 90 days: candles, the other raw tables
-- and the materializations) and looked up their dimension and hypertable one by one:
-- 0.41 ms of a latest price's 0.41 ms server time right after a load (native 2.28.3, 90
-- days of ten symbols, generic plan), against 0.21 ms with the probe. Its cost grew with
-- the chunks of every hypertable, not with the answer. Same result: the smallest
-- range_start of the time dimension's slices of `candles` in the current schema, NULL
-- without any.
CREATE OR REPLACE FUNCTION marketseries_candles_floor() RETURNS TABLE (floor timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT _timescaledb_functions.to_timestamp((
        SELECT ds.range_start FROM _timescaledb_catalog.dimension_slice ds
        WHERE ds.dimension_id = d.id ORDER BY ds.range_start LIMIT 1))
    FROM _timescaledb_catalog.hypertable h
    JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id AND d.column_name = 'time'
    WHERE h.schema_name = current_schema() AND h.table_name = 'candles'
$$;
