-- The store's policies as data (issue 12): one row, read by every process, by `stats` and
-- by retention, written only by `apply_policies` (`marketseries policy set`). A new store
-- keeps everything: no retention horizon is stored until a user sets one.
CREATE TABLE marketseries_policies (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    retention_price interval CHECK (retention_price > interval '0'),
    retention_sentiment interval CHECK (retention_sentiment > interval '0'),
    retention_flow interval CHECK (retention_flow > interval '0'),
    retention_indicator interval CHECK (retention_indicator > interval '0'),
    compression_price interval CHECK (compression_price > interval '0'),
    compression_sentiment interval CHECK (compression_sentiment > interval '0'),
    compression_flow interval CHECK (compression_flow > interval '0'),
    compression_indicator interval CHECK (compression_indicator > interval '0'),
    refresh_start_offset interval NOT NULL,
    refresh_end_offset interval NOT NULL CHECK (refresh_end_offset >= interval '0'),
    refresh_schedule interval NOT NULL CHECK (refresh_schedule > interval '0'),
    CHECK (refresh_start_offset > refresh_end_offset),
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO marketseries_policies (compression_price, compression_sentiment, compression_flow,
                                   compression_indicator, refresh_start_offset,
                                   refresh_end_offset, refresh_schedule)
VALUES ('7 days', '14 days', '7 days', '7 days', '3 days', '1 minute', '5 minutes');

-- Before this migration `maintain` installed the seed's retention horizons as server jobs
-- without being asked, and the scheduler dropped imported history at once. The stored
-- policies above keep everything, so the jobs go: retention is only what a user stores.
DO $$
DECLARE
    j record;
BEGIN
    FOR j IN SELECT job_id FROM timescaledb_information.jobs
             WHERE proc_name = 'policy_retention'
               AND (hypertable_schema = current_schema()
                    OR (hypertable_schema, hypertable_name) IN (
                        SELECT materialization_hypertable_schema, materialization_hypertable_name
                        FROM timescaledb_information.continuous_aggregates
                        WHERE view_schema = current_schema()))
    LOOP
        PERFORM delete_job(j.job_id);
    END LOOP;
END
$$;
