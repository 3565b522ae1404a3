//! Every metric name, label and histogram bucket the decorator exports, defined once: the
//! dashboard, the service and the tests refer to these constants.

/// Candles written, by `symbol` and `interval` (counted when a batch commits).
pub const PRICE_INSERTS: &str = "marketseries_price_inserts_total";
/// Sentiment readings written, by `asset` and `source`.
pub const SENTIMENT_INSERTS: &str = "marketseries_sentiment_inserts_total";
/// Flows written, by `asset` and `flow_type`.
pub const FLOW_INSERTS: &str = "marketseries_flow_inserts_total";
/// Indicator values written, by `symbol` and `interval`.
pub const INDICATOR_INSERTS: &str = "marketseries_indicator_inserts_total";
/// Candles per `store_candles` call (every call, committed or not).
pub const PRICE_BATCH_SIZE: &str = "marketseries_price_batch_size";
/// Store calls, by `dataset` (`price`, `sentiment`, `flow`, `indicator`, `maintenance`)
/// and `query` (the trait method's name), whatever their outcome.
pub const QUERIES: &str = "marketseries_queries_total";
/// Duration of store calls in seconds, labelled like [`QUERIES`].
pub const QUERY_SECONDS: &str = "marketseries_query_seconds";
/// Rows (bars, readings, flows, levels, symbols...) returned per successful read, labelled
/// like [`QUERIES`]; writes and maintenance are not observed.
pub const QUERY_ROWS: &str = "marketseries_query_rows";
/// The route each OHLCV read took, by `route` (`no_data`, `raw`, `materialized`,
/// `re_aggregated`).
pub const OHLCV_ROUTES: &str = "marketseries_ohlcv_routes_total";
/// Failed store calls, by `dataset`, `query` and `kind` (the error's
/// [`ErrorKind`](crate::ErrorKind) in snake case).
pub const ERRORS: &str = "marketseries_errors_total";
/// Duration of refreshes (`refresh` and `refresh_with_progress`) in seconds, by `outcome`
/// (`ok`, `error`).
pub const REFRESH_SECONDS: &str = "marketseries_refresh_seconds";
/// Refresh steps committed, by `dataset`.
pub const REFRESH_STEPS: &str = "marketseries_refresh_steps_total";
/// How far each aggregate's watermark is behind now, in seconds, by `aggregate`, as of
/// the last `stats` call (an aggregate without a watermark is not reported).
pub const AGGREGATE_LAG: &str = "marketseries_aggregate_lag_seconds";

/// Every metric name above.
pub const ALL: [&str; 13] = [
    PRICE_INSERTS,
    SENTIMENT_INSERTS,
    FLOW_INSERTS,
    INDICATOR_INSERTS,
    PRICE_BATCH_SIZE,
    QUERIES,
    QUERY_SECONDS,
    QUERY_ROWS,
    OHLCV_ROUTES,
    ERRORS,
    REFRESH_SECONDS,
    REFRESH_STEPS,
    AGGREGATE_LAG,
];

/// Connections a pool of the store holds (idle or in use), by `pool` (`reads`: reads and
/// maintenance; `writes`: the write path's clients). Exported by `marketseries serve`.
pub const POOL_CONNECTIONS: &str = "marketseries_pool_connections";
/// Of those, idle, by `pool`.
pub const POOL_IDLE: &str = "marketseries_pool_idle_connections";
/// Connection checkouts, by `pool`.
pub const POOL_CHECKOUTS: &str = "marketseries_pool_checkouts_total";
/// Checkouts that had to wait for a connection, by `pool`.
pub const POOL_WAITS: &str = "marketseries_pool_waits_total";
/// Checkouts that gave up after the connect timeout, by `pool`.
pub const POOL_TIMEOUTS: &str = "marketseries_pool_timeouts_total";
/// Seconds spent waiting for connections, summed over checkouts, by `pool`.
pub const POOL_WAIT_SECONDS: &str = "marketseries_pool_wait_seconds_total";
/// Scheduled maintenance tasks the service ran, by `task` (`policies`, `refresh`,
/// `retention`, `stats`) and `outcome` (`ok`, `error`).
pub const MAINTENANCE_RUNS: &str = "marketseries_maintenance_runs_total";
/// 1 when the service's last database check succeeded, 0 when it failed.
pub const DATABASE_UP: &str = "marketseries_database_up";

/// Rows of each dataset's table, by `table`, as of the service's last `stats`.
pub const TABLE_ROWS: &str = "marketseries_table_rows";
/// Bytes on disk of each dataset's table with its indexes, by `table`, likewise.
pub const TABLE_BYTES: &str = "marketseries_table_bytes";
/// Space compression saves on each compressed table, in percent (`1 - after / before`),
/// by `table`, likewise (TimescaleDB; absent for tables nothing of which is compressed).
pub const COMPRESSION_SAVING: &str = "marketseries_compression_saving_percent";
/// Failures of each background job since its creation, by `job` (TimescaleDB's jobs),
/// likewise.
pub const JOB_FAILURES: &str = "marketseries_job_failures";
/// 1 when each job's last run succeeded, 0 when it failed, by `job`, likewise (absent
/// before a job's first run).
pub const JOB_LAST_RUN_OK: &str = "marketseries_job_last_run_ok";

/// Every metric name `marketseries serve` adds to the decorator's ([`ALL`]).
pub const SERVICE: [&str; 13] = [
    POOL_CONNECTIONS,
    POOL_IDLE,
    POOL_CHECKOUTS,
    POOL_WAITS,
    POOL_TIMEOUTS,
    POOL_WAIT_SECONDS,
    MAINTENANCE_RUNS,
    DATABASE_UP,
    TABLE_ROWS,
    TABLE_BYTES,
    COMPRESSION_SAVING,
    JOB_FAILURES,
    JOB_LAST_RUN_OK,
];

/// The value a per-symbol (or per-asset) label takes when
/// [`MetricsOptions::per_symbol_labels`](super::MetricsOptions::per_symbol_labels) is off.
pub const ANY_SYMBOL: &str = "all";

/// Buckets of [`QUERY_SECONDS`]: sub-millisecond reads to multi-second scans.
pub const SECONDS_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Buckets of [`REFRESH_SECONDS`]: a pass over nothing to a year's backlog.
pub const REFRESH_BUCKETS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Buckets of [`PRICE_BATCH_SIZE`] and [`QUERY_ROWS`]: powers of ten up to a maximum batch.
pub const COUNT_BUCKETS: [f64; 7] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0];
