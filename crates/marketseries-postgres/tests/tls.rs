//! TLS to a real server: the launcher's PostgreSQL cluster serves TLS with a certificate
//! from a CA made for the run (valid for `localhost` and `127.0.0.1`); its TimescaleDB
//! server (native or embedded) serves none. Both of the store's clients (the read pool and
//! the write path) are checked in `pg_stat_ssl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Error, ErrorKind, FixedClock, Interval, OhlcvQuery, PriceStore, TimeRange, TimeSeriesStore,
    TlsFailure,
};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::launcher::{ensure_server, fresh_database, ServerKind, TestDatabase};
use marketseries_testkit::tls::TestCa;
use tokio_postgres::NoTls;

fn now() -> DateTime<Utc> {
    "2024-06-15T12:00:00Z".parse().expect("timestamp")
}

/// The CA file of the launcher's TLS cluster.
async fn cluster_ca() -> PathBuf {
    let server = ensure_server(ServerKind::Postgres)
        .await
        .expect("PostgreSQL server");
    server
        .tls_root_cert()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL server at {} serves no TLS of the launcher's making (an external \
             DATABASE_URL, or a cluster started before the launcher had TLS: run \
             `cargo xtask db stop`); these tests need it",
                marketseries_testkit::launcher::redact(server.url())
            )
        })
}

/// A fresh database on the TLS cluster and the cluster's CA file.
async fn tls_database() -> (TestDatabase, PathBuf) {
    let ca = cluster_ca().await;
    let db = fresh_database(ServerKind::Postgres)
        .await
        .expect("test database");
    (db, ca)
}

/// `db`'s URL with host `host` (the socket still goes to 127.0.0.1) and `query`.
fn url_for(db: &TestDatabase, host: &str, query: &str) -> String {
    let config: tokio_postgres::Config = db.url().parse().expect("launcher URL");
    let port = config.get_ports()[0];
    format!(
        "postgres://postgres@{host}:{port}/{}?hostaddr=127.0.0.1&{query}",
        db.name()
    )
}

async fn open(url: &str) -> marketseries_core::Result<PgStore> {
    let clock = Arc::new(FixedClock::new(now() + TimeDelta::days(1)));
    PgStore::connect_with_clock(PgConfig::new(url), clock).await
}

/// How many sessions of `db` run with TLS, and how many without.
async fn sessions_by_tls(db: &TestDatabase) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            &[&db.name()],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

fn tls_failure(result: marketseries_core::Result<PgStore>) -> (TlsFailure, String) {
    match result {
        Err(Error::Tls { failure, message }) => (failure, message),
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, the store connected"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_right_ca_connects_and_both_clients_use_tls() {
    let (db, ca) = tls_database().await;
    let url = url_for(
        &db,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let store = open(&url).await.expect("verify-full with the cluster's CA");
    store.migrate().await.expect("migrate over TLS");
    let candles = CandleSpec::minutes(1, 1, now(), 1).generate();
    store.store_candles(&candles).await.expect("write over TLS");
    let query = OhlcvQuery::new(
        "BTCUSDT",
        "1h".parse::<Interval>().expect("interval"),
        TimeRange::new(now(), now() + TimeDelta::hours(2)).expect("range"),
    );
    let read = store.ohlcv(&query).await.expect("read over TLS");
    assert_eq!(read.bars.len(), 2, "two hours of minutes");

    let (tls, plain) = sessions_by_tls(&db).await;
    assert_eq!(plain, 0, "no plaintext session of the store");
    assert!(
        tls >= 2,
        "the read pool and the write client: {tls} TLS sessions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_ca_is_refused_as_untrusted() {
    let (db, _) = tls_database().await;
    let other = TestCa::generate("some other CA").expect("CA");
    let dir = std::env::temp_dir().join(format!("ms-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("other-ca.pem");
    std::fs::write(&file, other.cert_pem()).expect("CA file");
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = url_for(
            &db,
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", file.display()),
        );
        let (failure, message) = tls_failure(open(&url).await);
        assert_eq!(
            failure,
            TlsFailure::UntrustedCertificate,
            "{mode}: {message}"
        );
        assert!(
            message.contains(mode),
            "the message names the mode: {message}"
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_host_name_fails_verify_full_and_passes_verify_ca() {
    let (db, ca) = tls_database().await;
    let root = format!("sslrootcert={}", ca.display());
    let wrong = url_for(
        &db,
        "db.wrong.example",
        &format!("sslmode=verify-full&{root}"),
    );
    let (failure, message) = tls_failure(open(&wrong).await);
    assert_eq!(failure, TlsFailure::HostMismatch, "{message}");

    // verify-ca checks the chain only; the IP address is in the certificate.
    let chain_only = url_for(
        &db,
        "db.wrong.example",
        &format!("sslmode=verify-ca&{root}"),
    );
    open(&chain_only).await.expect("verify-ca ignores the name");
    let by_address = url_for(&db, "127.0.0.1", &format!("sslmode=verify-full&{root}"));
    open(&by_address).await.expect("verify-full by IP address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_never_falls_back_to_plaintext() {
    // The TimescaleDB server of the rig (native or embedded) serves no TLS.
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("TimescaleDB test database");
    {
        let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
            .await
            .expect("plaintext connection");
        let conn = tokio::spawn(connection);
        let ssl: String = client
            .query_one("SHOW ssl", &[])
            .await
            .expect("SHOW ssl")
            .get(0);
        assert_eq!(
            ssl, "off",
            "this test needs a server without TLS (the launcher's TimescaleDB has none; \
             TIMESCALEDB_URL points at one with TLS)"
        );
        drop(client);
        let _ = conn.await;
    }
    for mode in ["require", "verify-ca", "verify-full"] {
        let query = if mode == "require" {
            format!("sslmode={mode}")
        } else {
            let ca = cluster_ca().await;
            format!("sslmode={mode}&sslrootcert={}", ca.display())
        };
        let url = url_for(&db, "localhost", &query);
        let (failure, message) = tls_failure(open(&url).await);
        assert_eq!(failure, TlsFailure::NotOffered, "{mode}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_uses_tls_where_offered_and_disable_never() {
    let (db, _) = tls_database().await;
    let store = open(&url_for(&db, "localhost", "sslmode=prefer"))
        .await
        .expect("prefer");
    let (tls, plain) = sessions_by_tls(&db).await;
    assert_eq!((tls, plain), (1, 0), "prefer took the server's TLS");
    drop(store);

    let (db, _) = tls_database().await;
    let _store = open(&url_for(&db, "localhost", "sslmode=disable"))
        .await
        .expect("disable");
    let (tls, plain) = sessions_by_tls(&db).await;
    assert_eq!((tls, plain), (0, 1), "disable stayed plaintext");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_settings_are_configuration_errors() {
    let (db, _) = tls_database().await;
    for (query, names) in [
        ("sslmode=strict", "\"strict\""),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
        ("sslmode=require&sslrootcert=system", "verify-full"),
        ("sslmode=verify-full&sslcert=/client.pem", "`sslcert`"),
    ] {
        let e = open(&url_for(&db, "localhost", query))
            .await
            .err()
            .unwrap_or_else(|| panic!("{query} connected"));
        assert_eq!(e.kind(), ErrorKind::Config, "{query}: {e}");
        assert!(e.to_string().contains(names), "{query}: {e}");
    }
}
