DROP FUNCTION marketseries_create_partition(text, text, timestamptz, timestamptz);
