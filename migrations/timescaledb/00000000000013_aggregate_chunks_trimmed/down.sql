-- The trim jobs go with the procedure they call.
SELECT delete_job(job_id) FROM timescaledb_information.jobs
 WHERE proc_name = 'marketseries_trim_aggregates_job';
DROP PROCEDURE IF EXISTS marketseries_trim_aggregates_job(int, jsonb);
DROP FUNCTION IF EXISTS marketseries_trim_aggregates(text, text, text[], timestamptz);
