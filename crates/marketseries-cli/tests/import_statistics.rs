//! Issue 11: an import leaves the planner statistics of what it wrote. Right after a bulk
//! load, new partitions (chunks) had none until autovacuum came by, and the planner took
//! them for empty (the `ohlcv_1h` view 432 ms right after an import of 1.3M candles, 1.6 ms
//! minutes later). After `marketseries import`, every partition or chunk of `candles`
//! holding imported rows, and `candle_series`, has been analyzed (`pg_class.reltuples` is
//! -1 for a relation never analyzed or vacuumed), on a real database of either backend.

mod common;

use chrono::{TimeDelta, Utc};
use marketseries_core::Interval;
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::launcher::ServerKind;
use tokio_postgres::NoTls;

use common::{generic_csv, migrated_database_on, run, scratch_dir, write};

async fn statistics_after_import(kind: ServerKind) {
    let url = migrated_database_on(kind).await;
    // Recent days (a native TimescaleDB's jobs never drop or compress them under the test),
    // more than `MIN_COPY_ROWS` per batch, so that the `COPY` path runs where it can.
    let start = Interval::D1.floor(Utc::now() - TimeDelta::days(5));
    let candles = CandleSpec::minutes(2, 3, start, 11).generate();
    let dir = scratch_dir("statistics");
    let file = write(&dir, "candles.csv", &generic_csv(&candles));
    let out = run(Some(&url), &["import", "candles", &file]);
    assert!(out.ok().starts_with("imported 8640 candles"), "{out:#?}");
    assert!(out.stderr.contains("statistics updated: "), "{out:#?}");

    // The CLI has exited: the embedded server's one client slot is free.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    let children = client
        .query(
            "SELECT i.inhrelid::regclass::text AS name, c.reltuples \
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'candles'::regclass",
            &[],
        )
        .await
        .expect("children of candles");
    let mut holding = 0;
    let mut total = 0i64;
    for row in &children {
        let name: String = row.get("name");
        let reltuples: f32 = row.get("reltuples");
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {name}"), &[])
            .await
            .expect("count")
            .get(0);
        if rows == 0 {
            continue;
        }
        holding += 1;
        total += rows;
        assert!(
            reltuples > 0.0,
            "{name} holds {rows} imported rows but has no statistics (reltuples {reltuples})"
        );
    }
    assert_eq!(total, 8_640, "rows across the children of candles");
    assert!(
        holding >= 3,
        "three days of candles in {holding} partitions"
    );
    let series: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'candle_series'::regclass",
            &[],
        )
        .await
        .expect("candle_series")
        .get(0);
    assert!(series > 0.0, "candle_series has no statistics ({series})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_leaves_statistics_on_postgres() {
    statistics_after_import(ServerKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_leaves_statistics_on_timescaledb() {
    statistics_after_import(ServerKind::Timescale).await;
}
