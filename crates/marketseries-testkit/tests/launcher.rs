//! Integration test of the throwaway database launcher: both servers start (or are
//! reused), fresh databases are usable and isolated, and TimescaleDB carries its
//! Timescale License features. Fails, never skips, when a server cannot be provided.
//!
//! The `MARKETSERIES_TIMESCALEDB` switch is tested as a pure function, and end to end in
//! child processes (this test binary run again with the variable set, so that no test
//! changes the environment of this process): `embedded` gets the embedded server even
//! where a native TimescaleDB is installed and recorded, `native` the native one. The
//! children start launcher servers even when `TIMESCALEDB_URL` is set here (they drop
//! it). The `native` tests skip, saying so on stderr, only when `timescaledb.so` is not
//! installed.
//!
//! The shared servers are left running (other test processes may be using them);
//! `cargo xtask db stop` stops them.

use std::process::Command;

use marketseries_testkit::launcher::{
    self, ensure_server, fresh_database, Flavor, LaunchError, ServerKind, TestDatabase,
    TimescaleChoice, TIMESCALEDB_CHOICE_VAR, TIMESCALEDB_URL_VAR,
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
    for kind in ServerKind::ALL {
        assert!(
            status.iter().any(|s| s.kind == kind && s.alive),
            "a {kind} server should be running: {status:?}"
        );
    }
    // A server of the other TimescaleDB flavor may be recorded as stopped (both flavors
    // are recorded separately); every running one has a URL.
    for s in status.iter().filter(|s| s.alive) {
        assert!(s.url.is_some(), "{s:?}");
    }
}

// ---- MARKETSERIES_TIMESCALEDB: the pure parts ----

#[test]
fn switch_variable_is_named_as_documented() {
    assert_eq!(TIMESCALEDB_CHOICE_VAR, "MARKETSERIES_TIMESCALEDB");
}

#[test]
fn switch_parses_every_value_in_any_case() {
    let cases = [
        ("auto", TimescaleChoice::Auto),
        ("AUTO", TimescaleChoice::Auto),
        ("", TimescaleChoice::Auto),
        ("   ", TimescaleChoice::Auto),
        ("embedded", TimescaleChoice::Embedded),
        ("Embedded", TimescaleChoice::Embedded),
        (" EMBEDDED\n", TimescaleChoice::Embedded),
        ("native", TimescaleChoice::Native),
        ("NaTiVe", TimescaleChoice::Native),
    ];
    for (value, want) in cases {
        let got = TimescaleChoice::parse(value)
            .unwrap_or_else(|e| panic!("{value:?} should parse as {want}: {e}"));
        assert_eq!(got, want, "{value:?}");
        assert_eq!(
            value.parse::<TimescaleChoice>().ok(),
            Some(want),
            "{value:?}"
        );
    }
    for choice in TimescaleChoice::ALL {
        assert_eq!(
            TimescaleChoice::parse(&choice.to_string()).ok(),
            Some(choice)
        );
    }
    assert_eq!(TimescaleChoice::default(), TimescaleChoice::Auto);
}

#[test]
fn bad_switch_values_are_typed_errors_naming_the_variable_and_the_values() {
    for value in [
        "nativ",
        "pglite",
        "external",
        "auto,native",
        "1",
        "embedded native",
    ] {
        let err = TimescaleChoice::parse(value)
            .expect_err(&format!("{value:?} must be refused, not fall back"));
        match &err {
            LaunchError::InvalidSetting {
                var,
                value: got,
                accepted,
            } => {
                assert_eq!(var, TIMESCALEDB_CHOICE_VAR);
                assert_eq!(got, value);
                for name in ["auto", "embedded", "native"] {
                    assert!(accepted.contains(name), "{accepted}");
                }
            }
            other => panic!("{value:?}: expected InvalidSetting, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("MARKETSERIES_TIMESCALEDB"), "{text}");
        assert!(text.contains(value), "{text}");
        assert!(text.contains("embedded, native"), "{text}");
    }
}

#[test]
fn switch_resolves_to_a_flavor_per_installation() {
    use TimescaleChoice::{Auto, Embedded, Native};
    let flavor = |choice: TimescaleChoice, installed: bool| {
        choice
            .resolve(installed)
            .unwrap_or_else(|e| panic!("{choice} (installed: {installed}): {e}"))
    };
    assert_eq!(flavor(Auto, true), Flavor::Native);
    assert_eq!(flavor(Auto, false), Flavor::Embedded);
    assert_eq!(flavor(Embedded, true), Flavor::Embedded);
    assert_eq!(flavor(Embedded, false), Flavor::Embedded);
    assert_eq!(flavor(Native, true), Flavor::Native);
    let err = Native
        .resolve(false)
        .expect_err("native without timescaledb.so must fail");
    match &err {
        LaunchError::MissingPrerequisite { what, .. } => {
            assert!(what.contains("timescaledb.so"), "{what}");
            assert!(what.contains("MARKETSERIES_TIMESCALEDB=native"), "{what}");
        }
        other => panic!("expected MissingPrerequisite, got {other:?}"),
    }
    assert!(
        !err.to_string().contains("Debian package `install"),
        "the hint is a sentence, not a package name: {err}"
    );
}

#[test]
fn local_resolution_agrees_with_the_installation() {
    // Whatever this machine has, auto and embedded resolve, and native resolves to the
    // flavor auto picks or fails with MissingPrerequisite.
    let auto = TimescaleChoice::Auto
        .local_flavor()
        .expect("auto always resolves");
    assert_eq!(
        TimescaleChoice::Embedded.local_flavor().expect("embedded"),
        Flavor::Embedded
    );
    match TimescaleChoice::Native.local_flavor() {
        Ok(flavor) => {
            assert_eq!(flavor, Flavor::Native);
            assert_eq!(
                auto,
                Flavor::Native,
                "auto prefers an installed native TimescaleDB"
            );
        }
        Err(LaunchError::MissingPrerequisite { what, .. }) => {
            assert_eq!(auto, Flavor::Embedded);
            assert!(
                what.contains("timescaledb.so") || what.contains("PostgreSQL"),
                "{what}"
            );
        }
        Err(other) => panic!("unexpected error for native: {other}"),
    }
}

// ---- MARKETSERIES_TIMESCALEDB end to end, in child processes ----

/// Environment variable telling [`switch_child`] what to check.
const CHILD_MODE_VAR: &str = "MARKETSERIES_LAUNCHER_TEST_CHILD";

/// What a child reported about the TimescaleDB server it got.
#[derive(Debug)]
struct ChildReport {
    flavor: String,
    url: String,
    extversion: String,
}

/// Runs [`switch_child`] in a child process (this test binary again) with `mode`,
/// `MARKETSERIES_TIMESCALEDB=switch` and `TIMESCALEDB_URL=timescaledb_url` (removed when
/// `None`). Panics unless exactly that one test ran and passed.
fn run_child(mode: &str, switch: &str, timescaledb_url: Option<&str>) -> ChildReport {
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(&exe);
    cmd.args([
        "switch_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_MODE_VAR, mode)
    .env(TIMESCALEDB_CHOICE_VAR, switch);
    match timescaledb_url {
        Some(url) => cmd.env(TIMESCALEDB_URL_VAR, url),
        None => cmd.env_remove(TIMESCALEDB_URL_VAR),
    };
    let out = cmd.output().expect("run the child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "child `{mode}` with {TIMESCALEDB_CHOICE_VAR}={switch} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        // libtest prints `test switch_child ... ` on the same line, before the report.
        .find_map(|l| l.split_once("switch-child:").map(|(_, report)| report))
        .unwrap_or_else(|| panic!("child `{mode}` printed no report:\n{stdout}"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    };
    ChildReport {
        flavor: field("flavor"),
        url: field("url"),
        extversion: field("extversion"),
    }
}

/// Whether a native TimescaleDB is installed; if not, says loudly that the calling test
/// checks nothing.
fn native_timescaledb_or_skip(test: &str) -> bool {
    match TimescaleChoice::Native.local_flavor() {
        Ok(_) => true,
        Err(LaunchError::MissingPrerequisite { what, .. }) => {
            eprintln!(
                "\n*** SKIPPED {test}: no native TimescaleDB is installed, so \
                 MARKETSERIES_TIMESCALEDB=native cannot be tested here ({what}) ***\n"
            );
            false
        }
        Err(other) => panic!("looking for a native TimescaleDB: {other}"),
    }
}

/// The child side of the switch tests: run only by [`run_child`], with
/// `MARKETSERIES_LAUNCHER_TEST_CHILD` naming what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by the switch_* tests, with MARKETSERIES_TIMESCALEDB set"]
async fn switch_child() {
    let mode = std::env::var(CHILD_MODE_VAR).unwrap_or_else(|_| {
        panic!("switch_child is a helper of the switch_* tests; run those instead ({CHILD_MODE_VAR} is not set)")
    });
    match mode.as_str() {
        "embedded" | "native" => {
            let want = if mode == "embedded" {
                Flavor::Embedded
            } else {
                Flavor::Native
            };
            let server = must(
                ensure_server(ServerKind::Timescale).await,
                "timescaledb server",
            );
            assert_eq!(server.flavor, want, "{TIMESCALEDB_CHOICE_VAR}={mode}");
            let db = must(
                fresh_database(ServerKind::Timescale).await,
                "fresh timescaledb db",
            );
            assert_eq!(db.flavor(), want, "{TIMESCALEDB_CHOICE_VAR}={mode}");
            let (client, handle) = connect(&db).await;
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                .await
                .expect("CREATE EXTENSION timescaledb");
            let extversion: String = client
                .query_one(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                    &[],
                )
                .await
                .expect("extversion of timescaledb (is the extension there?)")
                .get(0);
            let license: String = client
                .query_one("SELECT current_setting('timescaledb.license')", &[])
                .await
                .expect("timescaledb.license")
                .get(0);
            assert_eq!(license, "timescale", "the TSL build is required");
            if want == Flavor::Embedded {
                assert!(
                    extversion.starts_with("2.23.0-dev"),
                    "the embedded server carries TimescaleDB 2.23.0-dev, not {extversion}"
                );
            } else {
                check_native(&client, &extversion).await;
            }
            close(client, handle).await;
            println!(
                "switch-child: flavor={} url={} extversion={extversion}",
                server.flavor,
                server.url()
            );
        }
        "external" => {
            let url = std::env::var(TIMESCALEDB_URL_VAR).expect("TIMESCALEDB_URL for this mode");
            let server = must(
                ensure_server(ServerKind::Timescale).await,
                "external server",
            );
            assert_eq!(
                server.flavor,
                Flavor::External,
                "TIMESCALEDB_URL wins over the switch"
            );
            assert_eq!(server.url(), url);
            println!(
                "switch-child: flavor={} url={url} extversion=-",
                server.flavor
            );
        }
        "invalid" => {
            let err = ensure_server(ServerKind::Timescale)
                .await
                .expect_err("a bad switch value must fail the run");
            assert!(
                matches!(&err, LaunchError::InvalidSetting { var, .. } if var == TIMESCALEDB_CHOICE_VAR),
                "expected InvalidSetting, got {err:?}"
            );
            let db = must(
                fresh_database(ServerKind::Timescale)
                    .await
                    .map(Some)
                    .or_else(|e| match e {
                        LaunchError::InvalidSetting { .. } => Ok(None),
                        other => Err(other),
                    }),
                "fresh timescaledb db",
            );
            assert!(db.is_none(), "fresh_database must refuse the bad value too");
            // Plain PostgreSQL does not depend on the TimescaleDB switch.
            let pg = must(ensure_server(ServerKind::Postgres).await, "postgres server");
            println!("switch-child: flavor=none url={} extversion=-", pg.url());
        }
        other => panic!("unknown {CHILD_MODE_VAR}={other}"),
    }
}

/// The native TimescaleDB's version and the launcher's worker limits.
async fn check_native(client: &Client, extversion: &str) {
    let available: String = client
        .query_one(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .await
        .expect("default_version of timescaledb")
        .get(0);
    assert_eq!(extversion, available, "the installed native TimescaleDB");
    assert!(
        !extversion.contains("dev"),
        "native, not the embedded build: {extversion}"
    );
    let server_version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .expect("server_version_num")
        .get(0);
    if (150_000..160_000).contains(&server_version) {
        assert!(
            extversion.starts_with("2.28."),
            "DESIGN §4: the native TimescaleDB for PostgreSQL 15 is 2.28.x, not {extversion}"
        );
    }
    for (setting, want) in [
        ("max_worker_processes", "128"),
        ("timescaledb.max_background_workers", "96"),
        ("timescaledb.telemetry_level", "off"),
    ] {
        let got: String = client
            .query_one(&format!("SELECT current_setting('{setting}')"), &[])
            .await
            .unwrap_or_else(|e| panic!("current_setting({setting}): {e}"))
            .get(0);
        assert_eq!(
            got, want,
            "{setting} of the native TimescaleDB cluster; a cluster started by an older \
             launcher lacks the worker limits: restart it with `cargo xtask db stop`"
        );
    }
}

#[test]
fn switch_embedded_uses_the_embedded_server() {
    let report = run_child("embedded", "embedded", None);
    assert_eq!(report.flavor, "embedded");
    assert!(report.extversion.starts_with("2.23.0-dev"), "{report:?}");
}

#[test]
fn switch_native_uses_the_native_server() {
    if !native_timescaledb_or_skip("switch_native_uses_the_native_server") {
        return;
    }
    let report = run_child("native", "NATIVE", None);
    assert_eq!(report.flavor, "native");
    assert!(!report.extversion.contains("dev"), "{report:?}");
}

#[test]
fn switch_keeps_native_and_embedded_servers_apart() {
    if !native_timescaledb_or_skip("switch_keeps_native_and_embedded_servers_apart") {
        return;
    }
    let native = run_child("native", "native", None);
    // A native server is recorded and running; `embedded` still gets the embedded one.
    let embedded = run_child("embedded", "Embedded", None);
    let native_again = run_child("native", "auto", None);
    assert_ne!(native.url, embedded.url, "two different servers");
    assert_eq!(
        native.url, native_again.url,
        "the recorded native server is reused"
    );
    let status = launcher::status();
    for (flavor, url) in [
        (Flavor::Native, &native.url),
        (Flavor::Embedded, &embedded.url),
    ] {
        assert!(
            status.iter().any(|s| s.kind == ServerKind::Timescale
                && s.flavor == Some(flavor)
                && s.alive
                && s.url.as_deref() == Some(url.as_str())),
            "status should list the running {flavor} TimescaleDB at {url}: {status:?}"
        );
    }
}

#[test]
fn timescaledb_url_wins_over_the_switch() {
    // Any server answering SELECT 1 will do as the "external" one: the plain PostgreSQL.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let pg = must(
        runtime.block_on(ensure_server(ServerKind::Postgres)),
        "postgres server",
    );
    for switch in ["native", "embedded", "auto"] {
        let report = run_child("external", switch, Some(pg.url()));
        assert_eq!(report.flavor, "external", "{switch}");
        assert_eq!(report.url, pg.url(), "{switch}");
    }
}

#[test]
fn bad_switch_value_fails_a_run() {
    let report = run_child("invalid", "sometimes", None);
    assert_eq!(report.flavor, "none");
}
