//! The store as a service (cargo feature `service`; `marketseries serve` runs it): an
//! HTTP endpoint with `/metrics` (the [`MetricsStore`] decorator's families and the pool
//! gauges, Prometheus text format), `/health` (200 when the database answers and no
//! aggregate lags beyond its bound, 503 otherwise, with a JSON body saying which) and
//! `/ready` (200 while serving, 503 once shutting down), and maintenance on a schedule
//! (`maintenance.rs`). An application that embeds it makes its own calls through
//! [`Service::store`], so that they are counted in the same registry.
//!
//! ```no_run
//! # async fn demo() -> marketseries::Result<()> {
//! use marketseries::service::{Service, ServiceOptions};
//! use marketseries::{Config, PriceStore};
//! let config = Config::from_env()?;
//! let opened = marketseries::open_backend(&config, std::sync::Arc::new(marketseries::SystemClock)).await?;
//! let service = Service::new(opened, &config, ServiceOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9187").await.expect("bind");
//! let running = tokio::spawn(service.clone().run(listener, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }));
//! service.store().latest_price("BTCUSDT").await?; // counted in /metrics
//! running.await.expect("service task");
//! # Ok(()) }
//! ```

mod health;
mod http;
mod maintenance;
mod pool_metrics;
mod stats_metrics;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use marketseries_core::metrics::prometheus::{
    self, Encoder, IntCounterVec, IntGauge, Opts, Registry,
};
use marketseries_core::metrics::{names, MetricsOptions, MetricsStore};
use marketseries_core::{AggregateStats, Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use http::Response;

use crate::{Config, Opened};

/// How long `/health` waits for the database.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// How a [`Service`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceOptions {
    /// How often the aggregates are refreshed and their lag read (default 1 minute).
    pub refresh_every: Duration,
    /// Whether the service refreshes the aggregates itself (default `true`); `false`
    /// leaves it to another process (TimescaleDB's refresh jobs, a `maintain` run) and only
    /// reads their lag every `refresh_every`.
    pub refresh: bool,
    /// How often the stored policies (partitions ahead on plain PostgreSQL, TimescaleDB's
    /// jobs) and retention by the stored horizons run (default 1 hour; both also at start).
    /// Retention drops only what a horizon stored with `policy set retention` (confirmed
    /// then) expires: a store without one keeps everything.
    pub policies_every: Duration,
    /// Lag of an aggregate beyond its own bucket at which `/health` answers 503 (default 1
    /// hour; `None`: lag is reported, never judged). A watermark trails the clock by up to
    /// one bucket while the aggregate is up to date, so `ohlcv_1d` may be a day behind.
    pub max_lag: Option<TimeDelta>,
    /// Per-symbol labels on the insert counters ([`MetricsOptions::per_symbol_labels`]).
    pub per_symbol_labels: bool,
    /// How long shutting down waits for a running maintenance task before cancelling it
    /// (default 30 s); a cancelled task's transaction is rolled back by the server when
    /// its connection closes.
    pub shutdown_grace: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(60),
            refresh: true,
            policies_every: Duration::from_secs(3_600),
            max_lag: Some(TimeDelta::hours(1)),
            per_symbol_labels: true,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ServiceOptions {
    /// The options with `refresh_every`.
    pub fn refresh_every(self, every: Duration) -> Self {
        Self {
            refresh_every: every,
            ..self
        }
    }

    /// The options with `refresh` (whether the service refreshes, or only watches).
    pub fn refresh(self, on: bool) -> Self {
        Self {
            refresh: on,
            ..self
        }
    }

    /// The options with `policies_every`.
    pub fn policies_every(self, every: Duration) -> Self {
        Self {
            policies_every: every,
            ..self
        }
    }

    /// The options with `max_lag`.
    pub fn max_lag(self, bound: Option<TimeDelta>) -> Self {
        Self {
            max_lag: bound,
            ..self
        }
    }

    /// The options with `per_symbol_labels`.
    pub fn per_symbol_labels(self, on: bool) -> Self {
        Self {
            per_symbol_labels: on,
            ..self
        }
    }

    /// The options with `shutdown_grace`.
    pub fn shutdown_grace(self, grace: Duration) -> Self {
        Self {
            shutdown_grace: grace,
            ..self
        }
    }
}

/// A store with its metrics registry, health, readiness and maintenance schedule.
pub struct Service {
    store: MetricsStore,
    opened: Opened,
    registry: Registry,
    pools: pool_metrics::PoolMetrics,
    tables: stats_metrics::StatsMetrics,
    runs: IntCounterVec,
    database_up: IntGauge,
    aggregates: Mutex<Vec<AggregateStats>>,
    options: ServiceOptions,
    draining: AtomicBool,
    config: Config,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("backend", &self.opened.backend())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn metric_error(e: prometheus::Error) -> Error {
    Error::Config(format!("metrics registry: {e}"))
}

impl Service {
    /// Wraps the store `opened` (opened from `config`, whose URL is kept out of every
    /// message) in a [`MetricsStore`] on a new registry.
    ///
    /// # Errors
    /// [`Error::Config`] when a metric cannot be registered.
    pub fn new(opened: Opened, config: &Config, options: ServiceOptions) -> Result<Arc<Self>> {
        let registry = Registry::new();
        let store = MetricsStore::new(
            Arc::from(opened.clone().into_store()),
            &registry,
            MetricsOptions::default().per_symbol_labels(options.per_symbol_labels),
        )?;
        let pools = pool_metrics::PoolMetrics::register(&registry).map_err(metric_error)?;
        let tables = stats_metrics::StatsMetrics::register(&registry).map_err(metric_error)?;
        let runs = IntCounterVec::new(
            Opts::new(names::MAINTENANCE_RUNS, "Scheduled maintenance tasks run"),
            &["task", "outcome"],
        )
        .map_err(metric_error)?;
        let database_up = IntGauge::new(
            names::DATABASE_UP,
            "1 when the last database check succeeded",
        )
        .map_err(metric_error)?;
        registry
            .register(Box::new(runs.clone()))
            .and_then(|()| registry.register(Box::new(database_up.clone())))
            .map_err(metric_error)?;
        database_up.set(1);
        // Every series at zero from the start: a scrape shows the families before the
        // first task finishes, and rates have a starting point.
        for task in ["policies", "retention", "refresh", "stats"] {
            for outcome in ["ok", "error"] {
                runs.with_label_values(&[task, outcome]);
            }
        }
        Ok(Arc::new(Self {
            store,
            opened,
            registry,
            pools,
            tables,
            runs,
            database_up,
            aggregates: Mutex::new(Vec::new()),
            options,
            draining: AtomicBool::new(false),
            config: config.clone(),
        }))
    }

    /// The decorated store: calls through it are counted in `/metrics`.
    pub fn store(&self) -> &MetricsStore {
        &self.store
    }

    /// The registry `/metrics` encodes.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves HTTP on `listener` and runs the maintenance schedule until `shutdown`
    /// completes; then `/ready` turns 503, the listener closes (answers under way are
    /// finished), and a running maintenance task gets
    /// [`ServiceOptions::shutdown_grace`] before it is cancelled.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let schedule = maintenance::Schedule {
            refresh_every: self.options.refresh_every,
            refresh: self.options.refresh,
            policies_every: self.options.policies_every,
        };
        let mut worker = {
            let service = Arc::clone(&self);
            let stop = stop_rx.clone();
            tokio::spawn(async move { maintenance::run(&service, schedule, stop).await })
        };
        let handler = {
            let service = Arc::clone(&self);
            move |path: String| {
                let service = Arc::clone(&service);
                async move { service.handle(&path).await }
            }
        };
        let mut http_stop = stop_rx;
        let server = tokio::spawn(http::serve(listener, handler, async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        }));

        shutdown.await;
        self.draining.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        if tokio::time::timeout(self.options.shutdown_grace, &mut worker)
            .await
            .is_err()
        {
            eprintln!(
                "marketseries service: maintenance still running after {} s: cancelled",
                self.options.shutdown_grace.as_secs()
            );
            worker.abort();
            let _ = worker.await;
        }
        match server.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Keeps what the schedule's `stats` found: the aggregates' watermarks for `/health`,
    /// the tables and jobs for their gauges.
    fn set_stats(&self, stats: marketseries_core::StoreStats) {
        self.tables.update(&stats);
        *self
            .aggregates
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stats.aggregates;
    }

    fn count_run(&self, task: &str, outcome: &str) {
        self.runs.with_label_values(&[task, outcome]).inc();
    }

    fn redact(&self, text: &str) -> String {
        self.config.redact(text)
    }

    /// The answer to a `GET` of `path`.
    pub async fn handle(&self, path: &str) -> Response {
        match path {
            "/metrics" => self.metrics(),
            "/health" => self.health().await,
            "/ready" => {
                if self.draining.load(Ordering::Relaxed) {
                    Response::text(503, "shutting down\n")
                } else {
                    Response::text(200, "ready\n")
                }
            }
            "/" => Response::text(200, "marketseries: /metrics /health /ready\n"),
            _ => Response::text(404, "not found: try /metrics, /health or /ready\n"),
        }
    }

    fn metrics(&self) -> Response {
        self.pools.update(&self.opened.pool_status());
        let mut out = Vec::new();
        match prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            Ok(()) => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: String::from_utf8_lossy(&out).into_owned(),
            },
            Err(e) => Response::text(500, format!("encoding the metrics failed: {e}\n")),
        }
    }

    async fn health(&self) -> Response {
        // The wrapped store: health checks are not calls of the application's.
        let check = tokio::time::timeout(HEALTH_TIMEOUT, self.store.inner().policies()).await;
        let database = match check {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.redact(&e.to_string())),
            Err(_) => Err(format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())),
        };
        self.database_up.set(i64::from(database.is_ok()));
        let aggregates = self
            .aggregates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let lags = health::lags(&aggregates, Utc::now(), self.options.max_lag);
        let (healthy, body) = health::body(&database, &lags, self.options.max_lag);
        Response::json(if healthy { 200 } else { 503 }, &body)
    }
}
