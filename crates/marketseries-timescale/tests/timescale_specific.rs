//! Behaviour specific to the TimescaleDB backend, against the launcher's TimescaleDB server
//! (embedded unless a native one is installed): compression, upserts into compressed
//! chunks, late data below the watermark, the retention job, policies as jobs, stats, the
//! SQL functions, configuration errors.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::{
    AggregateBucket, Candle, Clock, Dataset, ErrorKind, Expiry, FixedClock, FlowStore, Freshness,
    IndicatorQuery, IndicatorStore, IndicatorValue, Interval, MemoryStore, OhlcvQuery, Policies,
    PriceStore, RefreshProgress, RetentionPolicy, Route, SentimentAggregate, SentimentStore,
    SystemClock, TimeRange, TimeSeriesStore, VolumeProfileQuery, WhaleQuery,
};
use marketseries_testkit::conformance::{fixture_now, Approx, Fixture};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use marketseries_timescale::PgConfig;
use marketseries_timescale::{Policy, TimescaleExt, TimescaleStore, AGGREGATES};
use rust_decimal::Decimal;

use common::store;

fn fixed() -> Arc<dyn Clock> {
    Arc::new(FixedClock::new(fixture_now()))
}

fn iv(s: &str) -> Interval {
    s.parse().expect("interval")
}

fn days(n: i64) -> TimeRange {
    TimeRange::new(fixture_now() - TimeDelta::days(n), fixture_now()).expect("range")
}

/// Two indicator series per candle series, derived from the candles (exact decimals).
fn indicators_of(candles: &[Candle]) -> Vec<IndicatorValue> {
    candles
        .iter()
        .flat_map(|c| {
            [
                ("mid", (c.high + c.low) / Decimal::TWO),
                ("spread", c.high - c.low),
            ]
            .map(|(name, value)| IndicatorValue {
                symbol: c.symbol.clone(),
                interval: c.interval,
                name: name.to_owned(),
                time: c.time,
                value,
            })
        })
        .collect()
}

/// Loads the conformance fixtures into the store and the reference.
async fn load(store: &TimescaleStore, reference: &MemoryStore) {
    let candles = Fixture::market_candles();
    let sentiment = Fixture::market_sentiment();
    let flows = Fixture::market_flows();
    let indicators = indicators_of(&candles);
    store.store_candles(&candles).await.expect("candles");
    store.store_sentiments(&sentiment).await.expect("sentiment");
    store.store_flows(&flows).await.expect("flows");
    store
        .store_indicators(&indicators)
        .await
        .expect("indicators");
    reference
        .store_indicators(&indicators)
        .await
        .expect("indicators");
    reference.store_candles(&candles).await.expect("candles");
    reference
        .store_sentiments(&sentiment)
        .await
        .expect("sentiment");
    reference.store_flows(&flows).await.expect("flows");
}

/// A wide set of answers: the exact ones as text, and the sentiment aggregates, whose
/// float means may differ in their last places with the summation order (compared with
/// [`Approx`]).
#[derive(Debug)]
struct Answers {
    exact: Vec<String>,
    sentiment: Vec<SentimentAggregate>,
}

impl PartialEq for Answers {
    fn eq(&self, other: &Self) -> bool {
        self.exact == other.exact && self.sentiment.approx_eq(&other.sentiment)
    }
}

async fn answers(s: &dyn TimeSeriesStore) -> Answers {
    let mut out = Vec::new();
    let mut sentiment = Vec::new();
    for i in ["1m", "5m", "1h", "2h", "4h", "1d", "1w"] {
        let q = OhlcvQuery::new("BTCUSDT", iv(i), days(3));
        out.push(format!("{i}: {:?}", s.ohlcv(&q).await.expect("ohlcv").bars));
    }
    out.push(format!(
        "{:?}",
        s.market_overview().await.expect("overview")
    ));
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        out.push(format!(
            "{:?} {:?}",
            s.indicator_list(symbol).await.expect("indicator list"),
            s.latest_indicators(symbol)
                .await
                .expect("latest indicators")
        ));
        let q = IndicatorQuery::new(symbol, iv("1m"), "mid", days(2));
        out.push(format!(
            "{:?}",
            s.indicator_series(&q).await.expect("indicator series")
        ));
        out.push(format!(
            "{:?}",
            s.indicator_at(
                symbol,
                iv("1m"),
                "spread",
                fixture_now() - TimeDelta::hours(30)
            )
            .await
            .expect("indicator at")
        ));
    }
    out.push(format!(
        "{:?}",
        s.volume_profile(&VolumeProfileQuery {
            symbol: "ETHUSDT".into(),
            range: days(2),
            price_step: Decimal::from(5),
        })
        .await
        .expect("profile")
    ));
    for bucket in [AggregateBucket::Hour, AggregateBucket::Day] {
        sentiment.extend(
            s.sentiment_aggregates("BTC", bucket, days(4))
                .await
                .expect("sentiment"),
        );
        out.push(format!(
            "{:?}",
            s.flow_aggregates("ETH", bucket, days(4))
                .await
                .expect("flows")
        ));
    }
    out.push(format!(
        "{:?}",
        s.net_flow("BTC", days(2)).await.expect("net flow")
    ));
    out.push(format!(
        "{:?}",
        s.sentiment_distribution("ETH", days(4))
            .await
            .expect("distribution")
    ));
    Answers {
        exact: out,
        sentiment,
    }
}

async fn compress_everything(store: &TimescaleStore) -> u64 {
    let mut n = 0;
    for d in Dataset::ALL {
        n += store.compress_chunks(d, None).await.expect("compress");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressing_every_chunk_changes_no_answer() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    store.refresh(None).await.expect("refresh");
    let before = answers(&store).await;
    assert_eq!(
        before,
        answers(&reference).await,
        "answers before compression"
    );
    let compressed = compress_everything(&store).await;
    assert!(compressed >= 9, "only {compressed} chunks compressed");
    let stats = store.stats().await.expect("stats");
    for t in &stats.tables {
        assert!(
            t.compressed_bytes.is_some() && t.compression_saving_percent().is_some(),
            "{t:?}"
        );
    }
    assert_eq!(answers(&store).await, before, "answers after compression");
    // Compression leaves the planner statistics of what it wrote.
    let mut conn = store.conn().await.expect("conn");
    let left: Unanalyzed = diesel::sql_query(
        "SELECT count(*) AS n FROM _timescaledb_catalog.chunk c \
         JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id \
         JOIN pg_class pc ON pc.oid = to_regclass(format('%I.%I', cc.schema_name, cc.table_name)) \
         WHERE pc.reltuples < 0",
    )
    .get_result(&mut conn)
    .await
    .expect("compressed chunks without statistics");
    assert_eq!(left.n, 0, "compressed chunks without statistics");
    drop(conn);
    // Nothing left to compress: idempotent.
    assert_eq!(compress_everything(&store).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upsert_into_a_compressed_chunk_lands_and_reaches_the_aggregates() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    store.refresh(None).await.expect("refresh");
    compress_everything(&store).await;
    let mut fixed_candle: Candle = Fixture::market_candles()
        .into_iter()
        .find(|c| {
            c.symbol == "BTCUSDT"
                && c.time == Interval::M1.floor(fixture_now() - TimeDelta::hours(50))
        })
        .expect("candle");
    fixed_candle.high *= Decimal::TWO;
    fixed_candle.volume += Decimal::from(12_345);
    store.store_candle(&fixed_candle).await.expect("upsert");
    reference.store_candle(&fixed_candle).await.expect("upsert");
    store.refresh(None).await.expect("refresh");
    for i in ["1m", "1h", "4h", "1d"] {
        let q = OhlcvQuery::new("BTCUSDT", iv(i), days(3));
        let got = store.ohlcv(&q).await.expect("ohlcv");
        assert_eq!(
            got.bars,
            reference.ohlcv(&q).await.expect("ohlcv").bars,
            "{i} via {}",
            got.route
        );
        let bucket = iv(i).floor(fixed_candle.time);
        let bar = got.bars.iter().find(|b| b.time == bucket).expect("bar");
        assert_eq!(bar.high, fixed_candle.high, "{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_into_a_materialized_hour_shows_in_1h_and_1d() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    store.refresh(None).await.expect("refresh");
    let stats = store.stats().await.expect("stats");
    let hourly = stats
        .aggregates
        .iter()
        .find(|a| a.name == "ohlcv_1h")
        .expect("ohlcv_1h stats");
    let mut late: Candle = Fixture::market_candles()
        .into_iter()
        .find(|c| {
            c.symbol == "BTCUSDT"
                && c.time == Interval::M1.floor(fixture_now() - TimeDelta::hours(30))
        })
        .expect("candle");
    assert!(
        hourly.watermark.is_some_and(|w| w > late.time),
        "the hour is not materialized: {hourly:?}"
    );
    late.low /= Decimal::TWO;
    late.volume += Decimal::from(777);
    store.store_candle(&late).await.expect("late upsert");
    reference.store_candle(&late).await.expect("late upsert");
    // Both stale reads first: a refreshed read refreshes every price aggregate over its
    // range, the coarser ones included.
    for i in ["1h", "1d"] {
        let q = OhlcvQuery::new("BTCUSDT", iv(i), days(3));
        let stale = store.ohlcv(&q).await.expect("ohlcv");
        assert!(
            matches!(stale.route, Route::Materialized { .. }),
            "{i}: {}",
            stale.route
        );
        // Below the watermark the real-time aggregate still shows the materialized value.
        let expected = reference.ohlcv(&q).await.expect("ohlcv").bars;
        assert_ne!(
            stale.bars, expected,
            "{i}: the late row was never materialized"
        );
    }
    // Asking for refreshed results makes the store refresh that range first.
    for i in ["1h", "1d"] {
        let q = OhlcvQuery::new("BTCUSDT", iv(i), days(3));
        let expected = reference.ohlcv(&q).await.expect("ohlcv").bars;
        let fresh = store
            .ohlcv(&q.clone().with_freshness(Freshness::Refreshed))
            .await
            .expect("ohlcv");
        assert_eq!(fresh.bars, expected, "{i} refreshed");
        let bar = fresh
            .bars
            .iter()
            .find(|b| b.time == iv(i).floor(late.time))
            .expect("bar");
        assert_eq!(bar.low, late.low, "{i}");
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Chunk {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamptz)]
    end: DateTime<Utc>,
}

async fn chunks(store: &TimescaleStore, table: &str) -> Vec<Chunk> {
    let mut conn = store.conn().await.expect("conn");
    let mut v: Vec<Chunk> = diesel::sql_query(
        "SELECT chunk_name AS name, range_end AS end FROM timescaledb_information.chunks \
         WHERE hypertable_name = $1 ORDER BY range_end",
    )
    .bind::<Text, _>(table)
    .load(&mut conn)
    .await
    .expect("chunks");
    v.sort();
    v
}

/// A BTCUSDT candle at 10 with the given high.
fn flat_candle(interval: Interval, time: DateTime<Utc>, high: i64) -> Candle {
    Candle {
        symbol: "BTCUSDT".into(),
        interval,
        time,
        open: Decimal::from(10),
        high: Decimal::from(high),
        low: Decimal::from(9),
        close: Decimal::from(10),
        volume: Decimal::ONE,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_the_retention_job_drops_exactly_the_expired_chunks() {
    // Jobs measure age from the server's clock, so this test lives in real time.
    let store = store(Arc::new(SystemClock)).await;
    let now = Utc::now();
    let start = Interval::D1.floor(now) - TimeDelta::days(400);
    let candles: Vec<Candle> = (0..=400)
        .map(|d| flat_candle(Interval::D1, start + TimeDelta::days(d), 11))
        .collect();
    store.store_candles(&candles).await.expect("candles");
    store.refresh(None).await.expect("refresh");
    let before = chunks(&store, "candles").await;
    assert_eq!(before.len(), 401);
    let daily_before = aggregate_chunks(&store, "ohlcv_1d").await;
    store
        .apply_policies(&seed(), Expiry::Confirmed)
        .await
        .expect("policies");
    let ran = store
        .run_policy_jobs(&[Policy::Retention])
        .await
        .expect("run retention jobs");
    assert_eq!(
        ran.len(),
        17,
        "one retention job per hypertable (4) and aggregate (10), one trim job per raw \
         table with aggregates (3): {ran:?}"
    );
    let after = chunks(&store, "candles").await;
    let horizon = Utc::now() - TimeDelta::days(365);
    let expired: Vec<&Chunk> = before.iter().filter(|c| c.end <= horizon).collect();
    let kept: Vec<&Chunk> = before.iter().filter(|c| c.end > horizon).collect();
    assert!(!expired.is_empty());
    // A chunk ending within the seconds between the two clock readings could go either
    // way; the data has none there (chunks end at midnight).
    assert_eq!(
        after.iter().collect::<Vec<_>>(),
        kept,
        "chunks after the job"
    );
    // The aggregates lose the same span: their whole chunks past the horizon go with the
    // retention job, the rest of the expired buckets with the trim job; none outlives the
    // rows it summarises.
    let daily_after = aggregate_chunks(&store, "ohlcv_1d").await;
    assert!(daily_before.iter().any(|c| c.end <= horizon));
    let daily_kept: Vec<&Chunk> = daily_before.iter().filter(|c| c.end > horizon).collect();
    assert_eq!(daily_after.iter().collect::<Vec<_>>(), daily_kept);
    assert_eq!(
        earliest(&store, "ohlcv_1d_materialized").await,
        earliest(&store, "candles").await,
        "the daily aggregate starts where the raw rows do"
    );
    let q = OhlcvQuery::new(
        "BTCUSDT",
        Interval::D1,
        TimeRange::new(start, start + TimeDelta::days(401)).expect("range"),
    );
    let bars = store.ohlcv(&q).await.expect("ohlcv").bars;
    assert_eq!(bars.len(), kept.len(), "one daily bar per kept chunk");
}

#[derive(QueryableByName)]
struct Earliest {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

/// The earliest `time` of a relation (a constant name).
async fn earliest(store: &TimescaleStore, relation: &str) -> Option<DateTime<Utc>> {
    let mut conn = store.conn().await.expect("conn");
    diesel::sql_query(format!("SELECT min(time) AS at FROM {relation}"))
        .get_result::<Earliest>(&mut conn)
        .await
        .expect("earliest")
        .at
}

#[derive(QueryableByName)]
struct Width {
    #[diesel(sql_type = BigInt)]
    seconds: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_trims_the_aggregate_chunk_that_straddles_the_horizon() {
    // On the store's clock (no server jobs): at 2024-06-15 12:00 a 365-day horizon keeps the
    // raw chunk of 2023-06-16 onwards, and the 30-day aggregate chunk holding that day
    // starts on 2023-05-23 (chunks align to the epoch), so it straddles the bound.
    let now = DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let store = store(Arc::new(FixedClock::new(now))).await;
    let mut conn = store.conn().await.expect("conn");
    let widths: Vec<Width> = diesel::sql_query(
        "SELECT extract(epoch FROM d.time_interval)::bigint AS seconds \
         FROM timescaledb_information.continuous_aggregates ca \
         JOIN timescaledb_information.dimensions d \
           ON d.hypertable_schema = ca.materialization_hypertable_schema \
          AND d.hypertable_name = ca.materialization_hypertable_name",
    )
    .load(&mut conn)
    .await
    .expect("widths");
    drop(conn);
    assert_eq!(widths.len(), AGGREGATES.len());
    assert!(
        widths.iter().all(|w| w.seconds == 30 * DAY),
        "every aggregate chunk 30 daily partitions wide"
    );
    let start = Interval::H1.floor(now) - TimeDelta::days(400);
    let candles: Vec<Candle> = (0..400 * 24)
        .map(|h| flat_candle(Interval::H1, start + TimeDelta::hours(h), 11 + h % 7))
        .collect();
    store.store_candles(&candles).await.expect("candles");
    store.refresh(None).await.expect("refresh");
    let bound = DateTime::parse_from_rfc3339("2023-06-16T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let daily = "ohlcv_1d_materialized";
    assert!(earliest(&store, daily).await < Some(bound));
    let before = aggregate_chunks(&store, "ohlcv_1d").await;
    let seed = Policies {
        retention: RetentionPolicy {
            price: Some(TimeDelta::days(365)),
            ..RetentionPolicy::default()
        },
        ..Policies::default()
    };
    store
        .apply_policies(&seed, Expiry::Confirmed)
        .await
        .expect("policies");
    store.apply_retention().await.expect("retention");
    assert_eq!(earliest(&store, "candles").await, Some(bound));
    for view in ["ohlcv_1h_materialized", "ohlcv_4h_materialized", daily] {
        assert_eq!(earliest(&store, view).await, Some(bound), "{view}");
    }
    // The straddling chunk is kept, trimmed: not dropped whole.
    let after = aggregate_chunks(&store, "ohlcv_1d").await;
    assert!(after.len() < before.len(), "{after:?}");
    assert!(
        after.iter().all(|c| before.contains(c)),
        "no aggregate chunk replaced"
    );
    // Every routed answer is that of the raw rows kept (the reference holds only those).
    let reference = MemoryStore::with_clock(Arc::new(FixedClock::new(now)));
    let kept: Vec<Candle> = candles.into_iter().filter(|c| c.time >= bound).collect();
    reference.store_candles(&kept).await.expect("reference");
    let range = TimeRange::new(start, now).expect("range");
    for width in [Interval::H4, Interval::D1, iv("3d")] {
        let q =
            OhlcvQuery::new("BTCUSDT", width, range).with_freshness(Freshness::MaterializedOnly);
        let routed = store.ohlcv(&q).await.expect("routed");
        assert!(
            !matches!(routed.route, Route::Raw { .. }),
            "{width}: {:?}",
            routed.route
        );
        let expected = reference
            .ohlcv(&OhlcvQuery::new("BTCUSDT", width, range))
            .await
            .expect("reference")
            .bars;
        assert!(
            routed.bars == expected,
            "{width}: {} bars from {:?}, expected {} from {:?}",
            routed.bars.len(),
            <[_]>::first(&routed.bars),
            expected.len(),
            <[_]>::first(&expected)
        );
        assert_eq!(
            <[_]>::first(&routed.bars).map(|b| b.time),
            Some(width.floor(bound))
        );
    }
}

/// Chunks of a continuous aggregate's materialization hypertable.
async fn aggregate_chunks(store: &TimescaleStore, view: &str) -> Vec<Chunk> {
    let mut conn = store.conn().await.expect("conn");
    let mut v: Vec<Chunk> = diesel::sql_query(
        "SELECT c.chunk_name AS name, c.range_end AS end \
         FROM timescaledb_information.chunks c \
         JOIN timescaledb_information.continuous_aggregates a \
           ON a.materialization_hypertable_schema = c.hypertable_schema \
          AND a.materialization_hypertable_name = c.hypertable_name \
         WHERE a.view_name = $1",
    )
    .bind::<Text, _>(view)
    .load(&mut conn)
    .await
    .expect("aggregate chunks");
    v.sort();
    v
}

#[derive(QueryableByName, Debug)]
struct JobRow {
    #[diesel(sql_type = Text)]
    proc_name: String,
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Nullable<Text>)]
    setting: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seconds: Option<i64>,
    #[diesel(sql_type = BigInt)]
    schedule: i64,
}

/// Every policy job: kind, relation, main setting (in seconds) and schedule (seconds).
async fn jobs(store: &TimescaleStore) -> Vec<JobRow> {
    let mut conn = store.conn().await.expect("conn");
    diesel::sql_query(
        "SELECT proc_name::text, coalesce(hypertable_name, config->>'raw_table')::text AS relation, \
         coalesce(config->>'drop_after', config->>'compress_after', config->>'start_offset') \
         AS setting, extract(epoch FROM coalesce(config->>'drop_after', \
         config->>'compress_after', config->>'start_offset')::interval)::bigint AS seconds, \
         extract(epoch FROM schedule_interval)::bigint AS schedule \
         FROM timescaledb_information.jobs WHERE job_id >= 1000 \
         ORDER BY proc_name, hypertable_name",
    )
    .load(&mut conn)
    .await
    .expect("jobs")
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct JobId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of every policy job, in order.
async fn job_ids(store: &TimescaleStore) -> Vec<JobId> {
    let mut conn = store.conn().await.expect("conn");
    diesel::sql_query(
        "SELECT job_id::bigint AS id FROM timescaledb_information.jobs \
         WHERE job_id >= 1000 ORDER BY job_id",
    )
    .load(&mut conn)
    .await
    .expect("job ids")
}

fn seconds(jobs: &[JobRow], proc_name: &str, relation: &str) -> Option<i64> {
    let matching: Vec<&JobRow> = jobs
        .iter()
        .filter(|j| j.proc_name == proc_name && j.relation == relation)
        .collect();
    assert!(matching.len() <= 1, "duplicate jobs: {matching:?}");
    <[&JobRow]>::first(&matching).and_then(|j| j.seconds)
}

const DAY: i64 = 86_400;

/// The seed's retention horizons, which a user opts into.
fn seed() -> Policies {
    Policies {
        retention: RetentionPolicy::SEED,
        ..Policies::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_exist_with_the_configured_values_and_reapplying_alters_them() {
    // Retention jobs measure age by the server's clock: only a store on the same clock
    // gets them (see `a_store_on_another_clock_gets_no_retention_jobs`).
    let store = store(Arc::new(SystemClock)).await;
    let mut policies = seed();
    store
        .apply_policies(&policies, Expiry::Refuse)
        .await
        .expect("apply");
    let j = jobs(&store).await;
    assert_eq!(seconds(&j, "policy_retention", "candles"), Some(365 * DAY));
    assert_eq!(
        seconds(&j, "policy_retention", "sentiment"),
        Some(180 * DAY)
    );
    assert_eq!(seconds(&j, "policy_retention", "flows"), Some(180 * DAY));
    // Aggregates are kept as long as their rows.
    assert_eq!(seconds(&j, "policy_retention", "ohlcv_1h"), Some(365 * DAY));
    assert_eq!(
        seconds(&j, "policy_retention", "sentiment_1d"),
        Some(180 * DAY)
    );
    assert_eq!(
        j.iter()
            .filter(|r| r.proc_name == "policy_retention")
            .count(),
        14
    );
    assert_eq!(
        seconds(&j, "policy_retention", "indicators"),
        Some(365 * DAY)
    );
    // Beside each retention job of a raw table with aggregates, a trim job on its schedule
    // with its horizon.
    let trim = "marketseries_trim_aggregates_job";
    assert_eq!(j.iter().filter(|r| r.proc_name == trim).count(), 3, "{j:?}");
    for (table, horizon) in [("candles", 365), ("sentiment", 180), ("flows", 180)] {
        assert_eq!(seconds(&j, trim, table), Some(horizon * DAY), "{table}");
        let schedule = |p: &str| j.iter().find(|r| r.proc_name == p && r.relation == table);
        assert_eq!(
            schedule(trim).map(|r| r.schedule),
            schedule("policy_retention").map(|r| r.schedule),
            "{table}"
        );
    }
    assert_eq!(seconds(&j, trim, "indicators"), None);
    assert_eq!(
        seconds(&j, "policy_compression", "indicators"),
        Some(7 * DAY)
    );
    assert_eq!(seconds(&j, "policy_compression", "candles"), Some(7 * DAY));
    assert_eq!(
        seconds(&j, "policy_compression", "sentiment"),
        Some(14 * DAY)
    );
    assert_eq!(seconds(&j, "policy_compression", "flows"), Some(7 * DAY));
    let refresh: Vec<&JobRow> = j
        .iter()
        .filter(|r| r.proc_name == "policy_refresh_continuous_aggregate")
        .collect();
    assert_eq!(
        refresh.len(),
        10,
        "one refresh policy per aggregate: {refresh:?}"
    );
    assert!(
        refresh
            .iter()
            .all(|r| r.seconds == Some(3 * DAY) && r.schedule == 300),
        "{refresh:?}"
    );
    let total = j.len();
    assert!(j.iter().all(|r| r.setting.is_some()));

    // The same policies again leave every job as it is (a re-created job starts at once,
    // beside whatever maintenance is running); other ones re-create them.
    let ids = job_ids(&store).await;
    store
        .apply_policies(&policies, Expiry::Refuse)
        .await
        .expect("same again");
    assert_eq!(
        job_ids(&store).await,
        ids,
        "unchanged policies keep their jobs"
    );

    policies.retention.price = Some(TimeDelta::days(400));
    policies.compression.sentiment_after = None;
    policies.refresh.schedule = TimeDelta::minutes(10);
    store
        .apply_policies(&policies, Expiry::Refuse)
        .await
        .expect("re-apply");
    assert_ne!(
        job_ids(&store).await,
        ids,
        "changed policies re-create the jobs"
    );
    let j = jobs(&store).await;
    assert_eq!(seconds(&j, "policy_retention", "candles"), Some(400 * DAY));
    assert_eq!(seconds(&j, "policy_retention", "ohlcv_1d"), Some(400 * DAY));
    assert_eq!(seconds(&j, "policy_compression", "sentiment"), None);
    assert_eq!(j.len(), total - 1, "exactly the removed policy is gone");
    assert!(j
        .iter()
        .filter(|r| r.proc_name == "policy_refresh_continuous_aggregate")
        .all(|r| r.schedule == 600));

    // Retention inside the refresh window of the daily aggregates is a typed error, and
    // the policies in place stay as they were.
    policies.refresh.start_offset = TimeDelta::days(1);
    policies.retention.flow = Some(TimeDelta::days(2));
    let err = store
        .apply_policies(&policies, Expiry::Confirmed)
        .await
        .expect_err("must fail");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(jobs(&store).await.len(), total - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_another_clock_gets_no_retention_jobs() {
    // The fixture clock is in 2024: a server job would measure age from the server's "now"
    // and drop rows that are inside the window by the store's.
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    store
        .apply_policies(&seed(), Expiry::Confirmed)
        .await
        .expect("apply");
    let j = jobs(&store).await;
    assert_eq!(
        j.iter()
            .filter(|r| r.proc_name == "policy_retention")
            .count(),
        0,
        "{j:?}"
    );
    assert_eq!(seconds(&j, "policy_compression", "candles"), Some(7 * DAY));
    // Retention still runs when asked, by the store's clock: nothing of the fixtures is
    // older than a year before it.
    store.apply_retention().await.expect("retention");
    assert_eq!(
        answers(&store).await,
        answers(&reference).await,
        "answers after retention"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_rows_chunks_compression_watermarks_and_jobs() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.backend, "timescaledb");
    assert!(stats.aggregates.iter().all(|a| a.watermark.is_none()));
    let candles = &stats.tables[0];
    assert_eq!(candles.name, "candles");
    assert_eq!(
        candles.rows,
        u64::try_from(Fixture::market_candles().len()).expect("count")
    );
    assert_eq!(
        candles.partitions, 4,
        "three days from a non-midnight start"
    );
    assert_eq!(candles.compressed_bytes, None);
    store
        .apply_policies(&seed(), Expiry::Confirmed)
        .await
        .expect("policies");
    let ran = store
        .run_policy_jobs(&[Policy::Refresh])
        .await
        .expect("refresh jobs");
    assert_eq!(ran.len(), 10, "one refresh job per aggregate: {ran:?}");
    compress_everything(&store).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.aggregates.len(), 10);
    assert_eq!(
        stats.jobs.len(),
        14,
        "compression 4, refresh 10, no retention (the store's clock is not the server's): {:?}",
        stats.jobs
    );
    assert!(stats
        .jobs
        .iter()
        .all(|j| ran.contains(&j.id) || !j.name.starts_with("Refresh Continuous Aggregate")));
    // `CALL run_job` runs a job in the foreground without recording job statistics (only
    // the background scheduler does, and the embedded server has none). Where the
    // scheduler ran one, its outcome is reported; nothing here depends on it succeeding
    // (native 2.28 on PostgreSQL 15.20 records a spurious `cannot drop portal` error after
    // jobs that did their work).
    assert!(
        stats
            .jobs
            .iter()
            .all(|j| j.last_run.is_some() == j.last_succeeded.is_some()),
        "{:?}",
        stats.jobs
    );
    // Indicators are the fourth hypertable: listed with their rows and chunks, compressed
    // like the others.
    let indicators = stats
        .tables
        .iter()
        .find(|t| t.name == "indicators")
        .expect("indicators in stats");
    assert_eq!(
        indicators.rows,
        u64::try_from(2 * Fixture::market_candles().len()).expect("count")
    );
    assert!(indicators.partitions >= 3, "{indicators:?}");
    assert!(
        indicators.compression_saving_percent().is_some(),
        "{indicators:?}"
    );
    let saving = stats.tables[0]
        .compression_saving_percent()
        .expect("compressed");
    assert!(saving > 0.0, "{saving}");
}

#[derive(QueryableByName, Debug, PartialEq)]
struct SqlBar {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    open: Decimal,
    #[diesel(sql_type = Numeric)]
    high: Decimal,
    #[diesel(sql_type = Numeric)]
    low: Decimal,
    #[diesel(sql_type = Numeric)]
    close: Decimal,
    #[diesel(sql_type = Numeric)]
    volume: Decimal,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct SqlOverview {
    #[diesel(sql_type = Text)]
    symbol: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    change_percent_24h: Option<Decimal>,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct SqlFlowKey {
    #[diesel(sql_type = Text)]
    asset: String,
    #[diesel(sql_type = Text)]
    reference: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct SqlSummary {
    #[diesel(sql_type = Text)]
    asset: String,
    #[diesel(sql_type = BigInt)]
    readings: i64,
    #[diesel(sql_type = BigInt)]
    bullish: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_functions_give_the_api_answers() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    // Half materialized, half real-time: the functions read either.
    store
        .refresh(Some(
            TimeRange::new(
                fixture_now() - TimeDelta::days(4),
                fixture_now() - TimeDelta::days(1),
            )
            .expect("range"),
        ))
        .await
        .expect("refresh");
    // The pool has one connection (the embedded server's limit): each SQL statement checks
    // it out for that statement only, so the API calls in between can have it.
    let range = days(3);
    for i in ["1m", "15m", "1h", "2h", "1d", "1w", "7m"] {
        let api = store
            .ohlcv(&OhlcvQuery::new("BTCUSDT", iv(i), range))
            .await
            .expect("ohlcv")
            .bars;
        let sql: Vec<SqlBar> = diesel::sql_query("SELECT * FROM get_ohlcv($1, $2, $3, $4)")
            .bind::<Text, _>("BTCUSDT")
            .bind::<Text, _>(i)
            .bind::<Timestamptz, _>(range.from())
            .bind::<Timestamptz, _>(range.to())
            .load(&mut *store.conn().await.expect("conn"))
            .await
            .expect("get_ohlcv");
        let sql: Vec<_> = sql
            .into_iter()
            .map(|b| (b.time, b.open, b.high, b.low, b.close, b.volume))
            .collect();
        let api: Vec<_> = api
            .into_iter()
            .map(|b| (b.time, b.open, b.high, b.low, b.close, b.volume))
            .collect();
        assert_eq!(sql, api, "get_ohlcv {i}");
    }
    let bad = diesel::sql_query("SELECT * FROM get_ohlcv('BTCUSDT', '30s', now(), now())")
        .execute(&mut *store.conn().await.expect("conn"))
        .await;
    assert!(bad.is_err(), "30s from 1m candles must fail");

    let overview = store.market_overview().await.expect("overview");
    let sql: Vec<SqlOverview> = diesel::sql_query(
        "SELECT symbol, time, price, change_percent_24h FROM market_overview_at($1)",
    )
    .bind::<Timestamptz, _>(fixture_now())
    .load(&mut *store.conn().await.expect("conn"))
    .await
    .expect("market_overview_at");
    let api: Vec<SqlOverview> = overview
        .into_iter()
        .map(|o| SqlOverview {
            symbol: o.latest.symbol,
            time: o.latest.time,
            price: o.latest.price,
            change_percent_24h: o.change_24h.and_then(|c| c.percent()),
        })
        .collect();
    assert_eq!(sql, api, "market overview");
    assert!(api.iter().all(|o| o.change_percent_24h.is_some()));
    // Ten days after the data: the latest prices stay, the 24-hour change is NULL (no
    // candles in the window), as the API's `change_24h: None`.
    let later: Vec<SqlOverview> = diesel::sql_query(
        "SELECT symbol, time, price, change_percent_24h FROM market_overview_at($1)",
    )
    .bind::<Timestamptz, _>(fixture_now() + TimeDelta::days(10))
    .load(&mut *store.conn().await.expect("conn"))
    .await
    .expect("market_overview_at later");
    assert_eq!(later.len(), sql.len());
    assert!(
        later.iter().zip(&sql).all(|(l, s)| l.symbol == s.symbol
            && l.price == s.price
            && l.change_percent_24h.is_none()),
        "{later:?}"
    );

    let whales = store
        .whale_activity(&WhaleQuery {
            asset: None,
            range: days(2),
            min_amount: Decimal::from(50),
        })
        .await
        .expect("whales");
    let sql: Vec<SqlFlowKey> =
        diesel::sql_query("SELECT asset, reference, time FROM whale_activity_between($1, $2, $3)")
            .bind::<Numeric, _>(Decimal::from(50))
            .bind::<Timestamptz, _>(days(2).from())
            .bind::<Timestamptz, _>(days(2).to())
            .load(&mut *store.conn().await.expect("conn"))
            .await
            .expect("whale_activity_between");
    let api: Vec<SqlFlowKey> = whales
        .into_iter()
        .map(|f| SqlFlowKey {
            asset: f.asset,
            reference: f.reference,
            time: f.time,
        })
        .collect();
    assert!(!api.is_empty());
    assert_eq!(sql, api, "whale activity");

    let summary = store
        .sentiment_summary(TimeDelta::hours(24))
        .await
        .expect("summary");
    let sql: Vec<SqlSummary> = diesel::sql_query(
        "SELECT asset, readings, bullish FROM sentiment_summary_at(interval '24 hours', $1)",
    )
    .bind::<Timestamptz, _>(fixture_now())
    .load(&mut *store.conn().await.expect("conn"))
    .await
    .expect("sentiment_summary_at");
    let api: Vec<SqlSummary> = summary
        .into_iter()
        .map(|s| SqlSummary {
            asset: s.asset,
            readings: i64::try_from(s.readings).expect("count"),
            bullish: i64::try_from(s.distribution.bullish).expect("count"),
        })
        .collect();
    assert_eq!(sql, api, "sentiment summary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_are_typed() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("test database");
    let mut config = PgConfig::new(db.url());
    config.pool_size = 1;
    config.partition_width = TimeDelta::hours(12);
    let err = marketseries_timescale::TimescaleStore::connect(config)
        .await
        .expect_err("half-day chunks");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    // A plain PostgreSQL server has no TimescaleDB to offer.
    let plain = fresh_database(ServerKind::Postgres)
        .await
        .expect("test database");
    let err = marketseries_timescale::TimescaleStore::connect(PgConfig::new(plain.url()))
        .await
        .expect_err("no extension");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_only_reads_leave_out_the_real_time_tail() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    load(&store, &reference).await;
    // Materialize up to a day before "now"; the last day is only in the real-time tail.
    let cut = fixture_now() - TimeDelta::days(1);
    store
        .refresh(Some(
            TimeRange::new(fixture_now() - TimeDelta::days(4), cut).expect("range"),
        ))
        .await
        .expect("refresh");
    for i in ["1h", "2h", "1d"] {
        let q = OhlcvQuery::new("BTCUSDT", iv(i), days(3));
        let expected = reference.ohlcv(&q).await.expect("ohlcv").bars;
        let real_time = store.ohlcv(&q).await.expect("ohlcv");
        assert_eq!(real_time.bars, expected, "{i} real-time");
        let materialized = store
            .ohlcv(&q.clone().with_freshness(Freshness::MaterializedOnly))
            .await
            .expect("ohlcv");
        assert!(
            !matches!(materialized.route, Route::Raw { .. }),
            "{i}: {}",
            materialized.route
        );
        let bars = &materialized.bars;
        assert!(
            !bars.is_empty() && bars.len() < expected.len(),
            "{i}: {} materialized bars of {}",
            bars.len(),
            expected.len()
        );
        assert!(bars.iter().all(|b| b.time < cut), "{i}: a bar past the cut");
        // What is materialized is exact: the reference's bars at those times (a 2h bar
        // re-aggregated from a half-materialized pair of hours would not be).
        let whole: Vec<_> = bars
            .iter()
            .filter(|b| b.time + iv(i).duration() <= Interval::H1.floor(cut))
            .collect();
        assert!(!whole.is_empty());
        for b in whole {
            assert!(expected.contains(b), "{i}: {b:?} is not the reference's");
        }
    }
}

/// 5m candles of one symbol over `days` days ending a day before the fixture's now: more
/// than one refresh window of data.
fn long_series(days: i64) -> Vec<Candle> {
    let end = Interval::D1.floor(fixture_now()) - TimeDelta::days(1);
    let start = end - TimeDelta::days(days);
    let n = (end - start).num_minutes() / 5;
    (0..n)
        .map(|i| {
            let open = Decimal::from(100 + i % 97);
            let close = Decimal::from(100 + (i * 7) % 89);
            Candle {
                symbol: "LONGUSDT".into(),
                interval: Interval::M5,
                time: start + TimeDelta::minutes(5 * i),
                open,
                high: open.max(close) + Decimal::ONE,
                low: open.min(close) - Decimal::ONE,
                close,
                volume: Decimal::from(i % 13),
            }
        })
        .collect()
}

#[derive(QueryableByName)]
struct Unanalyzed {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A full refresh runs in windows (oldest first, every aggregate per window); a correction
/// of an old candle, in another window than the newest data, reaches every OHLCV aggregate
/// after the next full refresh, and the materialized rows alone give the reference answers.
/// The refresh leaves statistics on the aggregate chunks it wrote, and the database runs
/// without JIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refresh_in_windows_reaches_every_aggregate_with_late_data() {
    let store = store(fixed()).await;
    let reference = MemoryStore::with_clock(fixed());
    let candles = long_series(75);
    store.store_candles(&candles).await.expect("candles");
    reference.store_candles(&candles).await.expect("candles");
    let seen = std::sync::Mutex::new(Vec::<RefreshProgress>::new());
    store
        .refresh_with_progress(None, &|p| {
            seen.lock().expect("progress").push(p.clone());
        })
        .await
        .expect("refresh");
    // Every window of every aggregate is a step, numbered within the announced total: the
    // OHLCV aggregates in hierarchy order, each over contiguous windows oldest first that
    // reach past the newest candle.
    let steps = seen.into_inner().expect("progress");
    let total = u64::try_from(steps.len()).expect("steps");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s.step, u64::try_from(i + 1).expect("step"), "{s:?}");
        assert_eq!(s.steps, Some(total), "{s:?}");
    }
    assert_eq!(
        steps.last().and_then(|s| s.remaining),
        Some(TimeDelta::zero())
    );
    let ohlcv: Vec<&str> = AGGREGATES
        .iter()
        .filter(|a| a.dataset == Dataset::Price)
        .map(|a| a.name)
        .collect();
    let order: Vec<&str> = steps
        .iter()
        .map(|s| s.target.as_str())
        .filter(|t| ohlcv.contains(t))
        .fold(Vec::new(), |mut order, t| {
            if order.last() != Some(&t) {
                order.push(t);
            }
            order
        });
    assert_eq!(
        order, ohlcv,
        "each aggregate's windows together, finest first"
    );
    for name in &ohlcv {
        let windows: Vec<&RefreshProgress> = steps.iter().filter(|s| s.target == *name).collect();
        // 75 days in 30-day windows of `ohlcv_5m`; coarser aggregates take longer windows
        // (`window_of`), one for `ohlcv_1h` and above.
        let at_least = if *name == "ohlcv_5m" { 3 } else { 1 };
        assert!(windows.len() >= at_least, "{name}: {windows:?}");
        for w in windows.windows(2) {
            let end = w[0].through.expect("window end");
            assert_eq!(w[1].through, Some(end + w[1].covered), "{name}: {w:?}");
        }
        let last = windows.last().and_then(|w| w.through).expect("window end");
        assert!(last > candles.last().expect("candles").time, "{name}");
    }
    let mut late = candles[candles.len() / 5].clone();
    late.high += Decimal::from(1000);
    late.volume += Decimal::from(777);
    store.store_candle(&late).await.expect("late upsert");
    reference.store_candle(&late).await.expect("late upsert");
    store.refresh(None).await.expect("second refresh");
    let range = TimeRange::new(candles[0].time, fixture_now()).expect("range");
    for i in ["5m", "15m", "1h", "4h", "1d"] {
        let q = OhlcvQuery::new("LONGUSDT", iv(i), range);
        let got = store
            .ohlcv(&q.clone().with_freshness(Freshness::MaterializedOnly))
            .await
            .expect("ohlcv");
        assert!(
            matches!(got.route, Route::Materialized { .. }),
            "{i}: {}",
            got.route
        );
        let expected = reference.ohlcv(&q).await.expect("ohlcv").bars;
        assert_eq!(got.bars.len(), expected.len(), "{i}");
        assert!(got.bars == expected, "{i}: materialized bars differ");
        let bar = got
            .bars
            .iter()
            .find(|b| b.time == iv(i).floor(late.time))
            .expect("bar");
        assert_eq!(bar.high, late.high, "{i}");
    }
    let mut conn = store.conn().await.expect("conn");
    if store.capabilities().compression {
        let left: Unanalyzed = diesel::sql_query(
            "SELECT count(*) AS n FROM timescaledb_information.continuous_aggregates ca \
             JOIN timescaledb_information.chunks ch \
               ON ch.hypertable_schema = ca.materialization_hypertable_schema \
              AND ch.hypertable_name = ca.materialization_hypertable_name \
             JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name)) \
             WHERE ca.view_name LIKE 'ohlcv%' AND c.reltuples < 0",
        )
        .get_result(&mut conn)
        .await
        .expect("unanalyzed chunks");
        assert_eq!(left.n, 0, "aggregate chunks without statistics");
    }
    // And on the raw chunks the API's batches wrote (no import analyzed them).
    let raw: Unanalyzed = diesel::sql_query(
        "SELECT count(*) AS n FROM timescaledb_information.chunks ch \
         JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name)) \
         WHERE ch.hypertable_name = 'candles' AND NOT ch.is_compressed AND c.reltuples < 0",
    )
    .get_result(&mut conn)
    .await
    .expect("unanalyzed raw chunks");
    assert_eq!(
        raw.n, 0,
        "raw chunks without statistics after a full refresh"
    );
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        jit: String,
    }
    let jit: Setting = diesel::sql_query("SELECT current_setting('jit') AS jit")
        .get_result(&mut conn)
        .await
        .expect("jit");
    assert_eq!(jit.jit, "off");
}

/// Issue 12: the hypertables refuse what validation refuses, numeric `NaN` included, from a
/// writer going straight to SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_sql_writes_of_invalid_rows_are_refused_by_checks() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("database");
    let mut config = PgConfig::new(db.url());
    config.pool_size = 1;
    let store = TimescaleStore::connect_with_clock(config, fixed())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    // The embedded server serves one client per database: no store connection may stay.
    drop(store);
    marketseries_testkit::sql_checks::direct_writes_of_invalid_rows_are_rejected(
        db.url(),
        fixture_now(),
    )
    .await;
}

#[derive(QueryableByName, Debug, PartialEq)]
struct SqlSymbol {
    #[diesel(sql_type = Text)]
    symbol: String,
}

/// What every read says about which series exist: symbols, each symbol's natives and
/// latest price, the overview's symbols and prices, and the SQL API's symbols and overview.
async fn liveness_answers(store: &TimescaleStore) -> Vec<String> {
    let mut out = vec![format!(
        "symbols {:?}",
        store.symbols().await.expect("symbols")
    )];
    for symbol in ["BASE", "GONE", "KEPT"] {
        let latest = store.latest_price(symbol).await.expect("latest");
        let natives = store.native_intervals(symbol).await.expect("natives");
        let natives: Vec<String> = natives.iter().map(ToString::to_string).collect();
        let latest = latest.map_or("none".to_owned(), |p| {
            format!("{} {:?} {}", p.interval, p.time, p.price)
        });
        out.push(format!("{symbol}: natives {natives:?}, latest {latest}"));
    }
    let overview = store.market_overview().await.expect("overview");
    out.push(format!(
        "overview {:?}",
        overview
            .iter()
            .map(|o| (o.latest.symbol.as_str(), o.latest.time, o.latest.price))
            .collect::<Vec<_>>()
    ));
    let sql: Vec<SqlSymbol> =
        diesel::sql_query("SELECT s AS symbol FROM marketseries_symbols() s ORDER BY 1")
            .load(&mut *store.conn().await.expect("conn"))
            .await
            .expect("marketseries_symbols");
    out.push(format!(
        "sql symbols {:?}",
        sql.into_iter().map(|s| s.symbol).collect::<Vec<_>>()
    ));
    let sql: Vec<SqlOverview> = diesel::sql_query(
        "SELECT symbol, time, price, change_percent_24h FROM market_overview_at($1)",
    )
    .bind::<Timestamptz, _>(fixture_now())
    .load(&mut *store.conn().await.expect("conn"))
    .await
    .expect("market_overview_at");
    out.push(format!(
        "sql overview {:?}",
        sql.iter()
            .map(|o| (o.symbol.as_str(), o.time, o.price))
            .collect::<Vec<_>>()
    ));
    out
}

/// Chunks dropped in SQL, as the server's retention job drops them (the store is not told):
/// a series whose every candle went is gone from every read, a series with candles left
/// stays (with its latest candle), a symbol whose finest series emptied falls back to the
/// next one; and a later write older than every chunk left, which creates an older chunk,
/// brings none of the emptied series back, while the series it writes has that candle as
/// its latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_emptied_by_dropped_chunks_vanish_and_a_backfill_does_not_revive_them() {
    let store = store(fixed()).await;
    let day0 = Interval::D1.floor(fixture_now()) - TimeDelta::days(10);
    let candle = |symbol: &str, interval: Interval, day: i64, close: i64| Candle {
        symbol: symbol.to_owned(),
        interval,
        time: day0 + TimeDelta::days(day) + TimeDelta::hours(1),
        open: Decimal::from(close),
        high: Decimal::from(close),
        low: Decimal::from(close),
        close: Decimal::from(close),
        volume: Decimal::ONE,
    };
    // The 1-day chunks of days 0 and 1 are dropped below; days 5 and 9 stay.
    let candles = vec![
        candle("GONE", Interval::H1, 0, 10),
        candle("GONE", Interval::H1, 1, 11),
        candle("KEPT", Interval::M1, 0, 20),
        candle("KEPT", Interval::M1, 5, 21),
        candle("BASE", Interval::M1, 1, 30),
        candle("BASE", Interval::H1, 0, 31),
        candle("BASE", Interval::H1, 9, 32),
    ];
    store.store_candles(&candles).await.expect("candles");
    let t = |day: i64| day0 + TimeDelta::days(day) + TimeDelta::hours(1);
    let all = liveness_answers(&store).await;
    assert_eq!(all[0], r#"symbols ["BASE", "GONE", "KEPT"]"#);
    assert_eq!(
        all[1],
        format!(r#"BASE: natives ["1m", "1h"], latest 1m {:?} 30"#, t(1))
    );

    let dropped: Dropped = diesel::sql_query(
        "SELECT count(*) AS n FROM drop_chunks('candles', older_than => $1::timestamptz)",
    )
    .bind::<Timestamptz, _>(day0 + TimeDelta::days(2))
    .get_result(&mut *store.conn().await.expect("conn"))
    .await
    .expect("drop_chunks");
    assert_eq!(dropped.n, 2, "the chunks of days 0 and 1");
    let expected = vec![
        r#"symbols ["BASE", "KEPT"]"#.to_owned(),
        format!(r#"BASE: natives ["1h"], latest 1h {:?} 32"#, t(9)),
        "GONE: natives [], latest none".to_owned(),
        format!(r#"KEPT: natives ["1m"], latest 1m {:?} 21"#, t(5)),
        format!(
            r#"overview [("BASE", {:?}, 32), ("KEPT", {:?}, 21)]"#,
            t(9),
            t(5)
        ),
        r#"sql symbols ["BASE", "KEPT"]"#.to_owned(),
        format!(
            r#"sql overview [("BASE", {:?}, 32), ("KEPT", {:?}, 21)]"#,
            t(9),
            t(5)
        ),
    ];
    assert_eq!(
        liveness_answers(&store).await,
        expected,
        "after drop_chunks"
    );

    // Older than every chunk left (and than the dropped ones): the oldest chunk is now
    // that of day -3.
    store
        .store_candles(&[candle("KEPT", Interval::M1, -3, 19)])
        .await
        .expect("backfill");
    assert_eq!(liveness_answers(&store).await, expected, "after a backfill");
    store
        .store_candles(&[candle("GONE", Interval::H1, -2, 9)])
        .await
        .expect("backfill of an emptied series");
    let answers = liveness_answers(&store).await;
    assert_eq!(answers[0], r#"symbols ["BASE", "GONE", "KEPT"]"#);
    assert_eq!(
        answers[2],
        format!(r#"GONE: natives ["1h"], latest 1h {:?} 9"#, t(-2))
    );
    assert_eq!(answers[1], expected[1], "BASE's 1m series stays gone");
}

#[derive(QueryableByName)]
struct Dropped {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Issue 12: connections cut before and after `COMMIT` (and before an `INSERT`) are
/// retried by the write path and lose or duplicate nothing; a write whose every commit is
/// cut fails as an ambiguous commit and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_connections_cut_at_commit() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("database");
    let proxy = marketseries_testkit::fault_proxy::FaultProxy::start(db.url())
        .await
        .expect("proxy");
    let mut config = PgConfig::new(proxy.url(db.url()));
    config.pool_size = 1;
    let store = TimescaleStore::connect_with_clock(config, fixed())
        .await
        .expect("store through the proxy");
    store.migrate().await.expect("migrate");
    marketseries_testkit::faults::writes_survive_cut_connections(&store, &proxy, fixture_now())
        .await;
}

/// Issue 12: a real deadlock (40P01) with another session is retried by the write path.
/// Needs a second session next to the store's: skipped, loudly, on the embedded server,
/// which serves one client per database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocked_writes_are_retried() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("database");
    if db.flavor() == marketseries_testkit::launcher::Flavor::Embedded {
        eprintln!(
            "SKIPPED deadlocked_writes_are_retried: the embedded TimescaleDB serves one client \
             per database, so no second session can deadlock with the store; this test runs \
             against a native TimescaleDB (MARKETSERIES_TIMESCALEDB=native) or TIMESCALEDB_URL"
        );
        return;
    }
    let store = TimescaleStore::connect_with_clock(PgConfig::new(db.url()), fixed())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    marketseries_testkit::faults::deadlocked_writes_are_retried(&store, db.url(), fixture_now())
        .await;
}

/// A refresh raises `work_mem` for its calls only (`PgConfig::refresh_work_mem_mb`): the
/// pooled session it ran on is back at the server's setting afterwards, and a value
/// PostgreSQL cannot take is refused at connect, naming the setting. (On the embedded
/// server every session closes after use, so the session check bites on a native one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_leaves_its_session_at_the_servers_work_mem() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("test database");
    let mut config = PgConfig::new(db.url());
    config.pool_size = 1;
    config.refresh_work_mem_mb = u32::MAX;
    let err = TimescaleStore::connect_with_clock(config.clone(), fixed())
        .await
        .expect_err("work_mem beyond PostgreSQL's ceiling");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("refresh_work_mem_mb"), "{err}");

    config.refresh_work_mem_mb = 96;
    let store = TimescaleStore::connect_with_clock(config, fixed())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let reference = MemoryStore::with_clock(fixed());
    let candles = long_series(3);
    store.store_candles(&candles).await.expect("candles");
    reference.store_candles(&candles).await.expect("candles");
    store.refresh(None).await.expect("refresh");
    let client = store.client().await.expect("client");
    let row = client
        .query_one(
            "SELECT current_setting('work_mem'), \
             (SELECT reset_val FROM pg_settings WHERE name = 'work_mem') || unit \
             FROM pg_settings WHERE name = 'work_mem'",
            &[],
        )
        .await
        .expect("work_mem");
    let (now, server): (String, String) = (row.get(0), row.get(1));
    assert_ne!(now, "96MB", "the refresh's work_mem outlived it");
    let kb = |s: &str| -> i64 {
        let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: i64 = n.parse().expect("a number");
        match unit {
            "kB" => n,
            "MB" => n * 1024,
            "GB" => n * 1024 * 1024,
            other => panic!("unit {other}"),
        }
    };
    assert_eq!(kb(&now), kb(&server), "{now} vs the server's {server}");
    drop(client);
    // What it materialized under the raised work_mem answers like the reference.
    let q = OhlcvQuery::new("LONGUSDT", iv("1h"), days(5));
    let hourly = store.ohlcv(&q).await.expect("1h");
    assert!(!hourly.bars.is_empty(), "nothing read back");
    assert_eq!(
        hourly.bars,
        reference.ohlcv(&q).await.expect("reference").bars
    );
}

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = Text)]
    time_zone: String,
    #[diesel(sql_type = Text)]
    plan_cache_mode: String,
    #[diesel(sql_type = Text)]
    jit: String,
    #[diesel(sql_type = Text)]
    statement_timeout: String,
}

/// The pool starts with the connection the edition was detected on
/// (`Flavor::setup_with_connection`), which does not go through the pool's own set-up: it
/// must be set up like every session (UTC, the flavor's plan cache mode, no JIT, the
/// statement timeout), or reads on it would be planned and time out differently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_pooled_connection_is_set_up_like_every_session() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("test database");
    let mut config = PgConfig::new(db.url());
    config.pool_size = 1;
    config.statement_timeout = std::time::Duration::from_millis(4321);
    let store = TimescaleStore::connect_with_clock(config, fixed())
        .await
        .expect("store");
    let session: Session = diesel::sql_query(
        "SELECT current_setting('TimeZone') AS time_zone, \
         current_setting('plan_cache_mode') AS plan_cache_mode, \
         current_setting('jit') AS jit, \
         current_setting('statement_timeout') AS statement_timeout",
    )
    .get_result(&mut *store.conn().await.expect("connection"))
    .await
    .expect("settings");
    assert_eq!(session.time_zone, "UTC");
    assert_eq!(session.plan_cache_mode, "force_generic_plan");
    assert_eq!(session.jit, "off");
    assert_eq!(session.statement_timeout, "4321ms");
}
