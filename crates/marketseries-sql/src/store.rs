//! [`SqlStore`]: the store shared by the SQL backends, and its maintenance entry points.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketseries_core::{
    expiry, Capabilities, Clock, Dataset, Error, Expiry, Policies, PolicyReport, Result,
    RetentionPreview, RetentionReport, ScanPage, ScanQuery, StoreStats, SystemClock, TimeRange,
    TimeSeriesStore,
};

use crate::client::{ClientPool, PooledClient};
use crate::config::PgConfig;
use crate::error::{pool, TxError};
use crate::flavor::Flavor;
use crate::pool::{PgConnection, PgPool};
use crate::retry::RetryCounts;

/// A store on a PostgreSQL-family server: the shared tables, upserts and queries, plus a
/// [`Flavor`] for what differs between backends. Cheap to clone.
///
/// Backend crates name their store as an alias: `marketseries_postgres::PgStore` is
/// `SqlStore<Partitioned>`, `marketseries_timescale::TimescaleStore` is
/// `SqlStore<Timescale>`; both open with [`SqlStore::connect`].
pub struct SqlStore<F: Flavor> {
    pool: PgPool,
    /// The `tokio-postgres` clients of the write path, created on the first write.
    clients: Arc<OnceLock<ClientPool>>,
    /// How both pools connect (TLS as the URL's `sslmode` says).
    tls: crate::tls::TlsConnector,
    retries: Arc<RetryCounts>,
    config: PgConfig,
    clock: Arc<dyn Clock>,
    pub(crate) caps: Capabilities,
    flavor: Arc<F>,
}

impl<F: Flavor> Clone for SqlStore<F> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            clients: self.clients.clone(),
            tls: self.tls.clone(),
            retries: self.retries.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            caps: self.caps.clone(),
            flavor: self.flavor.clone(),
        }
    }
}

impl<F: Flavor> fmt::Debug for SqlStore<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.caps.backend)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<F: Flavor> SqlStore<F> {
    /// Connects with the system clock: sets the flavor up for the server
    /// ([`Flavor::setup`]), checks the configuration and opens the pool. Call
    /// [`TimeSeriesStore::migrate`] before first use.
    ///
    /// # Errors
    /// [`marketseries_core::Error::Config`] for a configuration the flavor rejects or a
    /// server that cannot host it; [`marketseries_core::Error::Connection`] when the server
    /// cannot be reached or rejects the connection.
    pub async fn connect(config: PgConfig) -> Result<Self> {
        Self::connect_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects with an explicit clock (relative queries and retention use it).
    ///
    /// # Errors
    /// As [`SqlStore::connect`].
    pub async fn connect_with_clock(config: PgConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let (flavor, seed) = F::setup_with_connection(&config).await?;
        Self::connect_seeded(config, clock, flavor, seed).await
    }

    /// Connects a store of an already set-up `flavor`.
    ///
    /// # Errors
    /// As [`SqlStore::connect`].
    pub async fn connect_flavor(
        config: PgConfig,
        clock: Arc<dyn Clock>,
        flavor: F,
    ) -> Result<Self> {
        Self::connect_seeded(config, clock, flavor, None).await
    }

    /// [`SqlStore::connect_flavor`], the pool's first connection being `seed` when given
    /// (the one the flavor was set up on, see [`Flavor::setup_with_connection`]).
    async fn connect_seeded(
        config: PgConfig,
        clock: Arc<dyn Clock>,
        flavor: F,
        seed: Option<diesel_async::AsyncPgConnection>,
    ) -> Result<Self> {
        flavor.check_config(&config)?;
        let tls = crate::tls::TlsConnector::new(config.url())?;
        let pool = crate::pool::build(
            &config,
            &tls,
            flavor.session_setup(),
            flavor.serves_one_client(),
            seed,
        )
        .await?;
        let caps = flavor.capabilities(&config);
        Ok(Self {
            pool,
            clients: Arc::new(OnceLock::new()),
            tls,
            retries: Arc::default(),
            config,
            clock,
            caps,
            flavor: Arc::new(flavor),
        })
    }

    /// A pooled connection (UTC session, statement timeout set).
    ///
    /// # Errors
    /// [`marketseries_core::Error::Timeout`] or [`marketseries_core::Error::Connection`]
    /// when no connection can be had.
    pub async fn conn(&self) -> Result<PgConnection<'_>> {
        self.pool.get().await.map_err(pool)
    }

    /// A pooled connection not tied to the store's lifetime (for blocking tasks).
    pub(crate) async fn owned_conn(&self) -> Result<PgConnection<'static>> {
        self.pool.get_owned().await.map_err(pool)
    }

    /// The pool itself (for tasks that outlive one call, such as a background refresher).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What the store's pools hold and how often checkouts waited, for a service to export.
    pub fn pool_status(&self) -> crate::PoolStatus {
        crate::PoolStatus {
            reads: self.pool.state().into(),
            writes: self.clients.get().map(|c| c.state().into()),
        }
    }

    /// A `tokio-postgres` client of the write path (set up as the pooled sessions are),
    /// whose errors carry their SQLSTATE ([`crate::pg_error`]). The pool is built on first
    /// use.
    ///
    /// # Errors
    /// [`Error::CheckoutTimeout`] when no client becomes available in time;
    /// [`Error::Database`] with a retryable code when the server refuses sessions for the
    /// moment; [`Error::Connection`] when it cannot be reached.
    pub async fn client(&self) -> Result<PooledClient<'_>> {
        self.clients
            .get_or_init(|| {
                crate::client::pool(
                    &self.config,
                    &self.tls,
                    self.flavor.session_setup(),
                    self.flavor.serves_one_client(),
                )
            })
            .get()
            .await
            .map_err(crate::client::checkout_error)
    }

    /// Runs `attempt` again after each retryable failure, as
    /// [`PgConfig::write_retry`] says, counting the repetitions for
    /// [`StoreStats::write_retries`]. Only for idempotent work.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn retrying<T, Fut>(&self, attempt: impl FnMut() -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        crate::retry::retrying(self.config.write_retry, &self.retries, attempt).await
    }

    /// [`SqlStore::retrying`] with another policy, for maintenance that may wait on a
    /// server job holding the same locks for longer than a write should.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn retrying_with<T, Fut>(
        &self,
        policy: crate::RetryPolicy,
        attempt: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        crate::retry::retrying(policy, &self.retries, attempt).await
    }

    /// The store's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// "Now" by the store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Each dataset with a stored retention horizon, and its cutoff by the store's clock:
    /// rows older than the cutoff are expired. Read from the database on every call, so a
    /// horizon another process stored (or removed) counts at once.
    ///
    /// # Errors
    /// As [`TimeSeriesStore::policies`].
    pub async fn retention_cutoffs(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Vec<(Dataset, DateTime<Utc>)>> {
        let retention = crate::policy::read(conn).await?.retention;
        let now = self.now();
        Ok(Dataset::ALL
            .into_iter()
            .filter_map(|d| Some((d, expiry::cutoff(now, retention.horizon(d)?))))
            .collect())
    }

    /// What retention under `policies` would drop that the `stored` ones keep.
    async fn preview(
        &self,
        conn: &mut AsyncPgConnection,
        stored: &Policies,
        policies: &Policies,
    ) -> Result<RetentionPreview> {
        let mut expiring = Vec::new();
        for (dataset, cutoff) in expiry::shortened(stored, policies, self.now()) {
            let boundary = self
                .flavor
                .drop_boundary(self, conn, dataset, cutoff)
                .await?;
            expiring.push(crate::policy::expiring(conn, dataset, cutoff, boundary).await?);
        }
        Ok(RetentionPreview { expiring })
    }

    /// What a batch written now may hold: the configured batch size and future skew.
    pub(crate) fn limits(&self) -> marketseries_core::validate::Limits {
        marketseries_core::validate::Limits::new(
            self.caps.max_batch_size,
            self.now(),
            self.config.max_future_skew,
        )
    }

    /// The configuration the store was connected with.
    pub fn config(&self) -> &PgConfig {
        &self.config
    }

    /// The flavor.
    pub fn flavor(&self) -> &F {
        &self.flavor
    }
}

#[async_trait]
impl<F: Flavor> TimeSeriesStore for SqlStore<F> {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn migrate(&self) -> Result<()> {
        self.flavor.migrate(self).await
    }

    async fn policies(&self) -> Result<Policies> {
        crate::policy::read(&mut *self.conn().await?).await
    }

    async fn preview_policies(&self, policies: &Policies) -> Result<RetentionPreview> {
        policies.validate()?;
        let mut conn = self.conn().await?;
        let stored = crate::policy::read(&mut conn).await?;
        self.preview(&mut conn, &stored, policies).await
    }

    /// Stores and applies the policies in one transaction that first locks the stored row,
    /// so that two processes changing policies at once apply one after the other, each
    /// previewing against what the other stored.
    async fn apply_policies(&self, policies: &Policies, expiry: Expiry) -> Result<PolicyReport> {
        policies.validate()?;
        let mut conn = self.conn().await?;
        let preview = conn
            .transaction::<_, TxError, _>(async |conn| {
                diesel::sql_query("SELECT 1 FROM marketseries_policies FOR UPDATE")
                    .execute(conn)
                    .await?;
                let stored = crate::policy::read(conn).await.map_err(TxError)?;
                let preview = self
                    .preview(conn, &stored, policies)
                    .await
                    .map_err(TxError)?;
                if preview.drops_data() && expiry == Expiry::Refuse {
                    return Err(TxError(Error::Unconfirmed { preview }));
                }
                crate::policy::write(conn, policies)
                    .await
                    .map_err(TxError)?;
                self.flavor
                    .apply_policies(self, conn, policies)
                    .await
                    .map_err(TxError)?;
                Ok(preview)
            })
            .await
            .map_err(|TxError(e)| e)?;
        drop(conn);
        self.flavor.policies_applied(self, policies).await?;
        Ok(PolicyReport {
            policies: *policies,
            preview,
            jobs: self.flavor.jobs(self).await?,
        })
    }

    async fn refresh(&self, range: Option<TimeRange>) -> Result<()> {
        self.flavor
            .refresh(self, &Dataset::ALL, range, &|_| {})
            .await
    }

    async fn refresh_with_progress(
        &self,
        range: Option<TimeRange>,
        progress: &marketseries_core::RefreshObserver<'_>,
    ) -> Result<()> {
        self.flavor
            .refresh(self, &Dataset::ALL, range, progress)
            .await
    }

    async fn apply_retention(&self) -> Result<RetentionReport> {
        self.flavor.apply_retention(self).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let own = self.flavor.stats(self).await?;
        Ok(StoreStats {
            backend: self.capabilities().backend,
            policies: self.policies().await?,
            tables: own.tables,
            aggregates: own.aggregates,
            jobs: own.jobs,
            write_retries: self.retries.snapshot(),
        })
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage> {
        self.scan_page(query).await
    }

    async fn count(&self, query: &ScanQuery) -> Result<u64> {
        self.scan_count(query).await
    }
}
