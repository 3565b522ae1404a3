-- The helpers as 00000000000001_tables and 00000000000003_sql_api declared them.
ALTER FUNCTION marketseries_interval_seconds(text) STRICT;
CREATE OR REPLACE FUNCTION marketseries_interval_origin(iv text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN right(iv, 1) = 'w' THEN TIMESTAMPTZ '1970-01-05 00:00:00+00'
                ELSE TIMESTAMPTZ '1970-01-01 00:00:00+00' END
$$;
ALTER FUNCTION marketseries_divides(text, text) STRICT;
