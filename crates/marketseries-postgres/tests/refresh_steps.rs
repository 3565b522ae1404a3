//! Issue 12: a refresh of a large backlog of pending rollup spans runs in bounded steps,
//! each committed on its own and reported; a step that fails keeps the steps before it,
//! reads stay right meanwhile, and the next refresh resumes.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::RunQueryDsl;
use marketseries_core::{
    Candle, Clock, ErrorKind, FixedClock, Interval, OhlcvQuery, PriceStore, RefreshProgress,
    TimeRange, TimeSeriesStore,
};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_testkit::naive::naive_ohlcv;

use common::{assert_rollups_are_flat, Mismatches};

fn now() -> DateTime<Utc> {
    "2024-06-15T12:00:00Z".parse().expect("timestamp")
}

/// The first day of the backlogs: 401 days before "now", at midnight.
fn origin() -> DateTime<Utc> {
    Interval::D1.floor(now() - TimeDelta::days(401))
}

/// `days` days of hourly candles of one symbol from `start`, renamed `symbol`.
fn hourly(symbol: &str, start: DateTime<Utc>, days: usize, seed: u64) -> Vec<Candle> {
    let spec = CandleSpec {
        candles: days * 24,
        interval: Interval::H1,
        ..CandleSpec::minutes(1, 0, start, seed)
    };
    spec.generate()
        .into_iter()
        .map(|c| Candle {
            symbol: symbol.to_owned(),
            ..c
        })
        .collect()
}

/// `days` days of one-minute candles of one symbol from `start`, renamed `symbol`.
fn minutes(symbol: &str, start: DateTime<Utc>, days: u32, seed: u64) -> Vec<Candle> {
    CandleSpec::minutes(1, days, start, seed)
        .generate()
        .into_iter()
        .map(|c| Candle {
            symbol: symbol.to_owned(),
            ..c
        })
        .collect()
}

async fn store_all(pg: &PgStore, candles: &[Candle]) {
    for batch in candles.chunks(5_000) {
        pg.store_candles(batch).await.expect("store");
    }
}

/// Collects what a refresh reports.
#[derive(Default)]
struct Seen(Mutex<Vec<RefreshProgress>>);

impl Seen {
    fn observe(&self, p: &RefreshProgress) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(p.clone());
    }

    fn take(&self) -> Vec<RefreshProgress> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

async fn count(pg: &PgStore, sql: &str) -> i64 {
    let mut conn = pg.conn().await.expect("conn");
    let n: Mismatches = diesel::sql_query(sql)
        .get_result(&mut conn)
        .await
        .expect("count");
    n.n
}

/// Every answer of `ohlcv` for `symbol` at `interval` over the backlog equals the naive
/// aggregation of `all`.
async fn assert_reads_match(pg: &PgStore, all: &[Candle], symbol: &str, interval: Interval) {
    let range = TimeRange::new(origin(), now()).expect("range");
    let q = OhlcvQuery::new(symbol, interval, range);
    let got = pg.ohlcv(&q).await.expect("ohlcv");
    let expected = naive_ohlcv(all, &q).expect("naive");
    assert!(!expected.is_empty());
    assert_eq!(got.bars, expected, "{symbol} {interval} ({})", got.route);
}

/// More series-days pending than one step takes (360): the refresh makes several steps,
/// reports each (numbered, within the announced total, the last with nothing left), and
/// leaves the rollups equal to a flat aggregation of the raw rows, nothing pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_is_refreshed_in_reported_steps() {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now()));
    // A pool of one: one connection works through the steps, oldest days first (with
    // more, each connection's shard is: the test after the next).
    let pg = common::connect(clock, 1).await.expect("test store");
    // 2 x 200 days of hourly candles and 2 x 3 days of one-minute candles: 406 series-days.
    let mut all = hourly("AAA", origin(), 200, 1);
    all.extend(hourly("BBB", origin() + TimeDelta::days(100), 200, 2));
    all.extend(minutes("CCC", origin() + TimeDelta::days(150), 3, 3));
    all.extend(minutes("DDD", origin() + TimeDelta::days(300), 3, 4));
    store_all(&pg, &all).await;

    let seen = Seen::default();
    pg.refresh_with_progress(None, &|p| seen.observe(p))
        .await
        .expect("refresh");
    let steps = seen.take();
    assert!(steps.len() > 1, "one step for 406 series-days: {steps:#?}");
    let total = steps[0].steps.expect("plain PostgreSQL knows its steps");
    assert_eq!(total, 2, "406 series-days in steps of 360: {steps:#?}");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s.step, u64::try_from(i + 1).expect("step"), "{steps:#?}");
        assert_eq!(s.steps, Some(total));
        assert_eq!(s.target, "ohlcv rollups");
        assert!(s.covered > TimeDelta::zero() && s.covered <= TimeDelta::days(360));
    }
    let covered: TimeDelta = steps.iter().map(|s| s.covered).sum();
    assert_eq!(covered, TimeDelta::days(406), "{steps:#?}");
    let last = steps.last().expect("steps");
    assert_eq!(last.remaining, Some(TimeDelta::zero()), "{last:#?}");
    assert!(
        steps.windows(2).all(|w| w[0].through <= w[1].through),
        "oldest days first: {steps:#?}"
    );

    assert_eq!(
        count(&pg, "SELECT count(*) AS n FROM ohlcv_pending").await,
        0
    );
    let mut conn = pg.conn().await.expect("conn");
    let natives = ["1m", "1h"];
    assert_rollups_are_flat(&mut conn, &natives, "", "after a stepped refresh").await;
    assert_rollups_are_flat(
        &mut conn,
        &natives,
        "_materialized",
        "after a stepped refresh",
    )
    .await;
    drop(conn);
    for (symbol, interval) in [
        ("AAA", Interval::D1),
        ("BBB", Interval::H4),
        ("CCC", Interval::M15),
    ] {
        assert_reads_match(&pg, &all, symbol, interval).await;
    }

    // Nothing pending: nothing to do, nothing reported.
    pg.refresh_with_progress(None, &|p| seen.observe(p))
        .await
        .expect("refresh");
    assert_eq!(seen.take(), Vec::new());
}

/// A refresh whose second step fails (another session holds a rollup row it must
/// rewrite, past the statement timeout) keeps its first step: the pending spans before the
/// step's cut are gone and their buckets materialized, every read still equals the raw
/// aggregation (a bucket is either rebuilt or still pending), and a second refresh, once
/// the row is free, does only what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_keeps_the_steps_before_it_and_the_next_refresh_resumes() {
    let db = fresh_database(ServerKind::Postgres)
        .await
        .expect("database");
    let mut config = PgConfig::new(db.url());
    config.statement_timeout = std::time::Duration::from_secs(2);
    // One connection, so the steps are those of one series after another (with two, BBB's
    // step would run beside AAA's: the next test).
    config.refresh_workers = 1;
    let pg = PgStore::connect_with_clock(config, Arc::new(FixedClock::new(now())))
        .await
        .expect("connect");
    pg.migrate().await.expect("migrate");

    // The last day, materialized first; then the whole backlog (400 days of AAA, that day
    // rewritten with other values, and 3 days of one-minute BBB at the end): 403
    // series-days, steps of days 0-359 and 360-399.
    let last_day = origin() + TimeDelta::days(399);
    store_all(&pg, &hourly("AAA", last_day, 1, 99)).await;
    pg.refresh(None).await.expect("first refresh");
    let mut all = hourly("AAA", origin(), 400, 7);
    all.extend(minutes("BBB", origin() + TimeDelta::days(397), 3, 8));
    store_all(&pg, &all).await;

    // Another session holds the materialized daily row of the last day.
    let (mut blocker, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .expect("blocker");
    let conn_task = tokio::spawn(connection);
    let tx = blocker.transaction().await.expect("begin");
    let held = tokio_postgres::Transaction::execute(
        &tx,
        "SELECT 1 FROM ohlcv_1d_materialized WHERE symbol = 'AAA' AND time = $1 FOR UPDATE",
        &[&last_day],
    )
    .await
    .expect("lock");
    assert_eq!(held, 1, "the last day was materialized");

    let seen = Seen::default();
    let err = pg
        .refresh_with_progress(None, &|p| seen.observe(p))
        .await
        .expect_err("the second step cannot rewrite the held row");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let steps = seen.take();
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(
        (steps[0].step, steps[0].steps, steps[0].covered),
        (1, Some(2), TimeDelta::days(360)),
        "{steps:#?}"
    );
    let cut = origin() + TimeDelta::days(360);
    assert_eq!(steps[0].through, Some(cut));
    assert_eq!(steps[0].remaining, Some(TimeDelta::days(43)));

    // The first step stayed committed: nothing pending before its cut, its buckets
    // materialized; the rest is still pending.
    let mut conn = pg.conn().await.expect("conn");
    let pending_before: Mismatches =
        diesel::sql_query("SELECT count(*) AS n FROM ohlcv_pending WHERE lo < $1::timestamptz")
            .bind::<diesel::sql_types::Timestamptz, _>(cut)
            .get_result(&mut conn)
            .await
            .expect("pending");
    assert_eq!(pending_before.n, 0, "the first step's spans are consumed");
    drop(conn);
    assert!(count(&pg, "SELECT count(*) AS n FROM ohlcv_pending").await > 0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) AS n FROM ohlcv_1d_materialized WHERE symbol = 'AAA'"
        )
        .await,
        361,
        "the 360 days of the first step and the held last day"
    );
    // Reads are right half-way: the stale last day is still pending.
    let mut conn = pg.conn().await.expect("conn");
    assert_rollups_are_flat(&mut conn, &["1m", "1h"], "", "half-way").await;
    drop(conn);
    for interval in [Interval::H4, Interval::D1] {
        assert_reads_match(&pg, &all, "AAA", interval).await;
    }
    assert_reads_match(&pg, &all, "BBB", Interval::H1).await;

    tx.rollback().await.expect("release");
    drop(blocker);
    let _ = conn_task.await;
    pg.refresh_with_progress(None, &|p| seen.observe(p))
        .await
        .expect("the refresh resumes");
    let steps = seen.take();
    assert_eq!(steps.len(), 1, "only what was left: {steps:#?}");
    assert_eq!(steps[0].covered, TimeDelta::days(43));
    assert_eq!(steps[0].remaining, Some(TimeDelta::zero()));
    assert_eq!(
        count(&pg, "SELECT count(*) AS n FROM ohlcv_pending").await,
        0
    );
    let mut conn = pg.conn().await.expect("conn");
    assert_rollups_are_flat(&mut conn, &["1m", "1h"], "", "after resuming").await;
    assert_rollups_are_flat(&mut conn, &["1m", "1h"], "_materialized", "after resuming").await;
    drop(conn);
    assert_reads_match(&pg, &all, "AAA", Interval::D1).await;
}

/// 200 days of hourly candles of each of AAA..DDD from day 50 of the backlogs, seeds from
/// `seed`.
fn four_series(seed: u64) -> Vec<Candle> {
    ["AAA", "BBB", "CCC", "DDD"]
        .into_iter()
        .zip(seed..)
        .flat_map(|(symbol, seed)| hourly(symbol, origin() + TimeDelta::days(50), 200, seed))
        .collect()
}

/// With two connections (the default) the series are dealt into two shards of about equal
/// pending days, each worked through on its own connection: every step reported once,
/// numbered within the total, the days covered adding up to the backlog, the rollups equal
/// to a flat aggregation afterwards. Two refreshes started at once (four connections) share
/// the work series by series (an advisory lock per series) and neither fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_refreshed_on_two_connections_and_concurrent_refreshes_share_it() {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now()));
    let pg = common::store(clock).await;
    assert_eq!(pg.config().refresh_connections(), 2, "the default");
    // 4 x 200 days of hourly candles: 800 series-days, two shards of 400, two steps each.
    let all = four_series(10);
    store_all(&pg, &all).await;
    let seen = Seen::default();
    pg.refresh_with_progress(None, &|p| seen.observe(p))
        .await
        .expect("refresh");
    let steps = seen.take();
    assert_eq!(steps.len(), 4, "{steps:#?}");
    let mut numbers: Vec<u64> = steps.iter().map(|s| s.step).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2, 3, 4], "{steps:#?}");
    assert!(steps.iter().all(|s| s.steps == Some(4)), "{steps:#?}");
    let covered: TimeDelta = steps.iter().map(|s| s.covered).sum();
    assert_eq!(covered, TimeDelta::days(800), "{steps:#?}");
    assert_eq!(
        steps.last().and_then(|s| s.remaining),
        Some(TimeDelta::zero())
    );
    assert_eq!(
        count(&pg, "SELECT count(*) AS n FROM ohlcv_pending").await,
        0
    );
    for symbol in ["AAA", "DDD"] {
        assert_reads_match(&pg, &all, symbol, Interval::D1).await;
    }

    // The same candles rewritten with other values, then two refreshes at once.
    let again = four_series(20);
    store_all(&pg, &again).await;
    let (a, b) = tokio::join!(pg.refresh(None), pg.refresh(None));
    a.expect("first refresh");
    b.expect("second refresh");
    assert_eq!(
        count(&pg, "SELECT count(*) AS n FROM ohlcv_pending").await,
        0
    );
    let mut conn = pg.conn().await.expect("conn");
    assert_rollups_are_flat(&mut conn, &["1h"], "", "after two refreshes at once").await;
    drop(conn);
    for symbol in ["AAA", "BBB", "CCC", "DDD"] {
        assert_reads_match(&pg, &again, symbol, Interval::H4).await;
    }
}
