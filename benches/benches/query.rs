//! Read paths on plain PostgreSQL: group `ohlcv/postgres` on 3 symbols x 30 days of
//! one-minute candles (129,600 rows), loaded once through `store_candles`, the OHLCV rollups
//! refreshed, and `ANALYZE`d before any timing.
//!
//! - `hourly_30d`: `PgStore::ohlcv` for one symbol, 1h bars over 30 days (720 bars), routed
//!   to the `ohlcv_1h` rollup (nothing pending after the refresh, so the API reads the table
//!   `ohlcv_1h_materialized` rather than the real-time view);
//! - `hourly_30d_pending`: the same for a symbol with one late correction not yet refreshed,
//!   read through the real-time view `ohlcv_1h` (rollup rows plus the pending hour from raw
//!   candles);
//! - `latest_price_unverified` / `market_overview_unverified`: those calls on a second store
//!   whose pool skips the verifying round trip on checkout (`verify_on_checkout = false`);
//! - `2h_30d`: the same for 2h bars (360), re-aggregated from `ohlcv_1h`;
//! - `hourly_30d_rollup_sql`: the rollup read the API issues for `hourly_30d`, run directly
//!   through `tokio-postgres` (prepared): the "same SQL" reference for the API's overhead;
//! - `native_intervals_sql`: the native-interval lookup the API issues before routing, run
//!   directly (so `hourly_30d` can also be set against the two statements it issues);
//! - `hourly_30d_raw_sql`: raw aggregation of the same range from `candles` (the statement
//!   the API uses on its raw route), run directly: the reference for the rollup's speed-up;
//! - `latest_price` / `latest_price_sql`: `PgStore::latest_price` for one symbol, and its
//!   one statement run directly;
//! - `market_overview` / `market_overview_sql`: `PgStore::market_overview` (latest price and
//!   24h change of every symbol; the store's clock is fixed at the end of the data set), and
//!   its one statement run directly over the same window;
//! - `roundtrip`: `SELECT 1`, prepared: the client-server round trip, so that a `_sql` time
//!   minus this one estimates the statement's server time.
//!
//! Times are client-side round trips (all statements of the call). The SQL texts come from
//! `marketseries_sql::statements` (and `marketseries_postgres::statements::READS`) and are prepared with the parameter types the store
//! binds, so the direct runs issue exactly what the store issues.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Bencher, SamplingMode};
use marketseries_benches::{criterion, runtime, BenchDb};
use marketseries_core::candle::overview_window;
use marketseries_core::{
    Clock, FixedClock, Interval, OhlcvQuery, OhlcvSeries, PriceStore, Route, TimeRange,
    TimeSeriesStore, Unit,
};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_sql::statements;
use marketseries_testkit::generate::CandleSpec;
use rust_decimal::Decimal;
use tokio::runtime::Runtime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

const SYMBOLS: usize = 3;
const DAYS: u32 = 30;
const SEED: u64 = 20_240_101;
const SYMBOL: &str = "BTCUSDT";
/// The symbol left with a pending rollup span.
const PENDING_SYMBOL: &str = "ETHUSDT";

/// Parameter types the store binds for an OHLCV aggregation (stride as text).
const AGGREGATE_TYPES: [Type; 6] = [
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
];

/// Parameter types the store binds for a rollup read.
const ROLLUP_TYPES: [Type; 4] = [Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ];

fn start() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().expect("start time")
}

fn end() -> DateTime<Utc> {
    start() + TimeDelta::days(i64::from(DAYS))
}

/// Loads the data set (untimed) into a fresh database whose store clock sits at its end.
async fn load() -> BenchDb {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(end()));
    let env = BenchDb::create(Some(clock)).await;
    let rows = CandleSpec::minutes(SYMBOLS, DAYS, start(), SEED).generate();
    for chunk in rows.chunks(50_000) {
        env.store.store_candles(chunk).await.expect("load candles");
    }
    // What the background refresher does: nothing is left pending, so the rollup views
    // serve only materialized rows.
    env.store.refresh(None).await.expect("refresh");
    // Then one late correction of PENDING_SYMBOL, mid-month, left pending: its reads go
    // through the real-time views (`hourly_30d_pending`).
    let mut late = rows
        .iter()
        .find(|c| c.symbol == PENDING_SYMBOL && c.time >= start() + TimeDelta::days(15))
        .expect("a candle to correct")
        .clone();
    late.volume += Decimal::ONE;
    env.store.store_candles(&[late]).await.expect("late candle");
    env.client.batch_execute("ANALYZE").await.expect("analyze");
    assert_eq!(
        usize::try_from(env.candle_count().await).ok(),
        Some(rows.len())
    );
    env
}

fn query(interval: Interval) -> OhlcvQuery {
    let range = TimeRange::new(start(), end()).expect("range");
    OhlcvQuery::new(SYMBOL, interval, range)
}

/// Times `iters` sequential awaits of `f` on `rt`.
fn timed<F, Fut, T>(rt: &Runtime, iters: u64, f: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.block_on(async {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f().await);
        }
        t.elapsed()
    })
}

/// Rows of a prepared statement, every column decoded as the API decodes them.
async fn bars(
    env: &BenchDb,
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Vec<(DateTime<Utc>, [Decimal; 5])> {
    env.client
        .query(statement, params)
        .await
        .expect("ohlcv SQL")
        .iter()
        .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)]))
        .collect()
}

/// Statements prepared once per run (with the parameter types the store binds), as the
/// store keeps its statements prepared on each connection. Criterion calls a benchmark's
/// closure once per sample; a statement prepared there would pay PostgreSQL's first five
/// (custom, re-planned) executions in every sample.
#[derive(Default)]
struct Prepared(RefCell<HashMap<String, Statement>>);

impl Prepared {
    fn get(&self, rt: &Runtime, env: &BenchDb, sql: &str, types: &[Type]) -> Statement {
        self.0
            .borrow_mut()
            .entry(sql.to_owned())
            .or_insert_with(|| {
                rt.block_on(env.client.prepare_typed(sql, types))
                    .expect("prepare")
            })
            .clone()
    }
}

/// The rows of a prepared statement; each benchmark decodes the columns the store decodes.
async fn rows(env: &BenchDb, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Vec<Row> {
    env.client
        .query(statement, params)
        .await
        .expect("direct SQL")
}

fn bench_api(
    b: &mut Bencher<'_>,
    rt: &Runtime,
    env: &BenchDb,
    interval: Interval,
    expect: impl Fn(&OhlcvSeries),
) {
    let q = query(interval);
    expect(&rt.block_on(env.store.ohlcv(&q)).expect("ohlcv"));
    b.iter_custom(|iters| {
        timed(rt, iters, || async {
            env.store.ohlcv(&q).await.expect("ohlcv")
        })
    });
}

fn main() {
    let mut c = criterion();
    let rt = runtime();
    let env: OnceCell<BenchDb> = OnceCell::new();
    let ready = || env.get_or_init(|| rt.block_on(load()));
    let hours = usize::try_from(DAYS * 24).expect("bars");
    let native = Interval::M1.to_string();
    let prepared = Prepared::default();

    let mut group = c.benchmark_group("ohlcv/postgres");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);

    group.bench_function("hourly_30d", |b| {
        bench_api(b, &rt, ready(), Interval::H1, |s| {
            assert_eq!(s.bars.len(), hours, "hourly bars");
            assert!(
                matches!(s.route, Route::Materialized { .. }),
                "1h should be served by its rollup, got {}",
                s.route
            );
        });
    });

    group.bench_function("hourly_30d_pending", |b| {
        let env = ready();
        let q = OhlcvQuery::new(PENDING_SYMBOL, Interval::H1, query(Interval::H1).range);
        let once = rt.block_on(env.store.ohlcv(&q)).expect("ohlcv");
        assert_eq!(once.bars.len(), hours, "hourly bars (pending)");
        assert!(matches!(once.route, Route::Materialized { .. }));
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                env.store.ohlcv(&q).await.expect("ohlcv")
            })
        });
    });

    group.bench_function("2h_30d", |b| {
        bench_api(
            b,
            &rt,
            ready(),
            Interval::new(2, Unit::Hour).expect("2h"),
            |s| {
                assert_eq!(s.bars.len(), hours / 2, "2h bars");
                assert!(
                    matches!(s.route, Route::ReAggregate { .. }),
                    "2h should be re-aggregated from a rollup, got {}",
                    s.route
                );
            },
        );
    });

    group.bench_function("hourly_30d_rollup_sql", |b| {
        let env = ready();
        let q = query(Interval::H1);
        let (from, _) = q.interval.covering(&q.range);
        let to = q.range.to();
        let sql = statements::materialized_ohlcv("ohlcv_1h_materialized");
        let statement = prepared.get(&rt, env, &sql, &ROLLUP_TYPES);
        let params: [&(dyn ToSql + Sync); 4] = [&SYMBOL, &native, &from, &to];
        let once = rt.block_on(bars(env, &statement, &params));
        assert_eq!(once.len(), hours, "hourly bars (rollup SQL)");
        b.iter_custom(|iters| timed(&rt, iters, || bars(env, &statement, &params)));
    });

    group.bench_function("hourly_30d_raw_sql", |b| {
        let env = ready();
        let q = query(Interval::H1);
        let (from, to) = q.interval.covering(&q.range);
        let stride = format!("{} seconds", q.interval.seconds());
        let origin = q.interval.origin();
        let sql = statements::aggregate_ohlcv("candles");
        let statement = prepared.get(&rt, env, &sql, &AGGREGATE_TYPES);
        let params: [&(dyn ToSql + Sync); 6] = [&stride, &origin, &SYMBOL, &native, &from, &to];
        let once = rt.block_on(bars(env, &statement, &params));
        assert_eq!(once.len(), hours, "hourly bars (raw SQL)");
        b.iter_custom(|iters| timed(&rt, iters, || bars(env, &statement, &params)));
    });

    group.bench_function("native_intervals_sql", |b| {
        let env = ready();
        let statement = prepared.get(&rt, env, statements::native_intervals(), &[Type::TEXT]);
        let params: [&(dyn ToSql + Sync); 1] = [&SYMBOL];
        let natives = |rows: Vec<Row>| rows.iter().map(|r| r.get(0)).collect::<Vec<String>>();
        let once = natives(rt.block_on(rows(env, &statement, &params)));
        assert_eq!(once, vec![native.clone()], "native intervals (SQL)");
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                natives(rows(env, &statement, &params).await)
            })
        });
    });

    group.bench_function("roundtrip", |b| {
        let env = ready();
        let statement = prepared.get(&rt, env, "SELECT 1", &[]);
        b.iter_custom(|iters| timed(&rt, iters, || rows(env, &statement, &[])));
    });

    group.bench_function("latest_price", |b| {
        let env = ready();
        let once = rt.block_on(env.store.latest_price(SYMBOL)).expect("latest");
        assert!(once.is_some(), "latest price");
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                env.store.latest_price(SYMBOL).await.expect("latest")
            })
        });
    });

    group.bench_function("latest_price_sql", |b| {
        let env = ready();
        let statement = prepared.get(&rt, env, statements::latest_price(), &[Type::TEXT]);
        let params: [&(dyn ToSql + Sync); 1] = [&SYMBOL];
        let latest = |rows: Vec<Row>| {
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect::<Vec<(String, DateTime<Utc>, Decimal)>>()
        };
        let once = latest(rt.block_on(rows(env, &statement, &params)));
        assert_eq!(once.len(), 1, "latest price (SQL)");
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                latest(rows(env, &statement, &params).await)
            })
        });
    });

    // The same two calls on a store whose pool hands out connections without a verifying
    // round trip (`PgConfig::verify_on_checkout = false`): how much of the API overhead
    // that default costs.
    let unverified: OnceCell<PgStore> = OnceCell::new();
    let unverified = || {
        unverified.get_or_init(|| {
            let mut config = PgConfig::new(ready().db.url());
            config.pool_size = 2;
            config.verify_on_checkout = false;
            let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(end()));
            rt.block_on(PgStore::connect_with_clock(config, clock))
                .expect("connect an unverified store")
        })
    };
    group.bench_function("latest_price_unverified", |b| {
        let store = unverified();
        assert!(rt
            .block_on(store.latest_price(SYMBOL))
            .expect("latest")
            .is_some());
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                store.latest_price(SYMBOL).await.expect("latest")
            })
        });
    });
    group.bench_function("market_overview_unverified", |b| {
        let store = unverified();
        let once = rt.block_on(store.market_overview()).expect("overview");
        assert_eq!(once.len(), SYMBOLS, "one overview row per symbol");
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                store.market_overview().await.expect("overview")
            })
        });
    });

    group.bench_function("market_overview", |b| {
        let env = ready();
        let once = rt.block_on(env.store.market_overview()).expect("overview");
        assert_eq!(once.len(), SYMBOLS, "one overview row per symbol");
        assert!(once.iter().all(|o| o.change_24h.is_some()), "24h changes");
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                env.store.market_overview().await.expect("overview")
            })
        });
    });
    group.bench_function("market_overview_sql", |b| {
        let env = ready();
        let statement = prepared.get(
            &rt,
            env,
            marketseries_postgres::statements::READS.market_overview(),
            &[Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
        );
        let window = TimeRange::last(end(), overview_window()).expect("window");
        let (from, to) = (window.from(), window.to());
        let params: [&(dyn ToSql + Sync); 2] = [&from, &to];
        let overview = |rows: Vec<Row>| {
            rows.iter()
                .map(|r| {
                    let change: [Option<Decimal>; 4] = [r.get(5), r.get(7), r.get(8), r.get(9)];
                    let times: [Option<DateTime<Utc>>; 2] = [r.get(4), r.get(6)];
                    let latest: (String, String, DateTime<Utc>, Decimal) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    (latest, times, change)
                })
                .collect::<Vec<_>>()
        };
        let once = overview(rt.block_on(rows(env, &statement, &params)));
        assert_eq!(once.len(), SYMBOLS, "one overview row per symbol (SQL)");
        assert!(
            once.iter().all(|(_, _, c)| c.iter().all(Option::is_some)),
            "24h changes (SQL)"
        );
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                overview(rows(env, &statement, &params).await)
            })
        });
    });
    group.finish();

    if let Some(env) = env.into_inner() {
        rt.block_on(env.drop_database());
    }
    c.final_summary();
}
