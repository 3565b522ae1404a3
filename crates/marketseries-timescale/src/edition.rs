//! Which TimescaleDB the server runs: the license decides what exists.

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::{Error, Result};
use marketseries_sql::tls::TlsConnector;
use marketseries_sql::{database_error, PgConfig};

/// The TimescaleDB edition of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edition {
    /// The TSL (community) edition: continuous aggregates, compression and jobs.
    Community,
    /// The Apache-2 edition: hypertables and `drop_chunks` only.
    Apache,
}

impl Edition {
    /// The edition named by a `timescaledb.license` value (`timescale` is the community
    /// edition; `apache` and anything unknown are treated as Apache-only, the safe side).
    pub fn from_license(license: &str) -> Self {
        if license.eq_ignore_ascii_case("timescale") {
            Self::Community
        } else {
            Self::Apache
        }
    }

    /// Whether continuous aggregates, compression and policies (jobs) are available.
    pub fn has_tsl(self) -> bool {
        self == Self::Community
    }
}

#[derive(QueryableByName)]
struct License {
    #[diesel(sql_type = Nullable<Text>)]
    license: Option<String>,
}

async fn license(conn: &mut AsyncPgConnection) -> Result<Option<String>> {
    let row: License =
        diesel::sql_query("SELECT current_setting('timescaledb.license', true) AS license")
            .get_result(conn)
            .await
            .map_err(database_error)?;
    Ok(row.license)
}

/// What [`detect`] found out about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Server {
    /// Its TimescaleDB edition.
    pub(crate) edition: Edition,
    /// Whether it serves one client per database at a time: PGlite, the embedded
    /// TimescaleDB of the test rig (DESIGN §4), is one PostgreSQL backend compiled to
    /// WebAssembly, and `version()` names its compiler (`emcc`, Emscripten).
    pub(crate) one_client: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Whether a `version()` text is that of a WebAssembly build (PGlite).
pub(crate) fn is_wasm_build(version: &str) -> bool {
    let v = version.to_ascii_lowercase();
    v.contains("emscripten") || v.contains("emcc") || v.contains("wasm")
}

/// Asks the server for its TimescaleDB license and its build on a new connection (handed
/// back, so that the store's pool can start with it), creating the extension in the database first if it is available but not yet created
/// there (the license setting only exists once the library is loaded).
pub(crate) async fn detect(config: &PgConfig) -> Result<(Server, AsyncPgConnection)> {
    let mut conn = TlsConnector::new(config.url())?.establish().await?;
    let version: Version = diesel::sql_query("SELECT version() AS version")
        .get_result(&mut conn)
        .await
        .map_err(database_error)?;
    let one_client = is_wasm_build(&version.version);
    let edition = edition(&mut conn).await?;
    Ok((
        Server {
            edition,
            one_client,
        },
        conn,
    ))
}

async fn edition(conn: &mut AsyncPgConnection) -> Result<Edition> {
    if let Some(found) = license(conn).await? {
        if !found.is_empty() {
            return Ok(Edition::from_license(&found));
        }
    }
    diesel::sql_query("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .execute(conn)
        .await
        .map_err(|e| {
            Error::Config(format!(
                "TimescaleDB is not usable on this server ({}); use the plain PostgreSQL \
                 backend or install the extension",
                database_error(e)
            ))
        })?;
    match license(conn).await? {
        Some(found) if !found.is_empty() => Ok(Edition::from_license(&found)),
        _ => Err(Error::Config(
            "TimescaleDB did not report a license after loading".into(),
        )),
    }
}

#[derive(QueryableByName)]
struct Probe {
    #[diesel(sql_type = Bool)]
    installed: bool,
    #[diesel(sql_type = Bool)]
    available: bool,
    #[diesel(sql_type = Bool)]
    plain_schema: bool,
}

/// Whether the database `config` names is one for this backend rather than the plain
/// PostgreSQL one: it holds no plain-PostgreSQL marketseries schema (a range-partitioned
/// `candles` table) and TimescaleDB is created in it or available to create (installed and
/// in `shared_preload_libraries`: without the preload `CREATE EXTENSION` fails). Opens and
/// closes one connection; changes nothing.
///
/// For front ends that pick a backend from a `postgres://` URL (the `marketseries`
/// command); a database migrated by one backend keeps being opened by that backend.
///
/// # Errors
/// [`Error::Connection`] when the server cannot be reached.
pub async fn prefers_timescale(config: &PgConfig) -> Result<bool> {
    let mut conn = TlsConnector::new(config.url())?.establish().await?;
    let probe: Probe = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed,          (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') \
                 AND current_setting('shared_preload_libraries') LIKE '%timescaledb%') \
                 AS available,          EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace                  WHERE c.relname = 'candles' AND n.nspname = current_schema()                    AND c.relkind = 'p') AS plain_schema",
    )
    .get_result(&mut conn)
    .await
    .map_err(database_error)?;
    Ok(!probe.plain_schema && (probe.installed || probe.available))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_names_the_edition() {
        assert_eq!(Edition::from_license("timescale"), Edition::Community);
        assert_eq!(Edition::from_license("apache"), Edition::Apache);
        assert_eq!(Edition::from_license("other"), Edition::Apache);
        assert!(Edition::Community.has_tsl() && !Edition::Apache.has_tsl());
    }

    #[test]
    fn wasm_builds_are_recognised() {
        assert!(is_wasm_build(
            "PostgreSQL 17.4 on x86_64-pc-linux-gnu, compiled by emcc (Emscripten gcc/clang-like \
             replacement + linker emulating GNU ld) 3.1.74, 32-bit"
        ));
        assert!(!is_wasm_build(
            "PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc \
             (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit"
        ));
    }
}
