//! The least-privilege roles of `create_roles` on both real backends: the reader reads and
//! can neither write nor alter; the writer writes (creating the partitions its batches
//! need on plain PostgreSQL) and can neither delete, drop, alter, nor change the policies.
//! Checked with `SET ROLE` on every server, and through stores logged in as the roles
//! where the server has real logins (the embedded TimescaleDB serves every connection as
//! its one user, so there only the `SET ROLE` checks run).

use std::sync::Arc;

use chrono::{DurationRound, TimeDelta, Utc};
use marketseries::{
    open_backend, Backend, BackendChoice, Candle, Config, Error, ErrorKind, Expiry, Interval,
    Roles, SystemClock,
};
use marketseries_testkit::launcher::{fresh_database, Flavor, ServerKind, TestDatabase};
use tokio_postgres::{Client, NoTls};

async fn admin(db: &TestDatabase) -> (Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .expect("admin connection");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

/// Runs `sql` as `role` and returns the SQLSTATE it failed with (`None`: it succeeded).
async fn as_role(client: &Client, role: &str, sql: &str) -> Option<String> {
    client
        .batch_execute(&format!("SET ROLE {role}"))
        .await
        .expect("SET ROLE");
    let outcome = client.batch_execute(sql).await;
    client
        .batch_execute("RESET ROLE")
        .await
        .expect("RESET ROLE");
    outcome.err().map(|e| {
        e.code()
            .map_or_else(|| e.to_string(), |c| c.code().to_owned())
    })
}

fn candles(minutes: i64) -> Vec<Candle> {
    let price = "100.5".parse().expect("price");
    let end = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("minute")
        - TimeDelta::days(40);
    (0..minutes)
        .map(|m| Candle {
            symbol: "ETHUSDT".into(),
            interval: Interval::M1,
            time: end - TimeDelta::minutes(m),
            open: price,
            high: price,
            low: price,
            close: price,
            volume: "1".parse().expect("volume"),
        })
        .collect()
}

fn config(url: &str, backend: Backend) -> Config {
    let mut config = Config::new(url).with_backend(BackendChoice::Explicit(backend));
    config.store.pool_size = 1;
    config
}

const DENIED: &str = "42501";

async fn roles_on(kind: ServerKind, backend: Backend) {
    let db = fresh_database(kind).await.expect("test database");
    let owner = open_backend(&config(db.url(), backend), Arc::new(SystemClock))
        .await
        .expect("open as owner");
    owner.clone().into_store().migrate().await.expect("migrate");
    let roles = Roles::default();
    owner.create_roles(&roles).await.expect("create roles");
    owner.create_roles(&roles).await.expect("again: idempotent");
    let bad = Roles {
        reader: "Robert'); DROP TABLE candles; --".into(),
        ..Roles::default()
    };
    let e = owner.create_roles(&bad).await.expect_err("bad name");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let (client, task) = admin(&db).await;
    let (reader, writer) = (format!("{}_r", db.name()), format!("{}_w", db.name()));
    client
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN IN ROLE {}; CREATE ROLE {writer} LOGIN IN ROLE {}",
            roles.reader, roles.writer
        ))
        .await
        .expect("login roles");

    // The reader reads and changes nothing.
    assert_eq!(
        as_role(&client, &reader, "SELECT count(*) FROM candles").await,
        None
    );
    assert_eq!(
        as_role(&client, &reader, "SELECT count(*) FROM ohlcv_1h").await,
        None
    );
    assert_eq!(
        as_role(&client, &reader, "SELECT * FROM market_overview").await,
        None,
        "the SQL API"
    );
    assert_eq!(
        as_role(
            &client,
            &reader,
            "SELECT * FROM get_ohlcv('BTCUSDT', '1h', now() - interval '1 day', now())"
        )
        .await,
        None
    );
    for sql in [
        "INSERT INTO candle_series VALUES ('X', '1m', now(), 1)",
        "UPDATE candles SET volume = 0 WHERE false",
        "DELETE FROM candles WHERE false",
        "ALTER TABLE candles ADD COLUMN note text",
        "UPDATE marketseries_policies SET retention_price = NULL WHERE false",
        "CREATE TABLE reader_was_here (x int)",
    ] {
        assert_eq!(
            as_role(&client, &reader, sql).await.as_deref(),
            Some(DENIED),
            "reader: {sql}"
        );
    }
    // The writer cannot delete, drop, alter or change the policies.
    for sql in [
        "DELETE FROM candles WHERE false",
        "TRUNCATE candles",
        "DROP TABLE candles",
        "ALTER TABLE candles ADD COLUMN note text",
        "UPDATE marketseries_policies SET retention_price = NULL WHERE false",
    ] {
        assert_eq!(
            as_role(&client, &writer, sql).await.as_deref(),
            Some(DENIED),
            "writer: {sql}"
        );
    }

    if db.flavor() == Flavor::Embedded {
        eprintln!(
            "NOTE: the embedded TimescaleDB serves every connection as its one user; the \
             checks through stores logged in as the roles run on native servers only"
        );
    } else {
        let url_as = |role: &str| db.url().replacen("postgres@", &format!("{role}@"), 1);
        let as_writer = open_backend(&config(&url_as(&writer), backend), Arc::new(SystemClock))
            .await
            .expect("open as writer")
            .into_store();
        // Forty days ago: plain PostgreSQL needs new partitions, made by the function.
        let batch = candles(120);
        as_writer
            .store_candles(&batch)
            .await
            .expect("the writer writes");
        as_writer
            .store_candles(&batch[..10])
            .await
            .expect("and corrects");
        let latest = as_writer.latest_price("ETHUSDT").await.expect("reads");
        assert!(latest.is_some());
        let policies = as_writer.policies().await.expect("reads the policies");
        let mut changed = policies;
        changed.retention.price = Some(TimeDelta::days(10_000));
        let e = as_writer
            .apply_policies(&changed, Expiry::Confirmed)
            .await
            .expect_err("the writer cannot change policies");
        // Refused by the server (through diesel, which passes no SQLSTATE on).
        assert_eq!(e.kind(), ErrorKind::Database, "{e:?}");
        assert!(e.to_string().contains("permission denied"), "{e}");

        let as_reader = open_backend(&config(&url_as(&reader), backend), Arc::new(SystemClock))
            .await
            .expect("open as reader")
            .into_store();
        assert!(as_reader
            .latest_price("ETHUSDT")
            .await
            .expect("the reader reads")
            .is_some());
        let e = as_reader
            .store_candles(&batch)
            .await
            .expect_err("the reader cannot write");
        assert!(
            matches!(&e, Error::Database { code: Some(c), .. } if c == DENIED),
            "{e:?}"
        );
    }
    client
        .batch_execute(&format!("DROP ROLE {reader}; DROP ROLE {writer}"))
        .await
        .expect("drop the login roles");
    drop(client);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_roles_on_plain_postgres() {
    roles_on(ServerKind::Postgres, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_roles_on_timescaledb() {
    roles_on(ServerKind::Timescale, Backend::Timescaledb).await;
}
