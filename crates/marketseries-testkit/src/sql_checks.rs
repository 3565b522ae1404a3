//! The database's own CHECKs against writers that go straight to SQL (issue 12): every row
//! the API's validation rejects, numeric `NaN` included, is rejected by the table too, so
//! that no reader ever meets a value it cannot decode or a sum that overflows.

use tokio_postgres::NoTls;

/// One row a direct writer might try, and why it must fail.
struct Case {
    what: &'static str,
    sql: &'static str,
}

/// Rows `time` is substituted into, at a time the store already holds rows for (so plain
/// PostgreSQL has the partition and only the CHECK can refuse them).
const CASES: &[Case] = &[
    Case {
        what: "numeric NaN open",
        sql: "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) VALUES ('CHK', '1m', $1, 'NaN', 'NaN', 'NaN', 'NaN', 1)",
    },
    Case {
        what: "numeric NaN volume",
        sql: "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) VALUES ('CHK', '1m', $1, 1, 1, 1, 1, 'NaN')",
    },
    Case {
        what: "price above 1e20",
        sql: "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) VALUES ('CHK', '1m', $1, 1, 2e20, 1, 1, 1)",
    },
    Case {
        what: "symbol with a space",
        sql: "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) VALUES ('BTC USD', '1m', $1, 1, 1, 1, 1, 1)",
    },
    Case {
        what: "engagement 1e300",
        sql: "INSERT INTO sentiment (asset, source, time, score, label, mention_volume, engagement) VALUES ('CHK', 'news', $1, 0.5, 'bullish', 1, 1e300)",
    },
    Case {
        what: "float8 NaN engagement",
        sql: "INSERT INTO sentiment (asset, source, time, score, label, mention_volume, engagement) VALUES ('CHK', 'news', $1, 0.5, 'bullish', 1, 'NaN')",
    },
    Case {
        what: "a control character in a source",
        sql: "INSERT INTO sentiment (asset, source, time, score, label, mention_volume, engagement) VALUES ('CHK', E'ne\\x01ws', $1, 0.5, 'bullish', 1, 1)",
    },
    Case {
        what: "numeric NaN flow amount",
        sql: "INSERT INTO flows (asset, time, flow_type, amount, usd_value, source, reference) VALUES ('CHK', $1, 'exchange_inflow', 'NaN', 1, 'binance', 'r')",
    },
];

/// Inserts each bad row of `CASES` directly, with `time` (a timestamp inside a partition
/// or chunk the store already has for candles, sentiment and flows), and asserts that the
/// table's CHECK constraint refused it (SQLSTATE 23514, "violates check constraint") and
/// that nothing landed.
///
/// # Panics
/// When a row is accepted or refused for another reason (the test's failure).
pub async fn direct_writes_of_invalid_rows_are_rejected(
    url: &str,
    time: chrono::DateTime<chrono::Utc>,
) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect for direct SQL");
    let task = tokio::spawn(connection);
    for case in CASES {
        let err = client
            .execute(case.sql, &[&time])
            .await
            .expect_err(case.what);
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{}: not a server error: {err}", case.what));
        assert_eq!(
            db.code().code(),
            "23514",
            "{}: refused for another reason: {}",
            case.what,
            db.message()
        );
        assert!(
            db.message().contains("violates check constraint"),
            "{}: {}",
            case.what,
            db.message()
        );
    }
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM candles WHERE symbol IN ('CHK', 'BTC USD')) \
             + (SELECT count(*) FROM sentiment WHERE asset = 'CHK') \
             + (SELECT count(*) FROM flows WHERE asset = 'CHK')",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "a refused row landed");
    drop(client);
    let _ = task.await;
}
