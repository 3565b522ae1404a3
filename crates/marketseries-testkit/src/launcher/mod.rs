//! Throwaway database servers for tests, benches and `cargo xtask db`.
//!
//! Two kinds of server are provided, each in one of three [`Flavor`]s:
//!
//! | kind | how it is provided |
//! | --- | --- |
//! | [`ServerKind::Postgres`] | `DATABASE_URL` if set ([`Flavor::External`]), else a private native cluster ([`Flavor::Native`]) |
//! | [`ServerKind::Timescale`] | `TIMESCALEDB_URL` if set ([`Flavor::External`]), else as `MARKETSERIES_TIMESCALEDB` chooses (below) |
//!
//! `MARKETSERIES_TIMESCALEDB` ([`TIMESCALEDB_CHOICE_VAR`], a [`TimescaleChoice`]; any case)
//! picks the TimescaleDB server per run, for tests, benches and `cargo xtask` alike:
//!
//! | `MARKETSERIES_TIMESCALEDB` | TimescaleDB server |
//! | --- | --- |
//! | unset, empty or `auto` | a native cluster with `shared_preload_libraries=timescaledb` ([`Flavor::Native`]) when `timescaledb.so` is installed under `pg_config --pkglibdir`, else the embedded one |
//! | `embedded` | the embedded PGlite + TimescaleDB server under Node.js ([`Flavor::Embedded`]), even where a native TimescaleDB is installed |
//! | `native` | the native cluster; [`LaunchError::MissingPrerequisite`] when `timescaledb.so` is not installed |
//! | anything else | [`LaunchError::InvalidSetting`] (never a silent fallback), even when `TIMESCALEDB_URL` is set |
//!
//! `TIMESCALEDB_URL` wins over the switch. A native TimescaleDB cluster is started with
//! `timescaledb.telemetry_level=off`, `max_worker_processes=128` and
//! `timescaledb.max_background_workers=96`: each database holding the extension takes a
//! scheduler worker, and the defaults (8 and 16) ran out at about forty test databases.
//!
//! Servers are started on first use, on a private port bound to 127.0.0.1, and keep
//! running after the test process exits so that every test binary (and every nextest
//! process) reuses them. Start-up is serialised by an exclusive file lock; what was
//! started is recorded in one state file per kind and flavor under
//! `<workspace>/target/marketseries-db/` (override with `MARKETSERIES_DB_DIR`), so an
//! embedded and a native TimescaleDB can run side by side and a run only ever reuses a
//! server of the flavor it resolved to. [`stop_all`] (or `cargo xtask db stop`) stops all
//! recorded servers again; [`status`] (`cargo xtask db status`) lists them. Clusters not
//! started by this launcher are never touched.
//!
//! Tests normally only call [`fresh_database`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), marketseries_testkit::launcher::LaunchError> {
//! use marketseries_testkit::launcher::{fresh_database, ServerKind};
//! let db = fresh_database(ServerKind::Timescale).await?;
//! let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
//!     .await
//!     .expect("connect");
//! tokio::spawn(connection);
//! client.batch_execute("CREATE TABLE t (x int)").await.expect("create");
//! # Ok(()) }
//! ```
//!
//! The embedded server serves one client at a time per database: use a pool of size 1.

mod embedded;
mod error;
mod native;
mod reap;
mod state;
mod sys;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

pub use error::LaunchError;
use state::{Layout, ServerState};

/// Environment variable naming an existing PostgreSQL server to use instead of starting one.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
/// Environment variable naming an existing TimescaleDB server to use instead of starting one.
pub const TIMESCALEDB_URL_VAR: &str = "TIMESCALEDB_URL";
/// Environment variable overriding the launcher's state directory.
pub const STATE_DIR_VAR: &str = state::DIR_VAR;
/// Environment variable choosing the TimescaleDB server per run: `auto` (default),
/// `embedded` or `native`; see [`TimescaleChoice`].
pub const TIMESCALEDB_CHOICE_VAR: &str = "MARKETSERIES_TIMESCALEDB";

/// Longest wait for a single connection attempt while probing a server.
const PROBE_ATTEMPT: Duration = Duration::from_secs(10);
/// How long a freshly started server may take to answer `SELECT 1`.
const STARTUP_PROBE: Duration = Duration::from_secs(60);
/// How long a recorded, running server may take to answer before it counts as hung.
const REUSE_PROBE: Duration = Duration::from_secs(30);

/// Which database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServerKind {
    /// Plain PostgreSQL.
    #[serde(rename = "postgres")]
    Postgres,
    /// PostgreSQL with the TimescaleDB extension (Timescale License features).
    #[serde(rename = "timescaledb")]
    Timescale,
}

impl ServerKind {
    /// Both kinds, in the order `cargo xtask db` reports them.
    pub const ALL: [ServerKind; 2] = [ServerKind::Postgres, ServerKind::Timescale];

    /// Short name: `"postgres"` or `"timescaledb"` (same as `Display`).
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Postgres => "postgres",
            ServerKind::Timescale => "timescaledb",
        }
    }

    /// The environment variable whose URL overrides this kind of server.
    pub fn override_var(self) -> &'static str {
        match self {
            ServerKind::Postgres => DATABASE_URL_VAR,
            ServerKind::Timescale => TIMESCALEDB_URL_VAR,
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a server is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// A PostgreSQL cluster this launcher started from the local server binaries.
    Native,
    /// The embedded PGlite + TimescaleDB server under Node.js this launcher started.
    /// One client at a time per database; no TLS.
    Embedded,
    /// A server named by `DATABASE_URL` / `TIMESCALEDB_URL`; never started or stopped here.
    External,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Native => "native",
            Flavor::Embedded => "embedded",
            Flavor::External => "external",
        })
    }
}

/// Which TimescaleDB server to provide when `TIMESCALEDB_URL` is not set; read from
/// `MARKETSERIES_TIMESCALEDB` ([`TIMESCALEDB_CHOICE_VAR`]) by [`ensure_server`] and
/// [`fresh_database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimescaleChoice {
    /// The native cluster when `timescaledb.so` is installed, else the embedded server
    /// (the default: unset or empty variable).
    #[default]
    Auto,
    /// Always the embedded PGlite + TimescaleDB server.
    Embedded,
    /// Always a native cluster; an error when `timescaledb.so` is not installed.
    Native,
}

/// The values [`TimescaleChoice::parse`] accepts, for error messages.
const CHOICE_VALUES: &str = "auto, embedded, native (any case; unset or empty means auto)";

impl TimescaleChoice {
    /// All choices, in the order the documentation lists them.
    pub const ALL: [TimescaleChoice; 3] = [
        TimescaleChoice::Auto,
        TimescaleChoice::Embedded,
        TimescaleChoice::Native,
    ];

    /// `"auto"`, `"embedded"` or `"native"` (same as `Display`).
    pub fn label(self) -> &'static str {
        match self {
            TimescaleChoice::Auto => "auto",
            TimescaleChoice::Embedded => "embedded",
            TimescaleChoice::Native => "native",
        }
    }

    /// Parses a value of `MARKETSERIES_TIMESCALEDB`: `auto`, `embedded` or `native` in any
    /// case, surrounding white space ignored; empty means [`TimescaleChoice::Auto`].
    ///
    /// # Errors
    ///
    /// [`LaunchError::InvalidSetting`] naming the variable and the accepted values.
    pub fn parse(value: &str) -> Result<Self, LaunchError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(TimescaleChoice::Auto);
        }
        Self::ALL
            .into_iter()
            .find(|c| c.label().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| LaunchError::InvalidSetting {
                var: TIMESCALEDB_CHOICE_VAR.to_owned(),
                value: value.to_owned(),
                accepted: CHOICE_VALUES.to_owned(),
            })
    }

    /// The choice `MARKETSERIES_TIMESCALEDB` makes: [`TimescaleChoice::Auto`] when unset.
    ///
    /// # Errors
    ///
    /// [`LaunchError::InvalidSetting`] for any other value than those
    /// [`TimescaleChoice::parse`] accepts (including one that is not valid Unicode).
    pub fn from_env() -> Result<Self, LaunchError> {
        match std::env::var(TIMESCALEDB_CHOICE_VAR) {
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(TimescaleChoice::Auto),
            Err(std::env::VarError::NotUnicode(value)) => Err(LaunchError::InvalidSetting {
                var: TIMESCALEDB_CHOICE_VAR.to_owned(),
                value: value.to_string_lossy().into_owned(),
                accepted: CHOICE_VALUES.to_owned(),
            }),
        }
    }

    /// The flavor of TimescaleDB server this choice asks the launcher to start (or reuse)
    /// given whether a native TimescaleDB (`timescaledb.so`) is installed. Pure: decides
    /// nothing else.
    ///
    /// # Errors
    ///
    /// [`LaunchError::MissingPrerequisite`] for [`TimescaleChoice::Native`] when no native
    /// TimescaleDB is installed.
    pub fn resolve(self, native_timescaledb_installed: bool) -> Result<Flavor, LaunchError> {
        match (self, native_timescaledb_installed) {
            (TimescaleChoice::Auto | TimescaleChoice::Native, true) => Ok(Flavor::Native),
            (TimescaleChoice::Auto | TimescaleChoice::Embedded, _) => Ok(Flavor::Embedded),
            (TimescaleChoice::Native, false) => Err(native_timescaledb_missing(
                "`timescaledb.so` is not installed under `pg_config --pkglibdir`",
            )),
        }
    }

    /// [`TimescaleChoice::resolve`] for this machine: looks for the local PostgreSQL
    /// installation and its `timescaledb.so` (runs `pg_config`; blocking). Whether it is
    /// installed is looked up once per process (every [`fresh_database`] asks).
    ///
    /// # Errors
    ///
    /// [`LaunchError::MissingPrerequisite`] for [`TimescaleChoice::Native`] when there is no
    /// PostgreSQL installation or no `timescaledb.so` in it (naming the directory looked in).
    pub fn local_flavor(self) -> Result<Flavor, LaunchError> {
        if self == TimescaleChoice::Embedded {
            return Ok(Flavor::Embedded);
        }
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        let installed = *INSTALLED
            .get_or_init(|| native::find_install().is_ok_and(|install| install.has_timescaledb()));
        if self == TimescaleChoice::Native && !installed {
            // Say precisely what is missing.
            return Err(match native::find_install() {
                Ok(install) => no_timescaledb_in(&install),
                Err(_) => native_timescaledb_missing(
                    "no PostgreSQL server binaries were found via `pg_config --bindir` or in \
                     /usr/lib/postgresql/*/bin",
                ),
            });
        }
        self.resolve(installed)
    }
}

/// The error for `MARKETSERIES_TIMESCALEDB=native` when `install` lacks `timescaledb.so`.
fn no_timescaledb_in(install: &native::PgInstall) -> LaunchError {
    native_timescaledb_missing(&format!(
        "there is no timescaledb.so in {} (`pg_config --pkglibdir` of the PostgreSQL in {})",
        install.pkglib_dir.display(),
        install.bin_dir.display()
    ))
}

/// The error for `MARKETSERIES_TIMESCALEDB=native` without a native TimescaleDB.
fn native_timescaledb_missing(detail: &str) -> LaunchError {
    LaunchError::MissingPrerequisite {
        what: format!(
            "a native TimescaleDB, which {TIMESCALEDB_CHOICE_VAR}=native asks for: {detail}; \
             unset {TIMESCALEDB_CHOICE_VAR} (or set it to `auto` or `embedded`) to use the \
             embedded TimescaleDB"
        ),
        install_hint: "install TimescaleDB built for this PostgreSQL into its \
                       `pg_config --pkglibdir` (Debian does not package it: build it from \
                       the upstream source)"
            .to_owned(),
    }
}

impl fmt::Display for TimescaleChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for TimescaleChoice {
    type Err = LaunchError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

/// A running server, ready to accept connections.
#[derive(Debug, Clone)]
pub struct Server {
    /// Which server.
    pub kind: ServerKind,
    /// How it is provided.
    pub flavor: Flavor,
    url: String,
    log: Option<PathBuf>,
    tls_root_cert: Option<PathBuf>,
}

impl Server {
    /// The CA certificate (PEM) this launcher's PostgreSQL cluster serves TLS under, for
    /// `sslrootcert`; its server certificate is valid for [`crate::tls::SERVER_NAMES`].
    /// `None` for external and embedded servers, and for a cluster started by a launcher
    /// older than TLS (`cargo xtask db stop` replaces it).
    pub fn tls_root_cert(&self) -> Option<&Path> {
        self.tls_root_cert.as_deref()
    }

    /// Admin connection URL, e.g.
    /// `postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's log file, for servers this launcher started.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.url, name)
    }

    fn log_tail(&self) -> String {
        self.log.as_deref().map(sys::log_tail).unwrap_or_default()
    }

    fn from_state(state: &ServerState) -> Self {
        Self {
            kind: state.kind,
            flavor: state.flavor,
            url: state.url.clone(),
            log: Some(state.log.clone()),
            tls_root_cert: state
                .cluster_dir
                .as_ref()
                .map(|dir| dir.join(native::TLS_CA_FILE))
                .filter(|file| file.is_file()),
        }
    }
}

/// A freshly created, empty database (with the `timescaledb` extension for
/// [`ServerKind::Timescale`]), used by one test. It is not dropped automatically; it
/// disappears when the server is stopped.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    url: String,
    name: String,
    kind: ServerKind,
    flavor: Flavor,
}

impl TestDatabase {
    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Database name (unique per call of [`fresh_database`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which kind of server it lives on.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// How that server is provided.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }
}

/// A server [`stop_all`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedServer {
    /// Which server.
    pub kind: ServerKind,
    /// How it was provided ([`Flavor::Native`] or [`Flavor::Embedded`]).
    pub flavor: Flavor,
    /// Its process id.
    pub pid: u32,
    /// Its admin URL.
    pub url: String,
}

impl fmt::Display for StoppedServer {
    /// `timescaledb (embedded, pid 1234)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, pid {})", self.kind, self.flavor, self.pid)
    }
}

/// What [`status`] reports about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// Which server.
    pub kind: ServerKind,
    /// How it is provided, if known (`None`: nothing recorded and no override).
    pub flavor: Option<Flavor>,
    /// Its admin URL, if one is configured or recorded.
    pub url: Option<String>,
    /// Process id, for servers this launcher started.
    pub pid: Option<u32>,
    /// Whether it is running and accepts TCP connections.
    pub alive: bool,
}

/// `url` with any password hidden, for messages and logs: the userinfo password of a
/// `postgres://user:secret@host/db` URL and every `password=...` parameter (URL query or
/// key/value connection string) become `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let at = rest_start + at;
            if let Some(colon) = out[rest_start..at].find(':') {
                out.replace_range(rest_start + colon + 1..at, "***");
            }
        }
    }
    let mut from = 0;
    while let Some(i) = out[from..].find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// The override URL for `kind`, if its environment variable is set and non-empty.
fn override_url(kind: ServerKind) -> Option<String> {
    std::env::var(kind.override_var())
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Runs a blocking launcher step on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, LaunchError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LaunchError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        LaunchError::io(
            "a launcher worker thread failed",
            std::io::Error::other(e.to_string()),
        )
    })?
}

/// Why a probe failed.
enum ProbeFailure {
    /// The server answered with an error or refused the connection.
    Error(tokio_postgres::Error),
    /// No answer in time.
    Timeout,
}

/// Connects to `url` and runs `SELECT 1` (simple protocol: no prepared statements left
/// behind in the embedded server's single session).
async fn probe_once(url: &str, timeout: Duration) -> Result<(), ProbeFailure> {
    let attempt = async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let conn = tokio::spawn(connection);
        let result = client.simple_query("SELECT 1").await.map(|_| ());
        drop(client);
        let _ = conn.await;
        result
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ProbeFailure::Error(e)),
        Err(_) => Err(ProbeFailure::Timeout),
    }
}

/// Probes until success or `total` has passed; returns the last failure.
async fn probe(url: &str, total: Duration) -> Result<(), ProbeFailure> {
    let deadline = Instant::now() + total;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = probe_once(url, left.min(PROBE_ATTEMPT)).await;
        match result {
            Ok(()) => return Ok(()),
            Err(failure) if Instant::now() >= deadline => return Err(failure),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn probe_error(
    context: String,
    failure: ProbeFailure,
    waited: Duration,
    log_tail: String,
) -> LaunchError {
    match failure {
        ProbeFailure::Error(e) => LaunchError::sql(context, e, log_tail),
        ProbeFailure::Timeout => LaunchError::Timeout {
            context,
            seconds: waited.as_secs(),
            log_tail,
        },
    }
}

/// Returns the recorded server of the slot if it runs and answers, without locking.
async fn reuse_quick(layout: &Layout, kind: ServerKind, flavor: Flavor) -> Option<Server> {
    let state = layout.read_state(kind, flavor).ok().flatten()?;
    if !state.process_alive() {
        return None;
    }
    probe_once(&state.url, PROBE_ATTEMPT).await.ok()?;
    Some(Server::from_state(&state))
}

/// Stops a recorded server (native or embedded) and deletes its directories.
fn stop_recorded(layout: &Layout, state: &ServerState) -> Result<bool, LaunchError> {
    match state.flavor {
        Flavor::Native => native::stop(state, &layout.previous_log(state.kind, state.flavor)),
        Flavor::Embedded => embedded::stop(state),
        Flavor::External => Ok(false),
    }
}

/// The flavor of `kind` this run uses when no override URL is set (blocking: looks
/// for the local TimescaleDB): always native for PostgreSQL, as `choice` resolves on this
/// machine for TimescaleDB.
fn local_flavor(kind: ServerKind, choice: TimescaleChoice) -> Result<Flavor, LaunchError> {
    match kind {
        ServerKind::Postgres => Ok(Flavor::Native),
        ServerKind::Timescale => choice.local_flavor(),
    }
}

/// Starts a new server of `kind` and `flavor` (blocking).
fn start_new(
    layout: &Layout,
    kind: ServerKind,
    flavor: Flavor,
) -> Result<ServerState, LaunchError> {
    match (kind, flavor) {
        (ServerKind::Timescale, Flavor::Embedded) => embedded::start(layout),
        (ServerKind::Timescale, Flavor::Native) => {
            let install = native::find_install()?;
            if !install.has_timescaledb() {
                // Resolved to native a moment ago; the library went away since.
                return Err(no_timescaledb_in(&install));
            }
            native::start(layout, kind, &install)
        }
        (ServerKind::Postgres, Flavor::Native) => {
            native::start(layout, kind, &native::find_install()?)
        }
        (_, other) => Err(LaunchError::Startup {
            kind,
            reason: format!("the launcher cannot start a {other} {kind} server"),
            log: layout.state_dir.join("launcher.log"),
            log_tail: String::new(),
        }),
    }
}

/// Makes sure a server of `kind` is running and answering, and returns it.
///
/// * With `DATABASE_URL` (postgres) / `TIMESCALEDB_URL` (timescaledb) set, that server
///   is used ([`Flavor::External`]) after checking that it answers `SELECT 1`.
/// * Else the flavor is decided: native for PostgreSQL; for TimescaleDB as
///   `MARKETSERIES_TIMESCALEDB` ([`TimescaleChoice`]) resolves on this machine.
/// * A server of that kind and flavor recorded in the state directory is reused if its
///   process is alive and it answers `SELECT 1`. A recorded server of the other flavor
///   is left alone.
/// * Else one is started (under an exclusive file lock, so that concurrent test
///   processes start only one) and recorded. It keeps running after this process exits.
///
/// # Errors
///
/// [`LaunchError::InvalidSetting`] for a bad `MARKETSERIES_TIMESCALEDB` (TimescaleDB only,
/// even with `TIMESCALEDB_URL` set); [`LaunchError::MissingPrerequisite`] when PostgreSQL
/// (or, for the embedded TimescaleDB, Node.js / npm; for
/// `MARKETSERIES_TIMESCALEDB=native`, `timescaledb.so`) is not installed; other variants
/// when starting or connecting fails, with the tail of the server log.
pub async fn ensure_server(kind: ServerKind) -> Result<Server, LaunchError> {
    let choice = match kind {
        ServerKind::Postgres => TimescaleChoice::Auto,
        ServerKind::Timescale => TimescaleChoice::from_env()?,
    };
    if let Some(url) = override_url(kind) {
        url.parse::<tokio_postgres::Config>()
            .map_err(|e| LaunchError::InvalidUrl {
                var: kind.override_var().to_owned(),
                reason: error::pg_error_text(&e),
            })?;
        probe(&url, Duration::from_secs(15)).await.map_err(|f| {
            probe_error(
                format!(
                    "cannot use the {kind} server at {}={}",
                    kind.override_var(),
                    redact(&url)
                ),
                f,
                Duration::from_secs(15),
                String::new(),
            )
        })?;
        return Ok(Server {
            kind,
            flavor: Flavor::External,
            url,
            log: None,
            tls_root_cert: None,
        });
    }

    let flavor = blocking(move || local_flavor(kind, choice)).await?;
    let layout = blocking(Layout::resolve).await?;
    if let Some(server) = reuse_quick(&layout, kind, flavor).await {
        return Ok(server);
    }

    let lock_layout = layout.clone();
    let _lock = blocking(move || lock_layout.lock()).await?;
    layout.adopt_legacy_state()?;
    let slot = state::slot_name(kind, flavor);

    // Someone else may have started it while we waited for the lock.
    match layout.read_state(kind, flavor) {
        Ok(Some(state)) => {
            let alive = state.process_alive();
            let mut why = format!("recorded pid {} is gone", state.pid);
            if alive {
                match probe(&state.url, REUSE_PROBE).await {
                    Ok(()) => return Ok(Server::from_state(&state)),
                    Err(ProbeFailure::Timeout) => {
                        // Running and accepting connections but not answering: perhaps busy.
                        // Killing it could break other test processes, so report instead.
                        return Err(LaunchError::Timeout {
                            context: format!(
                                "the {flavor} {kind} server recorded in {} (pid {}, {}) is running \
                                 but does not answer SELECT 1; stop it with `cargo xtask db stop`",
                                layout.state_path(kind, flavor).display(),
                                state.pid,
                                state.url
                            ),
                            seconds: REUSE_PROBE.as_secs(),
                            log_tail: sys::log_tail(&state.log),
                        });
                    }
                    Err(ProbeFailure::Error(e)) => {
                        why = format!(
                            "pid {} is running but refuses SELECT 1: {}",
                            state.pid,
                            error::pg_error_text(&e)
                        );
                    }
                }
            }
            // Stale: the process died (or refuses connections). Clean up what we made.
            layout.note(&format!(
                "{slot}: replacing stale server at {}: {why}",
                state.url
            ));
            let (stale, stop_layout) = (state.clone(), layout.clone());
            blocking(move || stop_recorded(&stop_layout, &stale)).await?;
            layout.remove_state(kind, flavor)?;
        }
        Ok(None) => {}
        Err(e) if layout.holds_other_server(kind, flavor) => {
            // A server of the other flavor, recorded here by an older launcher, whose own
            // slot is taken too: it may be in use, so neither stop nor forget it.
            return Err(e);
        }
        Err(_) => {
            // Unreadable state file: nothing we can stop; start afresh.
            layout.remove_state(kind, flavor)?;
        }
    }

    let start_layout = layout.clone();
    let state = blocking(move || start_new(&start_layout, kind, flavor)).await?;
    // Record at once, so that the server can be stopped even if the check below fails.
    layout.write_state(&state)?;
    let asked = match kind {
        ServerKind::Timescale => format!(" ({TIMESCALEDB_CHOICE_VAR}={choice})"),
        ServerKind::Postgres => String::new(),
    };
    layout.note(&format!(
        "{slot}: started {} server pid {} at {}{asked}",
        state.flavor, state.pid, state.url
    ));
    match probe(&state.url, STARTUP_PROBE).await {
        Ok(()) => Ok(Server::from_state(&state)),
        Err(failure) => {
            let err = probe_error(
                format!(
                    "the {flavor} {kind} server started at {} (pid {}) does not answer SELECT 1",
                    state.url, state.pid
                ),
                failure,
                STARTUP_PROBE,
                sys::log_tail(&state.log),
            );
            layout.note(&format!(
                "{slot}: new server pid {} failed its check: {err}",
                state.pid
            ));
            let (failed, stop_layout) = (state.clone(), layout.clone());
            let _ = blocking(move || stop_recorded(&stop_layout, &failed)).await;
            let _ = layout.remove_state(kind, flavor);
            Err(err)
        }
    }
}

/// A database name no other call (in any process) returns: `t_<pid>_<counter>_<nanos>`.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!(
        "t_{}_h{}_{n}_{nanos}",
        std::process::id(),
        reap::this_host()
    )
}

/// Replaces the database of a connection string: URL form (`postgres://.../db?...`) or
/// key/value form (`host=... dbname=...`). `name` must not need quoting or encoding.
fn with_database(url: &str, name: &str) -> String {
    for scheme in ["postgres://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let suffix = tail.find(['?', '#']).map_or("", |i| &tail[i..]);
            return format!("{scheme}{authority}/{name}{suffix}");
        }
    }
    let mut parts: Vec<&str> = url
        .split_whitespace()
        .filter(|part| !part.starts_with("dbname="))
        .collect();
    let db = format!("dbname={name}");
    parts.push(&db);
    parts.join(" ")
}

/// Runs `sql` (simple protocol) on `url`, closing the connection afterwards.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    // Wait for the socket to close: the embedded server serves one client at a time.
    let _ = conn.await;
    result
}

/// Creates a new, empty database on the server of `kind` (starting the server if
/// needed) and returns it, ready to use.
///
/// Native and external servers: `CREATE DATABASE t_<pid>_<counter>_<nanos>`, then for
/// TimescaleDB `CREATE EXTENSION IF NOT EXISTS timescaledb` in it. On a server this
/// launcher started, the first call of a process first drops the test databases of
/// processes that have exited (each TimescaleDB database holds a scheduler worker, and
/// leftovers once took every one). Embedded server:
/// every new database name gets its own fresh instance; the extension is created in it.
///
/// # Errors
///
/// As [`ensure_server`], plus [`LaunchError::Sql`] when a statement fails.
pub async fn fresh_database(kind: ServerKind) -> Result<TestDatabase, LaunchError> {
    let server = ensure_server(kind).await?;
    let name = unique_name();
    let url = server.database_url(&name);
    let timescale = kind == ServerKind::Timescale;
    match server.flavor {
        Flavor::Embedded => {
            let sql = if timescale {
                "CREATE EXTENSION IF NOT EXISTS timescaledb; SELECT 1"
            } else {
                "SELECT 1"
            };
            execute(&url, sql).await.map_err(|e| {
                LaunchError::sql(
                    format!("preparing database {name} at {}", redact(&url)),
                    e,
                    server.log_tail(),
                )
            })?;
        }
        Flavor::Native | Flavor::External => {
            // Once per process and server kind: the leftovers of exited test processes (of
            // this machine only, on an external server that others may share).
            static REAPED: [tokio::sync::OnceCell<()>; 2] = [
                tokio::sync::OnceCell::const_new(),
                tokio::sync::OnceCell::const_new(),
            ];
            REAPED[usize::from(timescale)]
                .get_or_init(|| async {
                    reap::orphaned_databases(server.url(), reap_scope(server.flavor)).await;
                })
                .await;
            execute(server.url(), &format!("CREATE DATABASE \"{name}\""))
                .await
                .map_err(|e| {
                    LaunchError::sql(
                        format!(
                            "CREATE DATABASE {name} on the {kind} server at {}",
                            redact(server.url())
                        ),
                        e,
                        server.log_tail(),
                    )
                })?;
            if timescale {
                execute(&url, "CREATE EXTENSION IF NOT EXISTS timescaledb")
                    .await
                    .map_err(|e| {
                        LaunchError::sql(
                            format!("CREATE EXTENSION timescaledb in {}", redact(&url)),
                            e,
                            server.log_tail(),
                        )
                    })?;
            }
        }
    }
    Ok(TestDatabase {
        url,
        name,
        kind,
        flavor: server.flavor,
    })
}

/// How far reaping may reach on a server of `flavor`.
fn reap_scope(flavor: Flavor) -> reap::Scope {
    match flavor {
        Flavor::External => reap::Scope::ThisHost,
        Flavor::Native | Flavor::Embedded => reap::Scope::AnyHost,
    }
}

/// Drops the test databases ([`fresh_database`]) of exited processes on the server of
/// `kind`, if one is running or named by its URL variable: all of them on a server this
/// launcher started, those created on this machine on an external one. Returns their
/// names. `cargo xtask test` calls this after its test run, when every test process has
/// exited, so that a run against an external server leaves none of its databases behind.
///
/// # Errors
/// As [`ensure_server`].
pub async fn drop_test_databases(kind: ServerKind) -> Result<Vec<String>, LaunchError> {
    let server = ensure_server(kind).await?;
    if server.flavor == Flavor::Embedded {
        // In memory: they go with the server.
        return Ok(Vec::new());
    }
    Ok(reap::orphaned_databases(server.url(), reap_scope(server.flavor)).await)
}

/// Stops every server this launcher started (according to its state files: PostgreSQL,
/// and the native and the embedded TimescaleDB, whichever are recorded), removes their
/// state files and data, and returns those that were running. Servers named by
/// `DATABASE_URL` / `TIMESCALEDB_URL` are never touched.
///
/// Blocking; waits for a concurrent start-up to finish first.
///
/// # Errors
///
/// [`LaunchError::Stop`] if a server survives SIGKILL, [`LaunchError::Io`] on
/// file-system failures, [`LaunchError::State`] for an unreadable state file. Every
/// recorded server is attempted; the first error is returned.
pub fn stop_all() -> Result<Vec<StoppedServer>, LaunchError> {
    let layout = Layout::resolve()?;
    let _lock = layout.lock()?;
    let mut stopped = Vec::new();
    let mut first_error = None;
    for recorded in layout.recorded() {
        let state = match recorded.state {
            Ok(state) => state,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        layout.note(&format!(
            "{}: stopping pid {} at {}",
            state::slot_name(state.kind, state.flavor),
            state.pid,
            state.url
        ));
        match stop_recorded(&layout, &state).and_then(|was_running| {
            state::remove_file(&recorded.path)?;
            Ok(was_running)
        }) {
            Ok(true) => stopped.push(StoppedServer {
                kind: state.kind,
                flavor: state.flavor,
                pid: state.pid,
                url: state.url,
            }),
            Ok(false) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    layout.remove_tmp_base_if_unused();
    match first_error {
        Some(e) => Err(e),
        None => Ok(stopped),
    }
}

/// Whether the server at `url` accepts TCP (or Unix socket) connections.
fn reachable(url: &str) -> bool {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    config.get_hosts().iter().any(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => {
            use std::net::ToSocketAddrs;
            (name.as_str(), port)
                .to_socket_addrs()
                .is_ok_and(|mut addrs| {
                    addrs.any(|a| {
                        std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok()
                    })
                })
        }
        tokio_postgres::config::Host::Unix(dir) => {
            std::os::unix::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).is_ok()
        }
    })
}

/// Reports the servers of each kind, PostgreSQL first: the one named by its environment
/// variable (if set), then every one recorded in the state directory (for TimescaleDB
/// possibly both a native and an embedded one); a kind with neither gets one entry with
/// `flavor: None`. Never starts or stops anything.
pub fn status() -> Vec<ServerStatus> {
    let recorded: Vec<ServerState> = Layout::resolve()
        .map(|layout| {
            layout
                .recorded()
                .into_iter()
                .filter_map(|r| r.state.ok())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for kind in ServerKind::ALL {
        let first = out.len();
        if let Some(url) = override_url(kind) {
            let alive = reachable(&url);
            out.push(ServerStatus {
                kind,
                flavor: Some(Flavor::External),
                url: Some(url),
                pid: None,
                alive,
            });
        }
        for state in recorded.iter().filter(|s| s.kind == kind) {
            out.push(ServerStatus {
                kind,
                flavor: Some(state.flavor),
                alive: state.process_alive() && sys::port_open(state.port),
                url: Some(state.url.clone()),
                pid: Some(state.pid),
            });
        }
        if out.len() == first {
            out.push(ServerStatus {
                kind,
                flavor: None,
                url: None,
                pid: None,
                alive: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            super::redact("postgres://u:s3cret@db:5432/x?password=p2&sslmode=disable"),
            "postgres://u:***@db:5432/x?password=***&sslmode=disable"
        );
        assert_eq!(
            super::redact("host=db user=u password=hunter2 dbname=x"),
            "host=db user=u password=*** dbname=x"
        );
        let plain = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
        assert_eq!(super::redact(plain), plain);
    }

    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5/postgres?sslmode=disable",
                "t_1"
            ),
            "postgres://postgres@127.0.0.1:5/t_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://u:p@h", "x"),
            "postgresql://u:p@h/x"
        );
        assert_eq!(
            with_database("postgres://h:1?sslmode=disable", "x"),
            "postgres://h:1/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h/db#frag", "x"),
            "postgres://h/x#frag"
        );
        assert_eq!(
            with_database("host=localhost dbname=postgres user=me", "x"),
            "host=localhost user=me dbname=x"
        );
    }

    #[test]
    fn names_are_unique_lowercase_identifiers() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert!(a.len() < 63);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    #[test]
    fn stopped_servers_say_which_flavor() {
        let stopped = StoppedServer {
            kind: ServerKind::Timescale,
            flavor: Flavor::Embedded,
            pid: 42,
            url: "postgres://postgres@127.0.0.1:1/postgres".to_owned(),
        };
        assert_eq!(stopped.to_string(), "timescaledb (embedded, pid 42)");
    }

    #[test]
    fn labels() {
        assert_eq!(ServerKind::Postgres.to_string(), "postgres");
        assert_eq!(ServerKind::Timescale.to_string(), "timescaledb");
        assert_eq!(Flavor::Embedded.to_string(), "embedded");
    }
}
