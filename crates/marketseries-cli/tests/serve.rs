//! `marketseries serve` as a process against both real backends: it answers `/metrics`,
//! `/health` and `/ready` over HTTP, its refresh metrics move after an import through the
//! command, and SIGTERM ends it with exit code 0 and no session of it left on the server.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use marketseries_core::metrics::names;
use marketseries_testkit::generate::CandleSpec;
use marketseries_testkit::http::sample;
use marketseries_testkit::launcher::ServerKind;

use common::{generic_csv, migrated_database_on, run, scratch_dir, write};

/// A running `serve`, its address, and its stderr lines as they come.
struct Served {
    child: Child,
    addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Served {
    fn start(url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_marketseries"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--refresh-every",
                "1s",
                "--connections",
                "1",
            ])
            .env("MARKETSERIES_URL", url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start marketseries serve");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = stderr
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints its address");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        marketseries_testkit::http::get(self.addr, path)
    }

    /// Sends SIGTERM and waits for the exit; returns the code and the rest of stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        // The reader thread ends at the pipe's end of file, which the exit brings: wait for
        // it, or the last lines may not have been forwarded yet.
        let rest: Vec<String> = self.stderr.iter().collect();
        (status.code(), rest.join("\n"))
    }
}

/// Sessions of the database `url` names other than the caller's.
fn sessions(url: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("admin connection");
        tokio::spawn(connection);
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0)
    })
}

fn serves_and_stops(kind: ServerKind, test: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(migrated_database_on(kind));
    // An import through the command, before the service starts: the embedded
    // TimescaleDB serves one client at a time, and the service's schedule would hold it.
    // The service's first refresh has the import's steps to commit.
    let now = Utc::now().duration_trunc(TimeDelta::days(1)).expect("day");
    let candles = CandleSpec::minutes(2, 1, now - TimeDelta::days(1), 7).generate();
    let dir = scratch_dir(test);
    let file = write(&dir, "candles.csv", &generic_csv(&candles));
    run(Some(&url), &["import", "candles", &file]).ok();

    let served = Served::start(&url);
    assert_eq!(served.get("/ready").0, 200);
    let (status, scrape) = served.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        names::POOL_CONNECTIONS,
        names::POOL_CHECKOUTS,
        names::MAINTENANCE_RUNS,
        names::DATABASE_UP,
    ] {
        assert!(
            scrape.contains(&format!("# TYPE {name} ")),
            "{name}: {scrape}"
        );
    }
    let (status, body) = served.get("/health");
    assert!(
        status == 200 || body.contains("over_bound\":true"),
        "the database answers; only yesterday's candles may lag: {status} {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, scrape) = served.get("/metrics");
        let steps = sample(&scrape, names::REFRESH_STEPS, &[("dataset", "price")]);
        let lag = sample(&scrape, names::AGGREGATE_LAG, &[]);
        let rows = sample(&scrape, names::TABLE_ROWS, &[("table", "candles")]);
        if steps.is_some_and(|s| s >= 1.0) && lag.is_some() && rows == Some(2_880.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refresh metrics did not move: {scrape}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: shutting down"), "{stderr}");
    assert!(stderr.contains("serve: stopped"), "{stderr}");
    if kind == ServerKind::Postgres {
        // The process is gone, and with it every session (none idle in a transaction).
        let deadline = Instant::now() + Duration::from_secs(10);
        while sessions(&url) > 0 {
            assert!(Instant::now() < deadline, "sessions left after exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn serve_answers_and_stops_on_sigterm_on_plain_postgres() {
    serves_and_stops(ServerKind::Postgres, "serve_pg");
}

#[test]
fn serve_answers_and_stops_on_sigterm_on_timescaledb() {
    serves_and_stops(ServerKind::Timescale, "serve_ts");
}

#[test]
fn serve_refuses_a_database_without_the_schema() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime
        .block_on(marketseries_testkit::launcher::fresh_database(
            ServerKind::Postgres,
        ))
        .expect("test database");
    let out = run(
        Some(db.url()),
        &["--backend", "postgres", "serve", "--listen", "127.0.0.1:0"],
    );
    let stderr = out.fails(1);
    assert!(stderr.contains("marketseries migrate"), "{stderr}");
    let out = run(Some(db.url()), &["serve", "--listen", "nowhere"]);
    out.fails(2);
    let out = run(Some(db.url()), &["serve", "--max-lag", "soon"]);
    assert!(out.fails(2).contains("\"soon\""), "{out:?}");
}
