-- Partition creation as a SECURITY DEFINER function (issue 13): partition DDL needs
-- ownership of the parent table, which the writer role (`marketseries migrate --roles`)
-- never gets. The write path creates the partitions a batch needs through this function,
-- which runs as its owner (the role that ran the migration). It creates nothing but a
-- partition of a raw table under the store's own naming, with the same steps the write
-- path ran itself before: a table of its own with a CHECK of its bounds, then ATTACH
-- PARTITION, which takes no lock that stops reads or writes (see partitions.rs).
CREATE FUNCTION marketseries_create_partition(p_table text, p_name text,
                                              p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    IF p_table NOT IN ('candles', 'sentiment', 'flows', 'indicators') THEN
        RAISE EXCEPTION 'not a partitioned marketseries table: %', p_table
            USING ERRCODE = '22023';
    END IF;
    IF p_name !~ ('^' || p_table || '_p[0-9]{14}_[0-9]+$') OR p_from >= p_to THEN
        RAISE EXCEPTION 'not a marketseries partition of %: % [%, %)', p_table, p_name,
            p_from, p_to USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(p_name));
    IF to_regclass(p_name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                       'INCLUDING STORAGE)', p_name, p_table);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (time >= %L AND time < %L)',
                       p_name, p_name || '_bounds', p_from, p_to);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       p_table, p_name, p_from, p_to);
    END IF;
END
$fn$;

-- A SECURITY DEFINER function resolves names on a path nobody else can put objects on.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION marketseries_create_partition(text, text, timestamptz, '
                   'timestamptz) SET search_path = %I, pg_temp', current_schema());
END
$$;

REVOKE EXECUTE ON FUNCTION marketseries_create_partition(text, text, timestamptz, timestamptz)
    FROM PUBLIC;
