//! Writing the data into a target (the ingest measurements), the store's own maintenance,
//! and the storage footprints.

use chrono::TimeDelta;
use futures_util::pin_mut;
use marketseries_core::{Candle, Dataset, TimeSeriesStore};
use marketseries_sql::statements;
use marketseries_timescale::TimescaleExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::data::DataSet;
use crate::results::{Key, Phase};
use crate::run::Runner;
use crate::target::{pg_error, Res, Target, TargetKind};

/// Rows per `store_candles` call of a bulk load (what the CLI import sends).
pub const BATCH: usize = 50_000;

fn count(rows: usize) -> Option<u64> {
    u64::try_from(rows).ok()
}

/// Binary `COPY` of `rows` into `candles` through `client`: the reference every ingest
/// ratio is measured against.
///
/// # Errors
/// The COPY fails.
pub async fn copy_candles(client: &Client, rows: &[Candle]) -> Res<u64> {
    let sink = client
        .copy_in(statements::copy_candles())
        .await
        .map_err(|e| format!("COPY: {}", pg_error(&e)))?;
    let writer = BinaryCopyInWriter::new(sink, &statements::COPY_CANDLE_TYPES);
    pin_mut!(writer);
    for c in rows {
        let interval = c.interval.to_string();
        let row: [&(dyn ToSql + Sync); 8] = [
            &c.symbol, &interval, &c.time, &c.open, &c.high, &c.low, &c.close, &c.volume,
        ];
        writer
            .as_mut()
            .write(&row)
            .await
            .map_err(|e| format!("COPY row: {}", pg_error(&e)))?;
    }
    writer
        .finish()
        .await
        .map_err(|e| format!("COPY finish: {}", pg_error(&e)))
}

/// Writes `candles` through the store in [`BATCH`]-row calls.
///
/// # Errors
/// A batch fails.
pub async fn store_all(store: &dyn TimeSeriesStore, candles: &[Candle]) -> Res<()> {
    in_batches("store_candles", candles, |chunk| store.store_candles(chunk)).await
}

/// Writes `rows` in [`BATCH`]-row calls of `write` (a store's `store_*` method, named
/// `what` in the error).
async fn in_batches<'a, T, F, Fut>(what: &str, rows: &'a [T], mut write: F) -> Res<()>
where
    F: FnMut(&'a [T]) -> Fut,
    Fut: std::future::Future<Output = marketseries_core::Result<marketseries_core::WriteSummary>>,
{
    for chunk in rows.chunks(BATCH) {
        write(chunk).await.map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

/// Loads the data set into `target` (timed: the ingest measurement of the run), with
/// sentiment and flows on the stores when `with_side_data`.
pub fn load(
    runner: &mut Runner,
    label: &str,
    target: &mut Target,
    data: &DataSet,
    candles: &[Candle],
    with_side_data: bool,
) {
    let kind = target.kind;
    let key = |op: &str| Key::new(label, Phase::Ingest, kind, op);
    if kind == TargetKind::Plain {
        runner.once(
            key("load_copy"),
            "binary COPY of every candle into the plain table",
            count(candles.len()),
            || async {
                let client = target.client().await?;
                copy_candles(client, candles).await?;
                // The reference is at its best: a user of a plain table runs ANALYZE (or
                // autovacuum does) before reading.
                client
                    .batch_execute("ANALYZE candles")
                    .await
                    .map_err(|e| format!("ANALYZE: {}", pg_error(&e)))
            },
        );
        return;
    }
    if !with_partitions(runner, key("partitions"), target, data, candles) {
        return;
    }
    runner.once(
        key("load_api"),
        &format!("store_candles of every candle in batches of {BATCH}"),
        count(candles.len()),
        || async { store_all(target.store().await?.as_ref(), candles).await },
    );
    if with_side_data {
        let sentiment = data.sentiment();
        runner.once(
            key("load_sentiment_api"),
            "store_sentiments of every reading in batches of 50,000",
            count(sentiment.len()),
            || async {
                let store = target.store().await?;
                in_batches("store_sentiments", &sentiment, |c| {
                    store.store_sentiments(c)
                })
                .await
            },
        );
        let flows = data.flows();
        runner.once(
            key("load_flows_api"),
            "store_flows of every flow in batches of 50,000",
            count(flows.len()),
            || async {
                let store = target.store().await?;
                in_batches("store_flows", &flows, |c| store.store_flows(c)).await
            },
        );
    }
    // What `marketseries import` does after storing a file, so that the reads "right after
    // an import" are planned with the statistics an import leaves (issue 11).
    let datasets: &[Dataset] = if with_side_data {
        &[Dataset::Price, Dataset::Sentiment, Dataset::Flow]
    } else {
        &[Dataset::Price]
    };
    runner.once(
        key("analyze_after_load"),
        "analyze_written of what the load wrote (what an import runs after storing a file)",
        None,
        || async {
            for &dataset in datasets {
                target
                    .analyze_written(dataset, data.start(), data.end)
                    .await?;
            }
            Ok(())
        },
    );
}

/// The COPY reference of a store target: the same rows by binary COPY into the same table
/// of a second, freshly migrated database (on plain PostgreSQL its daily partitions are
/// created first, untimed, as they already exist for any append to a live store).
pub fn copy_reference(
    runner: &mut Runner,
    label: &str,
    kind: TargetKind,
    data: &DataSet,
    candles: &[Candle],
    clock: std::sync::Arc<dyn marketseries_core::Clock>,
) {
    let Some(mut target) = runner.rt.block_on(async {
        match Target::create(kind, clock).await {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("FAILED: {e}");
                None
            }
        }
    }) else {
        runner
            .results
            .fail(format!("{kind}: no database for the COPY reference"));
        return;
    };
    let prepared = runner
        .rt
        .block_on(empty_with_partitions(&mut target, data, candles));
    if let Err(e) = prepared {
        runner
            .results
            .fail(format!("{kind}: COPY reference set-up: {e}"));
    } else {
        runner.once(
            Key::new(label, Phase::Ingest, kind, "load_copy"),
            "binary COPY of every candle into the same table (second database)",
            count(candles.len()),
            || async {
                copy_candles(target.client().await?, candles)
                    .await
                    .map(|_| ())
            },
        );
    }
    runner.rt.block_on(target.drop_database());
}

/// On plain PostgreSQL, gives `target` the daily partitions `candles` needs
/// ([`empty_with_partitions`]), timed apart under `key`: every write a ratio compares
/// (the API load, the CLI import, their `COPY` and `psql \copy` references) then starts from
/// the same table. A live store has them before an append (maintenance creates them
/// ahead), and `COPY` cannot create them; a first load into an empty store pays them once
/// (about 0.1 s per 10 partitions here, in the report beside the load). Other targets
/// create their chunks inside every write alike and are left alone. Returns false (the
/// failure recorded) when the set-up fails.
pub fn with_partitions(
    runner: &mut Runner,
    key: Key,
    target: &mut Target,
    data: &DataSet,
    candles: &[Candle],
) -> bool {
    if target.kind != TargetKind::Postgres {
        return true;
    }
    runner
        .once(
            key,
            "the daily partitions of the data created through the store, then TRUNCATE",
            None,
            || empty_with_partitions(target, data, candles),
        )
        .is_some()
}

/// Leaves `candles` of a store target empty with every partition the data needs (one
/// candle per day written through the store, then `TRUNCATE`): what a live store has before
/// an append, and what `COPY` cannot create.
///
/// # Errors
/// A write or the `TRUNCATE` fails.
pub async fn empty_with_partitions(
    target: &mut Target,
    data: &DataSet,
    candles: &[Candle],
) -> Res<()> {
    let store = target.store().await?;
    store_all(store.as_ref(), &data.one_per_day(candles)).await?;
    // Released first: on a one-client server the direct client waits for it.
    drop(store);
    target
        .client()
        .await?
        .batch_execute("TRUNCATE candles")
        .await
        .map_err(|e| format!("TRUNCATE: {}", pg_error(&e)))
}

/// The store's own maintenance after a load: `refresh(None)` (every aggregate brought up to
/// date), then on TimescaleDB the compression of price chunks older than 7 days, with the
/// storage before and after.
pub fn maintain(runner: &mut Runner, label: &str, target: &mut Target, data: &DataSet) {
    let kind = target.kind;
    if kind == TargetKind::Plain {
        return;
    }
    // The least a refresh from raw candles costs on this server: the finest aggregate's
    // grouping of every raw row, in one process (a refresh's INSERT ... SELECT runs
    // without parallel workers). The outer filter uses every column, so that the planner
    // cannot drop an aggregate nobody reads.
    let grouping = if kind == TargetKind::Timescale {
        "SELECT symbol, interval, time_bucket('5 minutes', time) AS t, first(open, time) AS o, \
         max(high) AS h, min(low) AS l, last(close, time) AS c, sum(volume) AS v \
         FROM candles GROUP BY 1, 2, 3"
    } else {
        "SELECT symbol, interval, date_bin('5 minutes', time, '2000-01-03') AS t, \
         (array_agg(open ORDER BY time))[1] AS o, max(high) AS h, min(low) AS l, \
         (array_agg(close ORDER BY time DESC))[1] AS c, sum(volume) AS v \
         FROM candles GROUP BY 1, 2, 3"
    };
    runner.once(
        Key::new(label, Phase::Ingest, kind, "refresh_floor"),
        "the 5m grouping of every raw candle in one process: what any refresh from raw rows pays",
        None,
        || async {
            let client = target.client().await?;
            client
                .batch_execute("SET max_parallel_workers_per_gather = 0")
                .await
                .map_err(|e| pg_error(&e))?;
            let counted = client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM ({grouping}) q WHERE q.o IS NOT NULL \
                         AND q.h IS NOT NULL AND q.l IS NOT NULL AND q.c IS NOT NULL \
                         AND q.v IS NOT NULL"
                    ),
                    &[],
                )
                .await
                .map_err(|e| pg_error(&e));
            client
                .batch_execute("RESET max_parallel_workers_per_gather")
                .await
                .map_err(|e| pg_error(&e))?;
            counted.map(drop)
        },
    );
    runner.once(
        Key::new(label, Phase::Ingest, kind, "refresh_after_load"),
        "refresh(None): every aggregate brought up to date after the bulk load",
        None,
        || async {
            target
                .store()
                .await?
                .refresh(None)
                .await
                .map_err(|e| format!("refresh: {e}"))
        },
    );
    if kind != TargetKind::Timescale {
        return;
    }
    let older_than = data.end - TimeDelta::days(7);
    for (dataset, table) in [
        (Dataset::Price, "candles"),
        (Dataset::Sentiment, "sentiment"),
        (Dataset::Flow, "flows"),
    ] {
        let before = runner.rt.block_on(async { size_of(target, table).await });
        let mut unsupported = false;
        let compressed = runner.once(
            Key::new(label, Phase::Ingest, kind, &format!("compress_{table}")),
            &format!("compress_chunks({dataset:?}) of chunks older than 7 days"),
            None,
            || async {
                let ts = target.timescale().await?;
                match ts.compress_chunks(dataset, Some(older_than)).await {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if e.kind() == marketseries_core::ErrorKind::Unsupported => {
                        unsupported = true;
                        Ok(None)
                    }
                    Err(e) => Err(format!("compress: {e}")),
                }
            },
        );
        if unsupported {
            runner.results.fact(
                format!("{label}.timescale.{table}.compression"),
                "unsupported by this server (Apache edition)",
            );
            continue;
        }
        if let Some(Some(n)) = compressed {
            runner.results.fact(
                format!("{label}.timescale.{table}.chunks_compressed"),
                n.to_string(),
            );
        }
        let stats = runner.rt.block_on(async {
            let client = target.client().await?;
            let row = client
                .query_one(
                    &format!(
                        "SELECT coalesce(sum(before_compression_total_bytes), 0)::bigint, \
                         coalesce(sum(after_compression_total_bytes), 0)::bigint \
                         FROM chunk_compression_stats('{table}') WHERE compression_status = 'Compressed'"
                    ),
                    &[],
                )
                .await
                .map_err(|e| format!("chunk_compression_stats: {}", pg_error(&e)))?;
            Ok::<_, String>((row.get::<_, i64>(0), row.get::<_, i64>(1)))
        });
        let after = runner.rt.block_on(async { size_of(target, table).await });
        match (before, after, stats) {
            (Ok(b), Ok(a), Ok((cb, ca))) => {
                let r = &mut runner.results;
                r.fact(
                    format!("{label}.timescale.{table}.bytes_before"),
                    b.to_string(),
                );
                r.fact(
                    format!("{label}.timescale.{table}.bytes_after"),
                    a.to_string(),
                );
                r.fact(
                    format!("{label}.timescale.{table}.compressed_chunks_bytes_before"),
                    cb.to_string(),
                );
                r.fact(
                    format!("{label}.timescale.{table}.compressed_chunks_bytes_after"),
                    ca.to_string(),
                );
            }
            (b, a, s) => runner.results.fail(format!(
                "timescale {table} sizes: {:?} {:?} {:?}",
                b.err(),
                a.err(),
                s.err()
            )),
        }
    }
}

/// Total bytes of `table` with its partitions or chunks, indexes and TOAST included.
async fn size_of(target: &mut Target, table: &str) -> Res<i64> {
    let kind = target.kind;
    let sql = match kind {
        TargetKind::Timescale => format!("SELECT hypertable_size('{table}')::bigint"),
        TargetKind::Postgres => format!(
            "SELECT (pg_total_relation_size('{table}') + coalesce((SELECT sum(pg_total_relation_size(i.inhrelid)) \
             FROM pg_inherits i WHERE i.inhparent = '{table}'::regclass), 0))::bigint"
        ),
        TargetKind::Plain => format!("SELECT pg_total_relation_size('{table}')::bigint"),
    };
    let client = target.client().await?;
    client
        .query_one(sql.as_str(), &[])
        .await
        .map(|r| r.get(0))
        .map_err(|e| format!("size of {table}: {e}"))
}

/// Records the footprint of `candles` on a target.
pub fn footprint(runner: &mut Runner, label: &str, target: &mut Target) {
    let kind = target.kind;
    match runner.rt.block_on(size_of(target, "candles")) {
        Ok(bytes) => runner
            .results
            .fact(format!("{label}.{kind}.candles.bytes"), bytes.to_string()),
        Err(e) => runner.results.fail(e),
    }
}

/// A day of late corrections, then bringing the aggregates up to date again.
pub fn late_day(
    runner: &mut Runner,
    label: &str,
    target: &mut Target,
    data: &DataSet,
    candles: &[Candle],
) {
    let kind = target.kind;
    let late = data.late_day(candles);
    let key = |op: &str| Key::new(label, Phase::Ingest, kind, op);
    if kind == TargetKind::Plain {
        runner.once(
            key("late_day_write"),
            "plain table: upsert of one day of corrections (INSERT ... ON CONFLICT DO UPDATE)",
            count(late.len()),
            || async {
                let client = target.client().await?;
                let statement = client
                    .prepare(statements::upsert_candles())
                    .await
                    .map_err(|e| format!("prepare: {}", pg_error(&e)))?;
                for chunk in late.chunks(BATCH) {
                    let col = |f: fn(&Candle) -> rust_decimal::Decimal| {
                        chunk.iter().map(f).collect::<Vec<_>>()
                    };
                    let symbols: Vec<&str> = chunk.iter().map(|c| c.symbol.as_str()).collect();
                    let intervals: Vec<String> =
                        chunk.iter().map(|c| c.interval.to_string()).collect();
                    let times: Vec<_> = chunk.iter().map(|c| c.time).collect();
                    let (o, h, l, c, v) = (
                        col(|c| c.open),
                        col(|c| c.high),
                        col(|c| c.low),
                        col(|c| c.close),
                        col(|c| c.volume),
                    );
                    client
                        .execute(
                            &statement,
                            &[&symbols, &intervals, &times, &o, &h, &l, &c, &v],
                        )
                        .await
                        .map_err(|e| format!("upsert: {}", pg_error(&e)))?;
                }
                Ok(())
            },
        );
        return;
    }
    runner.once(
        key("late_day_write"),
        "store_candles of one day of corrections (every symbol)",
        count(late.len()),
        || async { store_all(target.store().await?.as_ref(), &late).await },
    );
    runner.once(
        key("refresh_after_late_day"),
        "refresh(None) after the day of corrections",
        None,
        || async {
            target
                .store()
                .await?
                .refresh(None)
                .await
                .map_err(|e| format!("refresh: {e}"))
        },
    );
}
