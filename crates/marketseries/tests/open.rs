//! `marketseries::open` against the real servers the launcher provides: each backend from a
//! URL and from the seed's environment variables, and bad values. Fails, never skips,
//! without a server.

use std::collections::HashMap;
use std::sync::Arc;

use marketseries::{
    open, open_backend, Backend, BackendChoice, Candle, Config, ErrorKind, Interval, SystemClock,
    TimeSeriesStore,
};
use marketseries_testkit::launcher::{fresh_database, ServerKind, TestDatabase};

async fn database(kind: ServerKind) -> TestDatabase {
    fresh_database(kind).await.expect("test database")
}

/// The launcher URL's parts as the seed's variables (the embedded TimescaleDB accepts any
/// password, a native cluster trusts loopback).
fn seed_vars(db: &TestDatabase, password: &str) -> HashMap<String, String> {
    let parsed: tokio_postgres::Config = db.url().parse().expect("launcher URL");
    let host = match &parsed.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the launcher serves TCP, got {other:?}"),
    };
    let mut vars = HashMap::new();
    vars.insert("TIMESCALEDB_HOST".to_owned(), host);
    vars.insert(
        "TIMESCALEDB_PORT".to_owned(),
        parsed.get_ports()[0].to_string(),
    );
    vars.insert(
        "TIMESCALEDB_NAME".to_owned(),
        parsed.get_dbname().expect("dbname").to_owned(),
    );
    vars.insert(
        "TIMESCALEDB_USER".to_owned(),
        parsed.get_user().expect("user").to_owned(),
    );
    vars.insert("TIMESCALEDB_PASSWORD".to_owned(), password.to_owned());
    vars.insert("TIMESCALEDB_POOL_MIN".to_owned(), "1".to_owned());
    vars.insert("TIMESCALEDB_POOL_MAX".to_owned(), "1".to_owned());
    vars
}

fn candle() -> Candle {
    Candle {
        symbol: "BTCUSDT".into(),
        interval: Interval::M1,
        time: "2024-03-01T00:00:00Z".parse().expect("time"),
        open: "61000.12345678".parse().expect("open"),
        high: "61010.5".parse().expect("high"),
        low: "60990".parse().expect("low"),
        close: "61005.00000001".parse().expect("close"),
        volume: "12.5".parse().expect("volume"),
    }
}

/// Migrates, writes a candle and reads it back exactly.
async fn round_trip(store: &dyn TimeSeriesStore) {
    store.migrate().await.expect("migrate");
    store.store_candle(&candle()).await.expect("store");
    let latest = store
        .latest_price("BTCUSDT")
        .await
        .expect("latest")
        .expect("a price");
    assert_eq!(latest.price, candle().close);
}

fn one_connection(mut config: Config) -> Config {
    // The embedded TimescaleDB serves one client at a time per database.
    config.store.pool_size = 1;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_url_opens_plain_postgresql() {
    let db = database(ServerKind::Postgres).await;
    let config = Config::new(db.url()).with_backend(BackendChoice::Explicit(Backend::Postgres));
    let store = open(&config).await.expect("open");
    assert_eq!(store.capabilities().backend, "postgres");
    round_trip(&*store).await;
    // Auto on a database that holds the plain schema stays plain PostgreSQL.
    let again = open_backend(&Config::new(db.url()), Arc::new(SystemClock))
        .await
        .expect("auto");
    assert_eq!(again.backend(), Backend::Postgres);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timescaledb_url_opens_timescaledb() {
    let db = database(ServerKind::Timescale).await;
    let url = db.url().replacen("postgres://", "timescaledb://", 1);
    assert!(
        url.starts_with("timescaledb://"),
        "launcher URL changed shape"
    );
    let store = open(&one_connection(Config::new(url))).await.expect("open");
    assert_eq!(store.capabilities().backend, "timescaledb");
    round_trip(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_picks_timescaledb_on_a_fresh_timescaledb_database() {
    let db = database(ServerKind::Timescale).await;
    let opened = open_backend(
        &one_connection(Config::new(db.url())),
        Arc::new(SystemClock),
    )
    .await
    .expect("open");
    assert_eq!(opened.backend(), Backend::Timescaledb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_variables_open_timescaledb() {
    let db = database(ServerKind::Timescale).await;
    let vars = seed_vars(&db, "any-password");
    let config = Config::from_vars(|k| vars.get(k).cloned()).expect("config");
    assert_eq!(
        config.backend,
        BackendChoice::Explicit(Backend::Timescaledb)
    );
    assert_eq!((config.store.pool_min_idle, config.store.pool_size), (1, 1));
    let store = open(&config).await.expect("open");
    assert_eq!(store.capabilities().backend, "timescaledb");
    round_trip(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_variables_with_marketseries_backend_open_plain_postgresql() {
    let db = database(ServerKind::Postgres).await;
    let mut vars = seed_vars(&db, "unused");
    vars.insert("MARKETSERIES_BACKEND".to_owned(), "postgres".to_owned());
    let config = Config::from_vars(|k| vars.get(k).cloned()).expect("config");
    let store = open(&config).await.expect("open");
    assert_eq!(store.capabilities().backend, "postgres");
    round_trip(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_connection_error_that_hides_the_password() {
    let db = database(ServerKind::Postgres).await;
    let mut vars = seed_vars(&db, "pw-secret-4711");
    // A port nothing listens on (the launcher's server is on another one).
    vars.insert("TIMESCALEDB_PORT".to_owned(), "1".to_owned());
    vars.insert("MARKETSERIES_BACKEND".to_owned(), "postgres".to_owned());
    let mut config = Config::from_vars(|k| vars.get(k).cloned()).expect("config");
    config.store.connect_timeout = std::time::Duration::from_secs(3);
    let Err(e) = open(&config).await else {
        panic!("opened a server on port 1");
    };
    assert!(
        matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{e:?}"
    );
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("pw-secret-4711"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timescaledb_asked_of_a_server_without_it_is_a_config_error() {
    let db = database(ServerKind::Postgres).await;
    let config = Config::new(db.url().replacen("postgres://", "timescaledb://", 1));
    let Err(e) = open(&config).await else {
        // The launcher's plain cluster does not preload the extension.
        panic!("TimescaleDB opened on the plain PostgreSQL cluster");
    };
    assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
}
