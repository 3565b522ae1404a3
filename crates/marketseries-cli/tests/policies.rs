//! Issue 12's data loss, through the CLI: imported history older than the seed's horizons
//! survives `maintain` (with `--compress` and `--retention`) on both backends, because a new
//! store keeps everything; a horizon is stored only by `policy set`, which first says what
//! it would drop and needs `--yes`; only then does `maintain --retention` drop it.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{Candle, Interval};
use marketseries_testkit::launcher::ServerKind;
use rust_decimal::Decimal;

use common::{generic_csv, migrated_database_on, run, scratch_dir, table_rows, write};

/// Daily candles of 2021, as a user's export of BTC-USD history would hold.
fn year_2021() -> Vec<Candle> {
    let start: DateTime<Utc> = "2021-01-01T00:00:00Z".parse().unwrap();
    (0..365)
        .map(|d| Candle {
            symbol: "BTC-USD".into(),
            interval: Interval::D1,
            time: start + TimeDelta::days(d),
            open: Decimal::from(29_000 + d),
            high: Decimal::from(30_000 + d),
            low: Decimal::from(28_000 + d),
            close: Decimal::from(29_500 + d),
            volume: Decimal::from(1_000),
        })
        .collect()
}

async fn history_survives_maintenance_until_a_horizon_is_confirmed(kind: ServerKind) {
    let url = migrated_database_on(kind).await;
    let dir = scratch_dir(&format!("policies-{kind:?}"));
    let file = write(&dir, "btc-2021.csv", &generic_csv(&year_2021()));
    run(Some(&url), &["import", "candles", &file]).ok();
    assert_eq!(table_rows(&url, "candles"), 365);

    let shown = run(Some(&url), &["policy", "show"]);
    assert!(
        shown.ok().contains("retention price: forever"),
        "a new store keeps everything: {shown:#?}"
    );
    let mut maintain = vec!["maintain", "--retention"];
    if kind == ServerKind::Timescale {
        maintain.push("--compress");
    }
    let out = run(Some(&url), &maintain);
    let report = out.ok();
    assert!(report.contains("retention: nothing to do"), "{report}");
    assert!(report.contains("retention price: forever"), "{report}");
    assert_eq!(table_rows(&url, "candles"), 365, "after maintain: {report}");

    // Storing a horizon that expires the imported year is refused, saying what it drops.
    let out = run(Some(&url), &["policy", "set", "retention", "price", "400d"]);
    let err = out.fails(1);
    assert!(
        err.contains("candles: 365 rows older than") && err.contains("2021-01-01T00:00:00Z"),
        "{err}"
    );
    assert!(err.contains("nothing was changed; pass --yes"), "{err}");
    let shown = run(Some(&url), &["policy", "show"]);
    assert!(
        shown.ok().contains("retention price: forever"),
        "{shown:#?}"
    );
    assert_eq!(table_rows(&url, "candles"), 365);

    // Bad durations are usage errors naming the text.
    let out = run(Some(&url), &["policy", "set", "retention", "price", "0d"]);
    assert!(
        out.fails(2).contains("\"0d\" is not a duration"),
        "{out:#?}"
    );

    // Settings that drop nothing need no confirmation.
    let out = run(Some(&url), &["policy", "set", "refresh", "schedule", "10m"]);
    assert!(out.ok().contains("refresh: every 10m"), "{out:#?}");
    let out = run(
        Some(&url),
        &["policy", "set", "compression", "sentiment", "off"],
    );
    assert!(out.ok().contains("compression sentiment: off"), "{out:#?}");

    let out = run(
        Some(&url),
        &["policy", "set", "retention", "price", "400d", "--yes"],
    );
    let text = out.ok();
    assert!(text.contains("retention price: 400d"), "{text}");
    assert!(text.contains("candles: 365 rows older than"), "{text}");
    let out = run(Some(&url), &["policy", "show", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(doc["policies"]["retention"]["price"], "400d", "{doc}");
    assert_eq!(
        doc["policies"]["retention"]["flow"],
        serde_json::Value::Null
    );
    assert_eq!(doc["policies"]["refresh"]["schedule"], "10m", "{doc}");
    let out = run(Some(&url), &["maintain", "--retention"]);
    assert!(out.ok().contains("retention: price: removed"), "{out:#?}");
    assert_eq!(
        table_rows(&url, "candles"),
        0,
        "the confirmed horizon applies"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_plain_postgres_history_survives_maintenance_until_a_horizon_is_confirmed() {
    history_survives_maintenance_until_a_horizon_is_confirmed(ServerKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_timescaledb_history_survives_maintenance_until_a_horizon_is_confirmed() {
    history_survives_maintenance_until_a_horizon_is_confirmed(ServerKind::Timescale).await;
}
