//! Read paths on plain PostgreSQL: group `ohlcv/postgres` on 3 symbols x 30 days of
//! one-minute candles (129,600 rows), loaded once through `store_candles` (which also
//! maintains the OHLCV rollups) and `ANALYZE`d before any timing.
//!
//! - `hourly_30d`: `PgStore::ohlcv` for one symbol, 1h bars over 30 days (720 bars), routed
//!   to the materialized `ohlcv_1h` rollup;
//! - `2h_30d`: the same for 2h bars (360), re-aggregated from `ohlcv_1h`;
//! - `hourly_30d_rollup_sql`: the statement the API issues for `hourly_30d`, run directly
//!   through `tokio-postgres` (prepared): the "same SQL" reference for the API's overhead
//!   (the API also looks up the symbol's native intervals first);
//! - `hourly_30d_raw_sql`: raw aggregation of the same range from `candles` (the statement
//!   the API uses on its raw route), run directly: the reference for the rollup's speed-up;
//! - `latest_price`: `PgStore::latest_price` for one symbol;
//! - `market_overview`: `PgStore::market_overview` (latest price and 24h change of every
//!   symbol), with the store's clock fixed at the end of the data set.
//!
//! Times are client-side round trips (all statements of the call), not server time.

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Bencher, SamplingMode};
use marketseries_benches::{criterion, runtime, BenchDb};
use marketseries_core::{
    Clock, FixedClock, Interval, OhlcvQuery, OhlcvSeries, PriceStore, Route, TimeRange, Unit,
};
use marketseries_testkit::generate::CandleSpec;
use rust_decimal::Decimal;
use tokio::runtime::Runtime;
use tokio_postgres::Statement;

const SYMBOLS: usize = 3;
const DAYS: u32 = 30;
const SEED: u64 = 20_240_101;
const SYMBOL: &str = "BTCUSDT";

/// Raw aggregation, as `aggregate_sql("candles")` in `marketseries-postgres/src/price.rs`
/// (copied: it is private). The stride goes through `text` because a prepared
/// `tokio-postgres` statement binds it as such.
const RAW_OHLCV: &str = "SELECT date_bin($1::text::interval, time, $2) AS time, \
    (array_agg(open ORDER BY time))[1] AS open, max(high) AS high, min(low) AS low, \
    (array_agg(close ORDER BY time DESC))[1] AS close, sum(volume) AS volume \
    FROM candles WHERE symbol = $3 AND interval = $4 AND time >= $5 AND time < $6 \
    GROUP BY 1 ORDER BY 1";

/// Materialized read, as `materialized_sql("ohlcv_1h")` in the same file.
const ROLLUP_OHLCV: &str = "SELECT time, open, high, low, close, volume FROM ohlcv_1h \
    WHERE symbol = $1 AND interval = $2 AND time >= $3 AND time < $4 ORDER BY time";

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
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<(DateTime<Utc>, [Decimal; 5])> {
    env.client
        .query(statement, params)
        .await
        .expect("ohlcv SQL")
        .iter()
        .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)]))
        .collect()
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
        let statement = rt
            .block_on(env.client.prepare(ROLLUP_OHLCV))
            .expect("prepare");
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&SYMBOL, &native, &from, &to];
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
        let statement = rt.block_on(env.client.prepare(RAW_OHLCV)).expect("prepare");
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&stride, &origin, &SYMBOL, &native, &from, &to];
        let once = rt.block_on(bars(env, &statement, &params));
        assert_eq!(once.len(), hours, "hourly bars (raw SQL)");
        b.iter_custom(|iters| timed(&rt, iters, || bars(env, &statement, &params)));
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
    group.finish();

    if let Some(env) = env.into_inner() {
        rt.block_on(env.drop_database());
    }
    c.final_summary();
}
