//! Batch ingest through the store API versus binary COPY of the same rows into the same
//! table (DESIGN §5: API >= 0.8x COPY throughput).
//!
//! Groups `ingest/postgres/<rows>` for 50,000 and 200,000 one-minute candles (10 symbols),
//! each with four benchmarks on one database and one `candles` table:
//!
//! - `api_batch10k` / `api_batch50k`: `PgStore::store_candles` in batches of 10,000 /
//!   50,000 rows into an empty store: per batch, validation, in-batch de-duplication, the
//!   partition check, and (the batches only append) one binary `COPY` plus, in the same
//!   transaction, the record of the spans the OHLCV rollups must refresh;
//! - `api_batch50k_refresh`: the same in batches of 50,000, then `refresh`, which
//!   materializes the OHLCV rollups (5m ... 1d) over those spans: ingest including rollup
//!   maintenance;
//! - `api_reingest_batch50k`: `store_candles` of every row again, in batches of 50,000,
//!   into a store that already holds them (copied in, untimed): each batch's `COPY` fails
//!   on its first row and the batch is upserted (`INSERT ... ON CONFLICT DO UPDATE`);
//! - `upsert_sql`: the library's `unnest` upsert statement alone, issued directly through
//!   `tokio-postgres` in batches of 50,000 (no rollup refresh): separates the cost of the
//!   statement from the cost of rollup maintenance;
//! - `copy`: one `COPY candles (...) FROM STDIN (FORMAT binary)` of the same rows through
//!   `tokio_postgres::binary_copy::BinaryCopyInWriter` (raw table only, as a COPY would be).
//!
//! Untimed set-up: generating the rows, one warm-up `store_candles` of every row (so the
//! daily partitions exist before any timed iteration: partition DDL is never timed), a
//! check that the API, the bare upsert and COPY store identical `candles` contents, and
//! before every timed iteration a `TRUNCATE` of every table of the store (`candles` with its
//! partitions, which survive, and the rollup tables). Each timed iteration thus starts from
//! an empty store and measures client-side encoding, transfer and server work until the
//! last statement (or the COPY) has completed. A row count after each iteration (untimed)
//! checks that every row arrived.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use marketseries_benches::{criterion, runtime, BenchDb};
use marketseries_core::{Candle, PriceStore, TimeSeriesStore};
use marketseries_sql::statements;
use marketseries_testkit::generate::CandleSpec;
use rust_decimal::Decimal;
use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;

/// Data set sizes (rows); each is 10 symbols x `rows / 10` consecutive minutes.
const SIZES: [usize; 2] = [50_000, 200_000];
const SYMBOLS: usize = 10;
const SEED: u64 = 20_240_101;

/// Digest of the table's contents, independent of numeric display scale.
const DIGEST: &str = "SELECT md5(coalesce(string_agg(concat_ws('|', symbol, interval, \
    extract(epoch FROM time), trim_scale(open), trim_scale(high), trim_scale(low), \
    trim_scale(close), trim_scale(volume)), ',' ORDER BY symbol, interval, time), '')) \
    FROM candles";

fn rows(n: usize) -> Vec<Candle> {
    let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().expect("start time");
    let spec = CandleSpec {
        candles: n / SYMBOLS,
        ..CandleSpec::minutes(SYMBOLS, 0, start, SEED)
    };
    let rows = spec.generate();
    assert_eq!(rows.len(), n, "generated row count");
    rows
}

async fn store_api(env: &BenchDb, rows: &[Candle], batch: usize) {
    for chunk in rows.chunks(batch) {
        env.store.store_candles(chunk).await.expect("store_candles");
    }
}

async fn store_upsert(env: &BenchDb, rows: &[Candle], batch: usize) {
    let statement = env
        .client
        .prepare(statements::upsert_candles())
        .await
        .expect("prepare upsert");
    for chunk in rows.chunks(batch) {
        let dec = |f: fn(&Candle) -> Decimal| chunk.iter().map(f).collect::<Vec<_>>();
        let symbols: Vec<&str> = chunk.iter().map(|c| c.symbol.as_str()).collect();
        let intervals: Vec<String> = chunk.iter().map(|c| c.interval.to_string()).collect();
        let times: Vec<DateTime<Utc>> = chunk.iter().map(|c| c.time).collect();
        env.client
            .execute(
                &statement,
                &[
                    &symbols,
                    &intervals,
                    &times,
                    &dec(|c| c.open),
                    &dec(|c| c.high),
                    &dec(|c| c.low),
                    &dec(|c| c.close),
                    &dec(|c| c.volume),
                ],
            )
            .await
            .expect("unnest upsert");
    }
}

async fn store_copy(env: &BenchDb, rows: &[Candle]) {
    let sink = env
        .client
        .copy_in(statements::copy_candles())
        .await
        .expect("start COPY");
    let writer = BinaryCopyInWriter::new(sink, &statements::COPY_CANDLE_TYPES);
    let mut writer = std::pin::pin!(writer);
    for c in rows {
        let interval = c.interval.to_string();
        writer
            .as_mut()
            .write(&[
                &c.symbol, &interval, &c.time, &c.open, &c.high, &c.low, &c.close, &c.volume,
            ])
            .await
            .expect("COPY row");
    }
    let copied = writer.as_mut().finish().await.expect("finish COPY");
    assert_eq!(
        usize::try_from(copied).ok(),
        Some(rows.len()),
        "rows copied"
    );
}

async fn digest(env: &BenchDb) -> String {
    env.client
        .query_one(DIGEST, &[])
        .await
        .expect("digest")
        .get(0)
}

/// Untimed preparation of one data set: rows generated, partitions created by a warm-up
/// API insert, API, bare upsert and COPY checked to store identical contents, store left
/// empty.
async fn prepare(env: &BenchDb, n: usize) -> Vec<Candle> {
    let rows = rows(n);
    env.truncate_all().await;
    store_api(env, &rows, 50_000).await;
    let by_api = digest(env).await;
    env.truncate_all().await;
    store_copy(env, &rows).await;
    let by_copy = digest(env).await;
    assert_eq!(
        by_api, by_copy,
        "the API and COPY stored different contents"
    );
    env.truncate_all().await;
    store_upsert(env, &rows, 50_000).await;
    let by_upsert = digest(env).await;
    assert_eq!(
        by_api, by_upsert,
        "the API and the bare upsert stored different contents"
    );
    env.truncate_all().await;
    rows
}

/// What the store holds when a timed iteration starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Nothing.
    Empty,
    /// Every row already (copied in, untimed): the timed load re-ingests them.
    Full,
}

/// Runs `iters` timed iterations of `load`, each on a freshly truncated store, filled first
/// when `start` is [`Start::Full`].
async fn timed<F, Fut>(
    env: &BenchDb,
    rows: &[Candle],
    iters: u64,
    start: Start,
    load: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let expected = i64::try_from(rows.len()).expect("row count");
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        env.truncate_all().await;
        if start == Start::Full {
            store_copy(env, rows).await;
        }
        let start = Instant::now();
        load().await;
        total += start.elapsed();
        assert_eq!(env.candle_count().await, expected, "rows stored");
    }
    total
}

fn bench_size(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    env: &OnceCell<BenchDb>,
    n: usize,
) {
    let data: OnceCell<Vec<Candle>> = OnceCell::new();
    let ready = || {
        let env = env.get_or_init(|| rt.block_on(BenchDb::create(None)));
        let rows = data.get_or_init(|| rt.block_on(prepare(env, n)));
        (env, rows.as_slice())
    };
    for batch in [10_000, 50_000] {
        group.bench_function(format!("api_batch{}k", batch / 1_000), |b| {
            let (env, rows) = ready();
            b.iter_custom(|iters| {
                rt.block_on(timed(env, rows, iters, Start::Empty, || {
                    store_api(env, rows, batch)
                }))
            });
        });
    }
    group.bench_function("api_batch50k_refresh", |b| {
        let (env, rows) = ready();
        b.iter_custom(|iters| {
            rt.block_on(timed(env, rows, iters, Start::Empty, || async {
                store_api(env, rows, 50_000).await;
                env.store.refresh(None).await.expect("refresh");
            }))
        });
    });
    group.bench_function("api_reingest_batch50k", |b| {
        let (env, rows) = ready();
        b.iter_custom(|iters| {
            rt.block_on(timed(env, rows, iters, Start::Full, || {
                store_api(env, rows, 50_000)
            }))
        });
    });
    group.bench_function("upsert_sql", |b| {
        let (env, rows) = ready();
        b.iter_custom(|iters| {
            rt.block_on(timed(env, rows, iters, Start::Empty, || {
                store_upsert(env, rows, 50_000)
            }))
        });
    });
    group.bench_function("copy", |b| {
        let (env, rows) = ready();
        b.iter_custom(|iters| {
            rt.block_on(timed(env, rows, iters, Start::Empty, || {
                store_copy(env, rows)
            }))
        });
    });
}

fn main() {
    let mut c: Criterion = criterion();
    let rt = runtime();
    let env: OnceCell<BenchDb> = OnceCell::new();
    for n in SIZES {
        let mut group = c.benchmark_group(format!("ingest/postgres/{n}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(u64::try_from(n).expect("size")));
        bench_size(&mut group, &rt, &env, n);
        group.finish();
    }
    if let Some(env) = env.into_inner() {
        rt.block_on(env.drop_database());
    }
    c.final_summary();
}
