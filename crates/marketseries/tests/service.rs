//! The service around both real backends, scraped over real HTTP: after real writes and
//! reads through its store, the counters equal the calls made and the pool gauges moved;
//! `/health` answers 200 when the database answers and the aggregates keep up, 503 with
//! aggregate lag over its bound and with the database unreachable (a proxy in front of the
//! real server goes down; the server itself, shared with other tests, keeps running).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use marketseries::metrics::names;
use marketseries::service::{Service, ServiceOptions};
use marketseries::{
    open_backend, Backend, BackendChoice, Candle, Config, Interval, OhlcvQuery, PriceStore,
    SystemClock, TimeRange, TimeSeriesStore,
};
use marketseries_testkit::fault_proxy::FaultProxy;
use marketseries_testkit::http::{self, sample};
use marketseries_testkit::launcher::{fresh_database, Flavor, ServerKind};

/// `GET path` on `addr`, off the runtime's threads.
async fn get(addr: SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || http::get(addr, path))
        .await
        .expect("request task")
}

fn candles(symbol: &str, end: DateTime<Utc>, minutes: i64) -> Vec<Candle> {
    let price = "61000.5".parse().expect("price");
    (1..=minutes)
        .map(|ago| Candle {
            symbol: symbol.into(),
            interval: Interval::M1,
            time: end - TimeDelta::minutes(ago),
            open: price,
            high: price,
            low: price,
            close: price,
            volume: "2".parse().expect("volume"),
        })
        .collect()
}

/// Polls `/health` until it answers `status` (the schedule runs every 200 ms).
async fn health_becomes(addr: SocketAddr, status: u16, why: &str) -> String {
    let mut last = (0, String::new());
    for _ in 0..120 {
        last = get(addr, "/health").await;
        if last.0 == status {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("/health never answered {status} ({why}); last: {last:?}");
}

async fn serves(kind: ServerKind, backend: Backend) {
    let db = fresh_database(kind).await.expect("test database");
    let proxy = FaultProxy::start(db.url()).await.expect("proxy");
    let mut config =
        Config::new(proxy.url(db.url())).with_backend(BackendChoice::Explicit(backend));
    // The embedded TimescaleDB serves one client at a time per database.
    config.store.pool_size = if db.flavor() == Flavor::Embedded {
        1
    } else {
        2
    };
    config.store.refresh_workers = 1;
    config.store.connect_timeout = Duration::from_secs(2);
    let opened = open_backend(&config, Arc::new(SystemClock))
        .await
        .expect("open");
    opened
        .clone()
        .into_store()
        .migrate()
        .await
        .expect("migrate");
    // Plain PostgreSQL's watermark is the oldest write its rollups have not absorbed (the
    // clock when none is pending): its lag is a refresh backlog, so the service must not
    // refresh for one to build up. TimescaleDB's is the end of the materialized buckets,
    // which stops where the data stops.
    let plain = backend == Backend::Postgres;
    let options = ServiceOptions::default()
        .refresh_every(Duration::from_millis(200))
        .refresh(!plain)
        .max_lag(Some(TimeDelta::hours(1)));
    let service = Service::new(opened, &config, options).expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(Arc::clone(&service).run(listener, async {
        let _ = stopped.await;
    }));

    assert_eq!(get(addr, "/ready").await.0, 200);
    assert_eq!(get(addr, "/nowhere").await.0, 404);
    health_becomes(addr, 200, "an empty store").await;

    // Two hours of minutes ending two days ago, in two batches.
    let now = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("minute");
    let old = candles("BTCUSDT", now - TimeDelta::days(2), 120);
    let store = service.store();
    store.store_candles(&old[..60]).await.expect("first batch");
    store.store_candles(&old[60..]).await.expect("second batch");
    for _ in 0..3 {
        store.latest_price("BTCUSDT").await.expect("latest");
    }
    let range = TimeRange::new(now - TimeDelta::days(3), now).expect("range");
    let hourly = OhlcvQuery::new("BTCUSDT", Interval::H1, range);
    store.ohlcv(&hourly).await.expect("ohlcv");
    store.ohlcv(&hourly).await.expect("ohlcv");

    let why = if plain {
        "two days of writes the rollups have not absorbed"
    } else {
        "aggregates two days behind the clock"
    };
    let body = health_becomes(addr, 503, why).await;
    assert!(body.contains("\"over_bound\":true"), "{body}");

    let (status, scrape) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let price = [("dataset", "price")];
    assert_eq!(
        sample(&scrape, names::PRICE_INSERTS, &[]),
        Some(120.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, &format!("{}_count", names::PRICE_BATCH_SIZE), &[]),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &scrape,
            names::QUERIES,
            &[price[0], ("query", "latest_price")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&scrape, names::QUERIES, &[price[0], ("query", "ohlcv")]),
        Some(2.0)
    );
    assert_eq!(sample(&scrape, names::OHLCV_ROUTES, &[]), Some(2.0));
    assert_eq!(sample(&scrape, names::ERRORS, &[]), None, "no call failed");
    assert!(
        sample(
            &scrape,
            names::MAINTENANCE_RUNS,
            &[
                ("task", if plain { "stats" } else { "refresh" }),
                ("outcome", "ok")
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "{scrape}"
    );
    assert!(sample(&scrape, names::AGGREGATE_LAG, &[]).is_some_and(|s| s > 0.0));
    assert!(
        sample(&scrape, names::POOL_CHECKOUTS, &[("pool", "reads")]).is_some_and(|n| n >= 5.0),
        "the reads and the schedule checked connections out: {scrape}"
    );
    assert!(
        sample(&scrape, names::POOL_CHECKOUTS, &[("pool", "writes")]).is_some_and(|n| n >= 2.0),
        "two batches took write clients: {scrape}"
    );
    assert_eq!(sample(&scrape, names::DATABASE_UP, &[]), Some(1.0));
    let exercised = [
        names::PRICE_INSERTS,
        names::PRICE_BATCH_SIZE,
        names::QUERIES,
        names::QUERY_SECONDS,
        names::QUERY_ROWS,
        names::OHLCV_ROUTES,
        names::AGGREGATE_LAG,
    ];
    // Compression and jobs are reported where the backend has them.
    let reported = names::SERVICE.iter().filter(|n| {
        ![
            names::COMPRESSION_SAVING,
            names::JOB_FAILURES,
            names::JOB_LAST_RUN_OK,
        ]
        .contains(n)
    });
    assert_eq!(
        sample(&scrape, names::TABLE_ROWS, &[("table", "candles")]),
        Some(120.0),
        "{scrape}"
    );
    for name in exercised.iter().chain(reported) {
        assert!(
            scrape.contains(&format!("# TYPE {name} ")),
            "{name} missing from the scrape"
        );
    }

    // The last half hour up to now: the aggregates catch up (plain PostgreSQL's on a
    // refresh the test asks for).
    store
        .store_candles(&candles("BTCUSDT", now, 30))
        .await
        .expect("fresh candles");
    if plain {
        store.refresh(None).await.expect("refresh");
    }
    health_becomes(addr, 200, "aggregates caught up").await;

    proxy.set_down(true);
    let body = health_becomes(addr, 503, "database unreachable").await;
    assert!(!body.contains("\"database\":\"ok\""), "{body}");
    let (_, scrape) = get(addr, "/metrics").await;
    assert_eq!(sample(&scrape, names::DATABASE_UP, &[]), Some(0.0));
    proxy.set_down(false);
    health_becomes(addr, 200, "database back").await;

    stop.send(()).expect("service running");
    running.await.expect("task").expect("clean shutdown");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_and_health_on_plain_postgres() {
    serves(ServerKind::Postgres, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_and_health_on_timescaledb() {
    serves(ServerKind::Timescale, Backend::Timescaledb).await;
}
