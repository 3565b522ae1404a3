//! [`Timescale`]: the TimescaleDB flavor of the shared SQL store.

use std::sync::PoisonError;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use marketseries_core::{
    Candle, Capabilities, Dataset, Error, Interval, JobStats, Policies, RefreshObserver,
    RefreshProgress, Result, RetentionAction, RetentionReport, TimeRange,
};
use marketseries_sql::schema::raw_table;
use marketseries_sql::statements::ReadStatements;
use marketseries_sql::{
    count, database_error, pg_error, whole_days, Batch, Flavor, PgConfig, RetryPolicy, SqlStore,
    MIN_COPY_ROWS,
};

use crate::aggregates::{ohlcv_capabilities, Aggregate, AGGREGATES, AGGREGATE_CHUNK_PARTITIONS};
use crate::analyze::{analyze, RelName};
use crate::edition::Edition;

/// PostgreSQL's largest `work_mem` (2147483647 kB) in whole MiB.
const MAX_WORK_MEM_MB: u32 = 2_097_151;

/// The TimescaleDB schema (`migrations/timescaledb`).
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/timescaledb");

/// TimescaleDB: see the crate documentation.
#[derive(Debug, Clone, Copy)]
pub struct Timescale {
    edition: Edition,
    copy: bool,
    one_client: bool,
}

impl Timescale {
    /// The flavor for a server of `edition` that serves several clients per database, so
    /// that large candle batches can be appended by binary `COPY` on a client of their own
    /// ([`SqlStore::append_candles`]).
    pub fn new(edition: Edition) -> Self {
        Self {
            edition,
            copy: true,
            one_client: false,
        }
    }

    /// The same flavor for a server that serves one client per database at a time
    /// (`true`: the embedded TimescaleDB of the test rig) or several. On such a server the
    /// store closes every connection after use ([`Flavor::serves_one_client`]), so that
    /// its read pool and its write clients take turns instead of waiting for each other
    /// forever.
    pub fn with_one_client(self, one_client: bool) -> Self {
        Self { one_client, ..self }
    }

    /// The same flavor, appending large candle batches by `COPY` or not (`false`: every
    /// batch takes the shared upsert). [`Flavor::setup`] turns `COPY` off for a server that
    /// serves one client per database (the embedded TimescaleDB of the test rig, detected
    /// by its WebAssembly build): there, the `COPY` client would wait forever behind the
    /// pool's idle connection.
    pub fn with_copy(self, copy: bool) -> Self {
        Self { copy, ..self }
    }

    /// The server's edition.
    pub fn edition(&self) -> Edition {
        self.edition
    }

    /// Whether batches of at least [`MIN_COPY_ROWS`] candles are appended by binary `COPY`.
    pub fn copies(&self) -> bool {
        self.copy
    }
}

/// PostgreSQL interval text for a duration, in whole days where it is whole days (so job
/// configurations read naturally), else in microseconds.
pub(crate) fn pg_interval(d: TimeDelta) -> String {
    let day = TimeDelta::days(1);
    if d.num_seconds() % day.num_seconds() == 0 && d.subsec_nanos() == 0 {
        format!("{} days", d.num_days())
    } else {
        match d.num_microseconds() {
            Some(us) => format!("{us} microseconds"),
            None => format!("{} seconds", d.num_seconds()),
        }
    }
}

#[derive(QueryableByName)]
struct ChunkEnd {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct ServerNow {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    start: Option<DateTime<Utc>>,
}

/// The bucket-aligned window covering `range` for an aggregate of `width` (refreshes only
/// materialize whole buckets inside their window).
fn aligned(width: Interval, range: TimeRange) -> (DateTime<Utc>, DateTime<Utc>) {
    width.covering(&range)
}

/// How much of the time line one refresh statement of a dataset's finest aggregate covers
/// when everything is refreshed ([`refresh_aggregates`] with no range): a year of 1m candles
/// refreshed as one statement per aggregate hit the 60 s statement timeout on a native 2.28
/// server. A coarser aggregate's window is longer ([`window_of`]), so that each statement
/// costs about as much: an aggregate built on another one reads fewer rows, but pays about
/// four times as much per row (its refresh evaluates the source's real-time watermark,
/// `cagg_watermark()`, for every source row: TimescaleDB turns it into a constant in
/// `SELECT`s only), e.g. 25 s per 90-day window of `ohlcv_15m` at a year of 1m candles on a
/// loaded native 2.28 server, against 6-14 s per 30-day window of `ohlcv_5m`.
pub(crate) const REFRESH_WINDOW: TimeDelta = TimeDelta::days(30);

/// Windows are aligned to this, which every aggregate's width divides, so each window
/// holds whole buckets of every aggregate.
const WINDOW_ALIGN: Interval = Interval::D1;

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    lo: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    hi: Option<DateTime<Utc>>,
}

/// The refresh window of `agg` in a group whose finest aggregate has buckets of `finest`.
pub(crate) fn window_of(agg: &Aggregate, finest: Interval) -> TimeDelta {
    let ratio = agg.width.duration().num_seconds() / finest.duration().num_seconds().max(1) / 3;
    REFRESH_WINDOW * i32::try_from(ratio.clamp(1, 1000)).unwrap_or(1000)
}

/// `[lo, hi)` cut into windows of `window` aligned to [`WINDOW_ALIGN`], oldest first.
pub(crate) fn refresh_windows(
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    window: TimeDelta,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut start = WINDOW_ALIGN.floor(lo);
    let end = if WINDOW_ALIGN.floor(hi) == hi {
        hi
    } else {
        WINDOW_ALIGN.floor(hi) + WINDOW_ALIGN.duration()
    };
    let mut windows = Vec::new();
    while start < end {
        let next = (start + window).min(end);
        windows.push((start, next));
        start = next;
    }
    windows
}

/// One `refresh_continuous_aggregate` call, in one pass: manual refreshes are otherwise
/// batched at 10 buckets per batch (TimescaleDB's `DEFAULT_BUCKETS_PER_BATCH`), which on a
/// native 2.28 server made a 5-minute aggregate over 401 days take 9.8 s instead of 120 ms
/// and hit the statement timeout (DESIGN §4).
async fn refresh_one(store: &SqlStore<Timescale>, call: &Call<'_>) -> Result<()> {
    // Repeated while another refresh of the same aggregate runs (SQLSTATE 55P03: the
    // server's own refresh job, which the scheduler starts as soon as `apply_policies`
    // re-creates it): the other refresh finishes, and this one then covers what is left.
    store
        .retrying_with(JOB_CONFLICT, || async {
            let client = store.client().await?;
            let work_mem = store.config().refresh_work_mem_mb;
            // `SET`, not `SET LOCAL`: the procedure may not run inside a transaction block.
            // Reset after the call whatever its outcome, so the pooled session goes back to
            // the server's setting (a connection lost meanwhile is dropped by the pool).
            if work_mem > 0 {
                client
                    .batch_execute(&format!("SET work_mem = '{work_mem}MB'"))
                    .await
                    .map_err(|e| pg_error(&e))?;
            }
            let called = tokio_postgres::Client::execute(
                &client,
                "CALL refresh_continuous_aggregate($1::text::regclass, $2::timestamptz, \
                 $3::timestamptz, false, '{\"buckets_per_batch\": 0}'::jsonb)",
                &[&call.agg.name, &call.from, &call.to],
            )
            .await
            .map(drop)
            .map_err(|e| pg_error(&e));
            if work_mem > 0 {
                let reset = client
                    .batch_execute("RESET work_mem")
                    .await
                    .map_err(|e| pg_error(&e));
                called.and(reset)
            } else {
                called
            }
        })
        .await
}

/// One `refresh_continuous_aggregate` call of a refresh: a step of its progress.
struct Call<'a> {
    agg: &'a Aggregate,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Call<'_> {
    /// The raw time the call covers (zero when unbounded: such a call is only made over a
    /// dataset without chunks).
    fn width(&self) -> TimeDelta {
        self.to
            .zip(self.from)
            .map_or_else(TimeDelta::zero, |(to, from)| to - from)
    }
}

/// Refreshes `aggregates` (in order) over `range`, each aligned to its width; or, when
/// `None`, everything: over the span of the raw table's chunks, aggregate by aggregate in
/// hierarchy order (each reads the one below it, already brought up to date), each in
/// windows of [`window_of`] oldest first (so its watermark only moves over materialized
/// buckets, and real-time reads stay whole meanwhile);
/// then the statistics of the aggregate chunks this wrote are gathered, so that reads right after a bulk refresh are planned
/// on real row counts.
///
/// The datasets' aggregates are refreshed at once, on up to
/// [`PgConfig::refresh_connections`](marketseries_sql::PgConfig::refresh_connections)
/// connections (prices, most of the work, on one of their own when there are two); within
/// a dataset the calls run one at a time, in the order above.
///
/// Every call is a step reported to `progress`: each commits on its own (a procedure
/// that runs outside any transaction), so a refresh that fails or is stopped keeps the
/// windows before it, and the next one finds them materialized with nothing invalidated,
/// which TimescaleDB's invalidation log makes cheap to pass over.
///
/// The calls run on the store's `tokio-postgres` clients, under the retry (errors
/// classified by SQLSTATE), with JIT off as in every session of the store
/// ([`marketseries_sql::SESSION_SETUP`]; the migration turns it off for the database too):
/// the planner costs
/// an aggregate built on another real-time aggregate as if it aggregated every raw row,
/// and compiling such a refresh took 8.1 of 10.8 s (`ohlcv_4h`, 90 days of 1m candles,
/// native 2.28).
pub(crate) async fn refresh_aggregates(
    store: &SqlStore<Timescale>,
    datasets: &[Dataset],
    range: Option<TimeRange>,
    progress: &RefreshObserver<'_>,
) -> Result<()> {
    // The calls per group of aggregates, and whether to analyze the group after them.
    let mut plan: Vec<(Vec<&Aggregate>, Vec<Call<'_>>, bool)> = Vec::new();
    if let Some(r) = range {
        for dataset in Dataset::ALL.into_iter().filter(|d| datasets.contains(d)) {
            let calls: Vec<Call<'_>> = AGGREGATES
                .iter()
                .filter(|a| a.dataset == dataset)
                .map(|agg| {
                    let (f, t) = aligned(agg.width, r);
                    Call {
                        agg,
                        from: Some(f),
                        to: Some(t),
                    }
                })
                .collect();
            if !calls.is_empty() {
                plan.push((Vec::new(), calls, false));
            }
        }
    } else {
        for dataset in Dataset::ALL.into_iter().filter(|d| datasets.contains(d)) {
            let group: Vec<&Aggregate> =
                AGGREGATES.iter().filter(|a| a.dataset == dataset).collect();
            if group.is_empty() {
                continue;
            }
            let calls = full_refresh_calls(&mut *store.conn().await?, dataset, &group).await?;
            plan.push((group, calls, true));
        }
    }
    let steps = plan.iter().map(|(_, calls, _)| calls.len()).sum::<usize>();
    let left: TimeDelta = plan
        .iter()
        .flat_map(|(_, calls, _)| calls)
        .map(Call::width)
        .sum();
    let counters = std::sync::Mutex::new((0_u64, left));
    let connections = store.config().refresh_connections();
    // The first lane (prices: the most work by far) refreshes on a connection of its own
    // when there are two or more; the other lanes and every `ANALYZE` share the rest.
    let reserved = connections > 1;
    let shared = tokio::sync::Semaphore::new(if reserved { connections - 1 } else { 1 });
    let failed = std::sync::atomic::AtomicBool::new(false);
    let permit = || async {
        shared.acquire().await.map_err(|e| {
            marketseries_core::Error::Other(format!("refresh: connection permits closed: {e}"))
        })
    };
    // One lane per dataset: the datasets' aggregates are independent of one another. Within
    // a lane the calls stay in order, one at a time: each aggregate reads the one below it,
    // and a window must not be materialized before the one ahead of it (the aggregate's
    // watermark, the end of its newest materialized bucket, would pass buckets not yet
    // materialized, and real-time reads would take them from the empty materialization).
    // A lane's new chunks are analyzed after its last call: statistics of `ohlcv_5m` taken
    // before `ohlcv_15m` is refreshed made each 30-day window of it take 1.2 s instead of
    // 0.4 s (native 2.28, 90 days of 1m candles).
    let lanes = plan
        .iter()
        .enumerate()
        .map(|(lane, (group, calls, analyze))| {
            let (counters, failed, permit) = (&counters, &failed, &permit);
            let own = reserved && lane == 0;
            async move {
                for call in calls {
                    if failed.load(std::sync::atomic::Ordering::Relaxed) {
                        return Ok(());
                    }
                    let outcome = if own {
                        refresh_one(store, call).await
                    } else {
                        match permit().await {
                            Ok(_held) => refresh_one(store, call).await,
                            Err(e) => Err(e),
                        }
                    };
                    if let Err(e) = outcome {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Err(e);
                    }
                    let (step, left) = {
                        let mut c = counters.lock().unwrap_or_else(PoisonError::into_inner);
                        c.0 += 1;
                        c.1 -= call.width();
                        *c
                    };
                    progress(&RefreshProgress {
                        dataset: call.agg.dataset,
                        target: call.agg.name.to_owned(),
                        step,
                        steps: Some(u64::try_from(steps).unwrap_or(u64::MAX)),
                        covered: call.width(),
                        through: call.to,
                        remaining: Some(left),
                    });
                }
                if *analyze {
                    let _held = if own { None } else { Some(permit().await?) };
                    analyze_new_chunks(&mut *store.conn().await?, group).await?;
                }
                Ok(())
            }
        });
    // A full refresh also leaves statistics on raw chunks never analyzed (API batches are
    // not analyzed as they land; autovacuum comes a minute or more later): beside the
    // lanes, on a shared connection.
    let raw: Vec<Dataset> = if range.is_none() {
        plan.iter()
            .filter_map(|(group, _, _)| group.iter().next().map(|a| a.dataset))
            .collect()
    } else {
        Vec::new()
    };
    let statistics = async {
        if raw.is_empty() {
            return Ok(());
        }
        let _held = permit().await?;
        let mut conn = store.conn().await?;
        for &dataset in &raw {
            if std::sync::atomic::AtomicBool::load(&failed, std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            analyze_raw_chunks(&mut conn, dataset).await?;
        }
        Ok(())
    };
    let (lanes, statistics) =
        futures_util::future::join(futures_util::future::join_all(lanes), statistics).await;
    lanes
        .into_iter()
        .chain(std::iter::once(statistics))
        .collect::<Result<Vec<()>>>()
        .map(drop)
}

/// `ANALYZE`s the uncompressed raw chunks of `dataset` that were never analyzed
/// (`reltuples < 0`, which needs no statistics collector): chunks written through the API
/// by a program that did not call `analyze_written` after its load. Chunks with statistics,
/// stale or not, are left to autovacuum: `analyze_written` samples the key columns only and
/// leaves the count of changed rows alone, so a rule on that count would analyze every
/// freshly loaded chunk a second time, in full (about 75 ms per day of ten symbols).
/// Compressed chunks keep their rows in their compressed relations, which compression
/// analyzes.
async fn analyze_raw_chunks(conn: &mut AsyncPgConnection, dataset: Dataset) -> Result<()> {
    let chunks: Vec<RelName> = diesel::sql_query(
        "SELECT format('%I.%I', ch.chunk_schema, ch.chunk_name) AS name \
         FROM timescaledb_information.chunks ch \
         JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name)) \
         WHERE ch.hypertable_schema = current_schema() AND ch.hypertable_name = $1 \
           AND NOT ch.is_compressed AND c.reltuples < 0 \
         ORDER BY 1",
    )
    .bind::<Text, _>(raw_table(dataset))
    .load(conn)
    .await
    .map_err(database_error)?;
    analyze(conn, &chunks).await
}

/// The calls that refresh every aggregate of `group` (one dataset's, in hierarchy order)
/// over the span of the dataset's raw chunks, in windows of [`window_of`] oldest first;
/// with no raw chunk, one unbounded call each (whatever is left to do is over empty
/// ranges).
async fn full_refresh_calls<'a>(
    conn: &mut AsyncPgConnection,
    dataset: Dataset,
    group: &[&'a Aggregate],
) -> Result<Vec<Call<'a>>> {
    let span: Span = diesel::sql_query(
        "SELECT min(range_start) AS lo, max(range_end) AS hi \
         FROM timescaledb_information.chunks \
         WHERE hypertable_schema = current_schema() AND hypertable_name = $1",
    )
    .bind::<Text, _>(raw_table(dataset))
    .get_result(conn)
    .await
    .map_err(database_error)?;
    let mut calls = Vec::new();
    match (span.lo, span.hi) {
        (Some(lo), Some(hi)) => {
            let finest = group.iter().map(|a| a.width).min().unwrap_or(WINDOW_ALIGN);
            for agg in group {
                for (from, to) in refresh_windows(lo, hi, window_of(agg, finest)) {
                    calls.push(Call {
                        agg,
                        from: Some(from),
                        to: Some(to),
                    });
                }
            }
        }
        _ => calls.extend(group.iter().map(|agg| Call {
            agg,
            from: None,
            to: None,
        })),
    }
    Ok(calls)
}

/// `ANALYZE`s every chunk of the aggregates' materialization hypertables that has never
/// been analyzed (chunks a refresh created); chunks with statistics are left to autovacuum.
async fn analyze_new_chunks(conn: &mut AsyncPgConnection, aggs: &[&Aggregate]) -> Result<()> {
    let names: Vec<&str> = aggs.iter().map(|a| a.name).collect();
    let chunks: Vec<RelName> = diesel::sql_query(
        "SELECT format('%I.%I', ch.chunk_schema, ch.chunk_name) AS name \
         FROM timescaledb_information.continuous_aggregates ca \
         JOIN timescaledb_information.chunks ch \
           ON ch.hypertable_schema = ca.materialization_hypertable_schema \
          AND ch.hypertable_name = ca.materialization_hypertable_name \
         JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name)) \
         WHERE ca.view_schema = current_schema() AND ca.view_name = ANY($1::text[]) \
           AND c.reltuples < 0",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(names)
    .load(conn)
    .await
    .map_err(database_error)?;
    analyze(conn, &chunks).await
}

/// How long maintenance waits, repeating, while a server job holds the same locks (the
/// compression or refresh job the scheduler starts as soon as `apply_policies` re-creates
/// it): pauses from 100 ms doubling to 2 s, about a minute in all.
pub(crate) const JOB_CONFLICT: RetryPolicy = RetryPolicy {
    attempts: 40,
    base_delay: std::time::Duration::from_millis(100),
    max_delay: std::time::Duration::from_secs(2),
};

/// Deletes the aggregate rows that the whole-chunk drops left behind: the buckets, in the
/// aggregate chunk that straddles the bound, older than the oldest raw chunk (or the
/// cutoff, if earlier). Repeated like [`drop_chunks`] while it conflicts with a server job.
async fn trim_aggregates(
    store: &SqlStore<Timescale>,
    raw: &str,
    aggregates: &[&str],
    cutoff: DateTime<Utc>,
) -> Result<i64> {
    let aggregates: Vec<String> = aggregates.iter().map(|a| (*a).to_owned()).collect();
    store
        .retrying_with(JOB_CONFLICT, || async {
            let client = store.client().await?;
            let row = client
                .query_one(
                    "SELECT marketseries_trim_aggregates(current_schema()::text, $1::text, \
                     $2::text[], $3::timestamptz)",
                    &[&raw, &aggregates, &cutoff],
                )
                .await
                .map_err(|e| marketseries_sql::pg_error(&e))?;
            Ok(row.get::<_, i64>(0))
        })
        .await
}

/// `drop_chunks(relation, older_than => cutoff)`, repeated while it deadlocks or waits on a
/// lock with a server job (the compression job locks the same chunks in another order):
/// each attempt is one atomic statement, so a repeat drops what the failed one did not.
/// Errors are classified by SQLSTATE (on the store's `tokio-postgres` client). Returns the
/// chunks dropped.
async fn drop_chunks(
    store: &SqlStore<Timescale>,
    relation: &str,
    cutoff: DateTime<Utc>,
) -> Result<i64> {
    store
        .retrying_with(JOB_CONFLICT, || async {
            let client = store.client().await?;
            let row = client
                .query_one(
                    "SELECT count(*) FROM drop_chunks($1::text::regclass, \
                     older_than => $2::timestamptz)",
                    &[&relation, &cutoff],
                )
                .await
                .map_err(|e| pg_error(&e))?;
            Ok(row.get(0))
        })
        .await
}

/// Deletes the `candle_series` rows of series without candles.
async fn forget_dead_series(conn: &mut AsyncPgConnection) -> Result<()> {
    diesel::sql_query(crate::statements::FORGET_DEAD_SERIES)
        .execute(conn)
        .await
        .map(drop)
        .map_err(database_error)
}

#[async_trait]
impl Flavor for Timescale {
    /// Detects the server's edition (`timescaledb.license`), and whether it serves more
    /// than one client per database (see [`Timescale::with_copy`]), on a one-off
    /// connection.
    async fn setup(config: &PgConfig) -> Result<Self> {
        Ok(Self::setup_with_connection(config).await?.0)
    }

    /// [`Flavor::setup`], handing the detection's connection to the store's pool: a
    /// TimescaleDB backend's start-up is the larger part of a first call on a fresh store
    /// (`pgbench -C` of `SELECT 1`: 20.1 ms against 10.4 ms on plain PostgreSQL on the
    /// benchmark machine), and the store used to pay it twice. Not on a server that serves
    /// one client at a time, where an open connection waiting for the pool's first checkout
    /// would block any other client meanwhile.
    async fn setup_with_connection(
        config: &PgConfig,
    ) -> Result<(Self, Option<diesel_async::AsyncPgConnection>)> {
        let (server, conn) = crate::edition::detect(config).await?;
        let flavor = Self::new(server.edition)
            .with_copy(!server.one_client)
            .with_one_client(server.one_client);
        Ok((flavor, (!server.one_client).then_some(conn)))
    }

    fn serves_one_client(&self) -> bool {
        self.one_client
    }

    fn capabilities(&self, config: &PgConfig) -> Capabilities {
        let tsl = self.edition.has_tsl();
        Capabilities {
            backend: "timescaledb",
            aggregates: if tsl {
                ohlcv_capabilities()
            } else {
                Vec::new()
            },
            real_time_aggregates: tsl,
            compression: tsl,
            retention: true,
            max_batch_size: config.max_batch_size,
        }
    }

    fn check_config(&self, config: &PgConfig) -> Result<()> {
        whole_days(config.partition_width, "partition_width (the chunk width)")?;
        // PostgreSQL's ceiling for work_mem: 2147483647 kB.
        if config.refresh_work_mem_mb > MAX_WORK_MEM_MB {
            return Err(Error::Config(format!(
                "refresh_work_mem_mb must be at most {MAX_WORK_MEM_MB} (PostgreSQL's largest \
                 work_mem), got {}",
                config.refresh_work_mem_mb
            )));
        }
        Ok(())
    }

    /// The materialized buckets below the aggregate's watermark and a direct aggregation of
    /// the window's raw candles at or after it (`real_time::real_time_ohlcv`), where
    /// the view `ohlcv_<w>` would re-aggregate the real-time views of every finer aggregate
    /// (3.2x raw aggregation of the window right after a bulk load).
    fn real_time_ohlcv(&self, width: Interval, params: [&str; 4]) -> String {
        crate::real_time::real_time_ohlcv(width, params)
    }

    /// Every window read of candles is planned with its window: TimescaleDB then plans only
    /// the window's chunks (it excludes the others while planning). A generic plan holds
    /// every chunk once per window scan of the statement (three in the overview) and
    /// excludes them when each call starts: at 90 daily chunks, 2-3x the custom plan's
    /// time for the 10-symbol overview, and about 150 ms for the first call on a
    /// connection against about 10. OHLCV aggregated from raw candles (`Route::Raw`) too: its
    /// generic plan held every chunk of `candles` and got slower with each day stored (1m
    /// candles over a day, psql medians: 24 ms at 90 daily chunks, 66 ms at 360, against
    /// 15 ms and 8.6 ms planned per call, of which 0.5 ms planning). Other reads keep the
    /// session's generic plans: planning a real-time aggregate on every call costs more than
    /// starting up its chunks (1h over 30 days: 3.2 ms of planning against 1.8 ms of
    /// execution; 1d over a year: 8.5 ms against 1.5 ms).
    fn plans_window_reads_per_call(&self) -> bool {
        true
    }

    /// The shared statements with the chunk-floor liveness condition
    /// ([`crate::statements::LIVE`]).
    fn reads(&self) -> &'static ReadStatements {
        &crate::statements::READS
    }

    /// Before a candle write, deletes the `candle_series` rows of series without candles
    /// ([`crate::statements::FORGET_DEAD_SERIES`]): a write older than the oldest chunk
    /// creates an older chunk, and the series that retention emptied would otherwise count
    /// as live again. Outside the write's transaction, as the hook runs: a retention job
    /// dropping chunks while a batch writes rows older than its cutoff could still revive
    /// a series it emptied meanwhile, until the next retention run drops those rows too.
    async fn before_write(
        &self,
        store: &SqlStore<Self>,
        client: &tokio_postgres::Client,
        batch: &Batch<'_>,
    ) -> Result<()> {
        let _ = store;
        if let Batch::Candles(_) = batch {
            client
                .query_one(crate::statements::FORGET_DEAD_SERIES, &[])
                .await
                .map_err(|e| marketseries_sql::pg_error(&e))?;
        }
        Ok(())
    }

    /// Appends batches of at least [`MIN_COPY_ROWS`] by binary `COPY`
    /// ([`SqlStore::append_candles`]; a batch with a key already stored falls back to the
    /// upsert), unless the server serves one client per database
    /// ([`Timescale::with_copy`]). Through the upsert, a hypertable took 1.3M candles at
    /// about 0.55x of `COPY`'s rate (issue 11); nothing of this flavor needs to run inside
    /// the write's transaction, so the `COPY` path is the whole write.
    async fn write_candles_fast(&self, store: &SqlStore<Self>, rows: &[&Candle]) -> Result<bool> {
        if !self.copy || rows.len() < MIN_COPY_ROWS {
            return Ok(false);
        }
        store.append_candles(rows).await
    }

    /// Runs the migrations, then sets the chunk width of every hypertable: the raw tables'
    /// to the configured partition width and, on the community edition, the aggregates'
    /// materializations' to 30 (`AGGREGATE_CHUNK_PARTITIONS`) times it (retention trims the
    /// straddling aggregate chunk row by row, see [`Flavor::apply_retention`]). Chunks that
    /// exist keep their width.
    async fn migrate(&self, store: &SqlStore<Self>) -> Result<()> {
        store.run_migrations(MIGRATIONS).await?;
        let partition = store.config().partition_width;
        let aggregate = partition
            .checked_mul(AGGREGATE_CHUNK_PARTITIONS)
            .ok_or_else(|| {
                Error::Config(format!(
                    "partition_width {partition} is too wide: {AGGREGATE_CHUNK_PARTITIONS} \
                     partitions of it overflow"
                ))
            })?;
        let raw = marketseries_sql::schema::raw_tables().map(|name| (name, partition));
        let aggregates = AGGREGATES
            .iter()
            .filter(|_| self.edition.has_tsl())
            .map(|a| (a.name, aggregate));
        let mut conn = store.conn().await?;
        for (name, width) in raw.chain(aggregates) {
            diesel::sql_query("SELECT set_chunk_time_interval($1::text::regclass, $2::interval)")
                .bind::<Text, _>(name)
                .bind::<Text, _>(pg_interval(width))
                .execute(&mut conn)
                .await
                .map_err(database_error)?;
        }
        Ok(())
    }

    /// Installs the policies as TimescaleDB jobs. Retention jobs only when the store's clock
    /// agrees with the server's (within five minutes): otherwise
    /// the server would measure age by another "now"; retention then runs only through
    /// `apply_retention`.
    async fn apply_policies(
        &self,
        store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        policies: &Policies,
    ) -> Result<()> {
        if !self.edition.has_tsl() {
            // No jobs on the Apache edition: retention runs through `apply_retention`.
            return Ok(());
        }
        let server: ServerNow = diesel::sql_query("SELECT now() AS now")
            .get_result(conn)
            .await
            .map_err(database_error)?;
        let skew = (store.now() - server.now).abs();
        crate::policies::apply(conn, policies, skew <= crate::policies::CLOCK_TOLERANCE).await
    }

    /// The end of the last chunk that `drop_chunks(older_than => cutoff)` drops: it drops
    /// the chunks whose range ends at or before the cutoff.
    async fn drop_boundary(
        &self,
        _store: &SqlStore<Self>,
        conn: &mut AsyncPgConnection,
        dataset: Dataset,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let end: ChunkEnd = diesel::sql_query(
            "SELECT max(range_end) AS at FROM timescaledb_information.chunks \
             WHERE hypertable_schema = current_schema() AND hypertable_name = $1 \
             AND range_end <= $2",
        )
        .bind::<Text, _>(raw_table(dataset))
        .bind::<Timestamptz, _>(cutoff)
        .get_result(conn)
        .await
        .map_err(database_error)?;
        Ok(end.at)
    }

    async fn jobs(&self, store: &SqlStore<Self>) -> Result<Vec<JobStats>> {
        crate::stats::jobs(&mut *store.conn().await?, self.edition).await
    }

    async fn refresh(
        &self,
        store: &SqlStore<Self>,
        datasets: &[Dataset],
        range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()> {
        if !self.edition.has_tsl() {
            // Plain views: always current.
            return Ok(());
        }
        refresh_aggregates(store, datasets, range, progress).await
    }

    /// Drops every raw chunk that ends at or before the cutoff (never one holding a row
    /// inside the window), then the aggregate chunks older than the oldest raw chunk left
    /// (or the cutoff, if earlier), then deletes the buckets older than that bound from the
    /// aggregate chunk that straddles it (aggregate chunks are 30 raw partitions wide):
    /// aggregates never outlive the rows they summarise. The statements run on the store's
    /// client, each while no pooled connection is held (a server that serves one client per
    /// database could not serve both).
    async fn apply_retention(&self, store: &SqlStore<Self>) -> Result<RetentionReport> {
        let cutoffs = store.retention_cutoffs(&mut *store.conn().await?).await?;
        let mut report = RetentionReport::default();
        for (dataset, cutoff) in cutoffs {
            let table = raw_table(dataset);
            let dropped = drop_chunks(store, table, cutoff).await?;
            report.actions.push(RetentionAction {
                dataset,
                cutoff,
                removed: count(dropped),
                unit: "chunks",
            });
            let mut conn = store.conn().await?;
            if dropped > 0 && dataset == Dataset::Price {
                forget_dead_series(&mut conn).await?;
            }
            // The aggregates are trimmed even when no raw chunk went now: a server
            // retention job may have dropped raw chunks since the last trim.
            if !self.edition.has_tsl() {
                continue;
            }
            let oldest: Oldest = diesel::sql_query(
                "SELECT min(range_start) AS start FROM timescaledb_information.chunks \
                 WHERE hypertable_schema = current_schema() AND hypertable_name = $1",
            )
            .bind::<Text, _>(table)
            .get_result(&mut conn)
            .await
            .map_err(database_error)?;
            drop(conn);
            // Never past the cutoff: an aggregate inside the window stays, even where its
            // raw rows went by other means.
            let bound = oldest.start.map_or(cutoff, |start| start.min(cutoff));
            let aggregates: Vec<&str> = AGGREGATES
                .iter()
                .filter(|a| a.dataset == dataset)
                .map(|a| a.name)
                .collect();
            if aggregates.is_empty() {
                continue;
            }
            for agg in &aggregates {
                drop_chunks(store, agg, bound).await?;
            }
            trim_aggregates(store, table, &aggregates, cutoff).await?;
        }
        Ok(report)
    }

    async fn stats(&self, store: &SqlStore<Self>) -> Result<marketseries_sql::FlavorStats> {
        let mut conn = store.conn().await?;
        crate::stats::collect(&mut conn, self.edition).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apache_edition_offers_no_aggregates_or_compression() {
        let config = PgConfig::new("postgres://h/db");
        let apache = Timescale::new(Edition::Apache).capabilities(&config);
        assert!(apache.aggregates.is_empty());
        assert!(!apache.real_time_aggregates && !apache.compression && apache.retention);
        let community = Timescale::new(Edition::Community).capabilities(&config);
        assert_eq!(community.aggregates.len(), 5, "{community:?}");
        assert!(community.real_time_aggregates && community.compression);
    }

    #[test]
    fn full_refreshes_run_in_day_aligned_windows_oldest_first() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        let w = refresh_windows(
            t("2026-01-01T06:00:00Z"),
            t("2026-03-05T00:00:00Z"),
            REFRESH_WINDOW,
        );
        assert_eq!(
            w,
            vec![
                (t("2026-01-01T00:00:00Z"), t("2026-01-31T00:00:00Z")),
                (t("2026-01-31T00:00:00Z"), t("2026-03-02T00:00:00Z")),
                (t("2026-03-02T00:00:00Z"), t("2026-03-05T00:00:00Z")),
            ]
        );
        let last = refresh_windows(
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:00:01Z"),
            REFRESH_WINDOW,
        );
        assert_eq!(
            last,
            vec![(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"))]
        );
        for agg in AGGREGATES {
            assert!(agg.width.divides(WINDOW_ALIGN), "{agg:?}");
        }
        let by_name = |n: &str| AGGREGATES.iter().find(|a| a.name == n).expect("aggregate");
        assert_eq!(window_of(by_name("ohlcv_5m"), Interval::M5), REFRESH_WINDOW);
        assert_eq!(
            window_of(by_name("ohlcv_15m"), Interval::M5),
            REFRESH_WINDOW
        );
        assert_eq!(
            window_of(by_name("ohlcv_1h"), Interval::M5),
            REFRESH_WINDOW * 4
        );
        assert_eq!(
            window_of(by_name("sentiment_1d"), Interval::H1),
            REFRESH_WINDOW * 8
        );
        assert_eq!(
            REFRESH_WINDOW.num_seconds() % WINDOW_ALIGN.duration().num_seconds(),
            0
        );
    }

    #[test]
    fn intervals_read_naturally() {
        assert_eq!(pg_interval(TimeDelta::days(365)), "365 days");
        assert_eq!(pg_interval(TimeDelta::minutes(5)), "300000000 microseconds");
    }
}
