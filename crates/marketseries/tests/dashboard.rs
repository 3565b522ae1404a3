//! The Grafana dashboard of `docker/` against real servers: every SQL query it holds (panels
//! and variables, Grafana's macros filled in as Grafana fills them) runs on both backends
//! and returns rows, and every metric name its Prometheus queries use is one the project
//! defines and appears in a scrape of the service after real work.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use marketseries::metrics::names;
use marketseries::service::{Service, ServiceOptions};
use marketseries::timescale::{Policy, TimescaleExt};
use marketseries::{
    open_backend, Backend, BackendChoice, Clock, Config, Dataset, Expiry, FixedClock, Interval,
    OhlcvQuery, Opened, Policies, PriceStore, TimeRange, TimeSeriesStore,
};
use marketseries_testkit::conformance::{fixture_now, Fixture};
use marketseries_testkit::launcher::{fresh_database, ServerKind, TestDatabase};
use serde_json::Value;
use tokio_postgres::NoTls;

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docker/grafana/dashboards/marketseries.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard file");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every `rawSql` of the panels and every SQL variable query.
fn sql_queries(d: &Value) -> Vec<String> {
    let mut out: Vec<String> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["rawSql"].as_str().map(str::to_owned))
        .collect();
    for v in d["templating"]["list"].as_array().expect("variables") {
        if v["type"] == "query" {
            out.push(v["query"].as_str().expect("variable query").to_owned());
        }
    }
    out
}

/// Every metric name in the Prometheus expressions (`marketseries_...`, histogram series
/// suffixes taken off).
fn metric_names(d: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            let Some(expr) = t["expr"].as_str() else {
                continue;
            };
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("marketseries_") {
                    let full = format!("marketseries_{name}");
                    let base = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| full.strip_suffix(s))
                        .filter(|b| names::ALL.contains(b))
                        .map_or(full.clone(), str::to_owned);
                    out.insert(base);
                }
            }
        }
    }
    out
}

/// The interval values of the `interval` variable.
fn intervals(d: &Value) -> Vec<String> {
    let var = d["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["name"] == "interval")
        .expect("an interval variable");
    var["query"]
        .as_str()
        .expect("custom values")
        .split(',')
        .map(str::to_owned)
        .collect()
}

async fn loaded(kind: ServerKind, backend: Backend) -> (TestDatabase, Config, Opened) {
    let db = fresh_database(kind).await.expect("test database");
    let mut config = Config::new(db.url()).with_backend(BackendChoice::Explicit(backend));
    config.store.pool_size = 1;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(fixture_now()));
    let opened = open_backend(&config, clock).await.expect("open");
    let store = opened.clone().into_store();
    store.migrate().await.expect("migrate");
    store
        .store_candles(&Fixture::market_candles())
        .await
        .expect("candles");
    store
        .store_sentiments(&Fixture::market_sentiment())
        .await
        .expect("sentiment");
    store
        .store_flows(&Fixture::market_flows())
        .await
        .expect("flows");
    (db, config, opened)
}

/// Runs the dashboard's SQL as Grafana would over the three days before the fixture's
/// clock, for every interval the variable offers.
async fn queries_run(db: &TestDatabase, d: &Value) {
    let from = format!("'{}'", (fixture_now() - TimeDelta::days(3)).to_rfc3339());
    let to = format!("'{}'", fixture_now().to_rfc3339());
    let queries = sql_queries(d);
    assert!(queries.len() >= 3, "{queries:?}");
    for query in &queries {
        for interval in intervals(d) {
            let sql = query
                .replace("$symbol", "BTCUSDT")
                .replace("$interval", &interval)
                .replace("$__timeFrom()", &from)
                .replace("$__timeTo()", &to);
            let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
                .await
                .expect("connection");
            let task = tokio::spawn(connection);
            let rows = client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let data = rows
                .iter()
                .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
                .count();
            assert!(data > 0, "{sql} returned no rows");
            drop(client);
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_sql_runs_on_plain_postgres() {
    let d = dashboard();
    let (db, _, _) = loaded(ServerKind::Postgres, Backend::Postgres).await;
    queries_run(&db, &d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_sql_and_metrics_on_timescaledb() {
    let d = dashboard();
    let (db, config, opened) = loaded(ServerKind::Timescale, Backend::Timescaledb).await;
    queries_run(&db, &d).await;

    let wanted = metric_names(&d);
    for name in &wanted {
        assert!(
            names::ALL.contains(&name.as_str()) || names::SERVICE.contains(&name.as_str()),
            "the dashboard uses {name}, which the project does not define"
        );
    }
    // Real work through the service's store: jobs (their status), compression, reads
    // (routes, latency), a failing call (errors); the schedule refreshes and reads stats.
    let Opened::Timescale(ts) = &opened else {
        panic!("a TimescaleDB store");
    };
    let service = Service::new(
        opened.clone(),
        &config,
        ServiceOptions::default()
            .refresh_every(Duration::from_millis(200))
            .max_lag(None),
    )
    .expect("service");
    let store = service.store();
    store
        .apply_policies(&Policies::default(), Expiry::Refuse)
        .await
        .expect("policies");
    ts.run_policy_jobs(&[Policy::Refresh]).await.expect("jobs");
    ts.compress_chunks(Dataset::Price, None)
        .await
        .expect("compression");
    let range = TimeRange::new(fixture_now() - TimeDelta::days(3), fixture_now()).expect("range");
    store
        .ohlcv(&OhlcvQuery::new("BTCUSDT", Interval::H1, range))
        .await
        .expect("ohlcv");
    let seconds: Interval = "30s".parse().expect("interval");
    store
        .ohlcv(&OhlcvQuery::new("BTCUSDT", seconds, range))
        .await
        .expect_err("no native divides 30s");
    store
        .store_candles(&Fixture::market_candles()[..10])
        .await
        .expect("candles");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(Arc::clone(&service).run(listener, async {
        let _ = stopped.await;
    }));
    let mut missing = wanted.clone();
    // A job's last outcome is what the server recorded; the embedded TimescaleDB records
    // none for jobs run by `CALL run_job` (it has no scheduler).
    let stats = store.stats().await.expect("stats");
    if stats.jobs.iter().all(|j| j.last_succeeded.is_none()) {
        eprintln!(
            "NOTE: the server recorded no job outcome ({} jobs): {} is not expected here",
            stats.jobs.len(),
            names::JOB_LAST_RUN_OK
        );
        assert!(!stats.jobs.is_empty(), "the policies created jobs");
        missing.remove(names::JOB_LAST_RUN_OK);
    }
    for _ in 0..100 {
        let scrape = service.handle("/metrics").await.body;
        missing.retain(|name| !scrape.contains(&format!("\n{name}")));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        missing.is_empty(),
        "metrics the dashboard uses and no scrape showed: {missing:?}"
    );
    stop.send(()).expect("running");
    running.await.expect("task").expect("shutdown");
}
