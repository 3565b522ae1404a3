//! Integration test of the throwaway database launcher: both servers start (or are
//! reused), fresh databases are usable and isolated, and TimescaleDB carries its
//! Timescale License features. Fails, never skips, when a server cannot be provided.
//!
//! The shared servers are left running (other test processes may be using them);
//! `cargo xtask db stop` stops them.

use marketseries_testkit::launcher::{
    self, ensure_server, fresh_database, Flavor, ServerKind, TestDatabase,
};
use tokio_postgres::{Client, NoTls};

/// Unwraps a launcher result, showing the whole error (with log tail) on failure.
fn must<T>(result: Result<T, launcher::LaunchError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn connect(db: &TestDatabase) -> (Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e:?}", db.url()));
    let handle = tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection error: {e}");
        }
    });
    (client, handle)
}

/// Closes a client and waits for its socket to close (the embedded server serves one
/// client per database at a time).
async fn close(client: Client, handle: tokio::task::JoinHandle<()>) {
    drop(client);
    handle.await.expect("connection task");
}

/// `SELECT 1`, then create, fill and read back a table.
async fn exercise(client: &Client, table: &str) {
    let one: i32 = client
        .query_one("SELECT 1", &[])
        .await
        .expect("SELECT 1")
        .get(0);
    assert_eq!(one, 1);
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, label text NOT NULL);
             INSERT INTO {table} VALUES (1, 'one'), (2, 'two'), (3, 'three');"
        ))
        .await
        .expect("create and fill table");
    let rows = client
        .query(
            &format!("SELECT id, label FROM {table} WHERE id >= $1 ORDER BY id"),
            &[&2_i32],
        )
        .await
        .expect("select");
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(2, "two".to_owned()), (3, "three".to_owned())]);
}

async fn table_exists(client: &Client, table: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1)::text IS NOT NULL", &[&table])
        .await
        .expect("to_regclass")
        .get(0)
}

async fn current_database(client: &Client) -> String {
    client
        .query_one("SELECT current_database()::text", &[])
        .await
        .expect("current_database")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fresh_databases_work_and_are_isolated() {
    let server = must(ensure_server(ServerKind::Postgres).await, "start postgres");
    assert_eq!(server.kind, ServerKind::Postgres);
    assert_ne!(server.flavor, Flavor::Embedded);
    let again = must(ensure_server(ServerKind::Postgres).await, "reuse postgres");
    assert_eq!(again.url(), server.url(), "a running server is reused");

    let a = must(
        fresh_database(ServerKind::Postgres).await,
        "fresh postgres db",
    );
    let b = must(
        fresh_database(ServerKind::Postgres).await,
        "fresh postgres db",
    );
    assert_ne!(a.name(), b.name());
    assert_eq!(a.kind(), ServerKind::Postgres);
    assert_eq!(a.flavor(), server.flavor);

    let (ca, ha) = connect(&a).await;
    let (cb, hb) = connect(&b).await;
    assert_eq!(current_database(&ca).await, a.name());
    assert_eq!(current_database(&cb).await, b.name());
    exercise(&ca, "items").await;
    assert!(table_exists(&ca, "items").await);
    assert!(
        !table_exists(&cb, "items").await,
        "fresh databases must be isolated"
    );
    exercise(&cb, "items").await;
    close(ca, ha).await;
    close(cb, hb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timescale_fresh_databases_have_tsl_features_and_are_isolated() {
    let server = must(
        ensure_server(ServerKind::Timescale).await,
        "start timescaledb",
    );
    assert_eq!(server.kind, ServerKind::Timescale);
    let again = must(
        ensure_server(ServerKind::Timescale).await,
        "reuse timescaledb",
    );
    assert_eq!(again.url(), server.url(), "a running server is reused");

    let a = must(
        fresh_database(ServerKind::Timescale).await,
        "fresh timescaledb db",
    );
    let b = must(
        fresh_database(ServerKind::Timescale).await,
        "fresh timescaledb db",
    );
    assert_ne!(a.name(), b.name());
    assert_eq!(a.kind(), ServerKind::Timescale);
    if server.flavor == Flavor::Embedded {
        assert!(a.url().contains("sslmode=disable"), "{}", a.url());
    }

    let (ca, ha) = connect(&a).await;
    let (cb, hb) = connect(&b).await;
    exercise(&ca, "items").await;
    let license: String = ca
        .query_one("SELECT current_setting('timescaledb.license')", &[])
        .await
        .expect("timescaledb.license")
        .get(0);
    assert_eq!(
        license, "timescale",
        "the Timescale License (TSL) build is required"
    );
    let extension: i64 = ca
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .expect("pg_extension")
        .get(0);
    assert_eq!(
        extension, 1,
        "fresh_database creates the timescaledb extension"
    );

    ca.batch_execute(
        "CREATE TABLE ticks (time timestamptz NOT NULL, symbol text NOT NULL, price numeric NOT NULL);
         SELECT create_hypertable('ticks', 'time', chunk_time_interval => interval '1 day');
         INSERT INTO ticks
           SELECT timestamptz '2024-01-01' + i * interval '1 hour', 'BTC', 40000 + i
           FROM generate_series(0, 71) AS i;",
    )
    .await
    .expect("create and fill a hypertable");
    let hypertables: i64 = ca
        .query_one(
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'ticks'",
            &[],
        )
        .await
        .expect("hypertables view")
        .get(0);
    assert_eq!(hypertables, 1);
    let chunks: i64 = ca
        .query_one("SELECT count(*) FROM show_chunks('ticks')", &[])
        .await
        .expect("show_chunks")
        .get(0);
    assert_eq!(chunks, 3, "72 hourly rows over 1-day chunks");
    let buckets: i64 = ca
        .query_one(
            "SELECT count(*) FROM (SELECT time_bucket('1 day', time) FROM ticks GROUP BY 1) AS b",
            &[],
        )
        .await
        .expect("time_bucket")
        .get(0);
    assert_eq!(buckets, 3);

    assert!(
        !table_exists(&cb, "ticks").await,
        "fresh databases must be isolated"
    );
    assert!(
        !table_exists(&cb, "items").await,
        "fresh databases must be isolated"
    );
    exercise(&cb, "items").await;
    close(ca, ha).await;
    close(cb, hb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fresh_databases_are_distinct_and_usable() {
    let mut tasks = Vec::new();
    for i in 0..6 {
        let kind = if i % 3 == 2 {
            ServerKind::Timescale
        } else {
            ServerKind::Postgres
        };
        tasks.push(tokio::spawn(fresh_database(kind)));
    }
    let mut names = std::collections::HashSet::new();
    for task in tasks {
        let db = must(task.await.expect("task"), "concurrent fresh_database");
        assert!(
            names.insert(db.name().to_owned()),
            "duplicate name {}",
            db.name()
        );
        let (client, handle) = connect(&db).await;
        if db.flavor() == Flavor::Embedded {
            // An embedded instance reports `template1` as its database, whatever name was used.
            let one: i32 = client
                .query_one("SELECT 1", &[])
                .await
                .expect("SELECT 1")
                .get(0);
            assert_eq!(one, 1);
        } else {
            assert_eq!(current_database(&client).await, db.name());
        }
        close(client, handle).await;
    }

    let status = launcher::status();
    assert_eq!(status.len(), 2);
    for s in status {
        assert!(s.alive, "{} should be running: {s:?}", s.kind);
        assert!(s.url.is_some());
    }
}
