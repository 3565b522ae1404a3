//! Bad files and bad invocations: whole-file rejection with every bad line, `--skip-invalid`,
//! unknown headers, a missing or unusable URL. Failures exit non-zero with `error: ...`,
//! never a panic, and never print the URL.

mod common;

use common::{migrated_database, run, scratch_dir, table_rows, write};
use marketseries_testkit::launcher::{fresh_database, ServerKind};

/// Lines 3 (NaN open) and 5 (high below low) are bad.
const NAN_AND_HIGH_BELOW_LOW: &str = "\
time,symbol,interval,open,high,low,close,volume
2024-03-01T00:00:00Z,ETHUSDT,1m,3400.10,3401,3399.5,3400.50,12.5
2024-03-01T00:01:00Z,ETHUSDT,1m,NaN,3402,3400,3401.00,7.25
2024-03-01T00:02:00Z,ETHUSDT,1m,3401.00,3401.5,3400.5,3401.25,0.10
2024-03-01T00:03:00Z,ETHUSDT,1m,3401.25,3390,3400.5,3401.00,1
2024-03-01T00:04:00Z,ETHUSDT,1m,3401.00,3403,3400,3402.75,2
";

#[tokio::test(flavor = "multi_thread")]
async fn bad_lines_reject_the_whole_file_unless_skipped() {
    let url = migrated_database().await;
    let dir = scratch_dir("bad-lines");
    let file = write(&dir, "eth.csv", NAN_AND_HIGH_BELOW_LOW);

    let out = run(Some(&url), &["import", "candles", &file]);
    let stderr = out.fails(3);
    assert!(
        stderr.contains("line 3: open: must be a finite number"),
        "{stderr}"
    );
    assert!(stderr.contains("line 5: high: "), "{stderr}");
    assert!(stderr.contains("nothing stored"), "{stderr}");
    assert!(!stderr.contains("line 2:") && !stderr.contains("line 4:"));
    assert_eq!(table_rows(&url, "candles"), 0);
    let latest = run(Some(&url), &["latest", "--symbol", "ETHUSDT"]);
    assert_eq!(latest.ok(), "no candles for ETHUSDT\n");

    let out = run(Some(&url), &["import", "candles", &file, "--skip-invalid"]);
    assert!(
        out.ok()
            .starts_with("imported 3 candles (3 distinct) for 1 symbol in "),
        "{out:#?}"
    );
    assert!(out.stderr.contains("line 3: open: ") && out.stderr.contains("line 5: high: "));
    let bars = run(
        Some(&url),
        &[
            "ohlcv",
            "--symbol",
            "ETHUSDT",
            "--interval",
            "1m",
            "--from",
            "2024-03-01T00:00:00Z",
            "--to",
            "2024-03-01T01:00:00Z",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        bars.ok(),
        "time,open,high,low,close,volume\n\
         2024-03-01T00:00:00Z,3400.10,3401,3399.5,3400.50,12.5\n\
         2024-03-01T00:02:00Z,3401.00,3401.5,3400.5,3401.25,0.10\n\
         2024-03-01T00:04:00Z,3401.00,3403,3400,3402.75,2\n"
    );
    let latest = run(
        Some(&url),
        &["latest", "--symbol", "ETHUSDT", "--format", "json"],
    );
    let point: serde_json::Value = serde_json::from_str(latest.ok()).unwrap();
    assert_eq!(point["price"], "3402.75");
}

#[test]
fn unknown_header_is_a_clear_error() {
    let dir = scratch_dir("unknown-header");
    let file = write(&dir, "prices.csv", "when,price,size\n1709251200,1.5,3\n");
    // The file is checked before connecting, so no server is needed to reject it.
    let out = run(
        Some("postgres://nobody@127.0.0.1:1/none"),
        &["import", "candles", &file],
    );
    let stderr = out.fails(3);
    assert!(
        stderr.contains("unrecognised header `when,price,size`"),
        "{stderr}"
    );
    assert!(stderr.contains("time,symbol,interval,open,high,low,close,volume"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_nobody_migrated_says_to_run_migrate() {
    // On both servers: an import meets a missing function first, a read a missing table;
    // either way the error says what to do, and nothing is created.
    for kind in [ServerKind::Postgres, ServerKind::Timescale] {
        let db = fresh_database(kind).await.expect("test database");
        let url = db.url().to_owned();
        let dir = scratch_dir("unmigrated");
        let file = write(&dir, "eth.csv", NAN_AND_HIGH_BELOW_LOW);
        for args in [
            &["import", "candles", &file, "--skip-invalid"][..],
            &["latest", "--symbol", "ETHUSDT"][..],
            &["maintain"][..],
        ] {
            let stderr = run(Some(&url), args).fails(4).to_owned();
            assert!(
                stderr.contains("(has `marketseries migrate` been run on this database?)"),
                "{kind:?} {args:?}: {stderr}"
            );
        }
        let out = run(Some(&url), &["migrate"]);
        assert!(out.ok().starts_with("migrated"), "{out:#?}");
        assert_eq!(
            table_rows(&url, "candles"),
            0,
            "{kind:?}: nothing was stored"
        );
    }
}

#[test]
fn missing_url_is_a_usage_error() {
    let out = run(None, &["latest", "--symbol", "BTCUSDT"]);
    let stderr = out.fails(2);
    assert!(stderr.contains("MARKETSERIES_URL"), "{stderr}");
}

#[test]
fn urls_are_never_printed() {
    let secret_url = "postgres://bob:hunter2@127.0.0.1:1/market";
    let out = run(
        None,
        &["--url", secret_url, "--connect-timeout", "1", "migrate"],
    );
    let stderr = out.fails(4);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("hunter2") && !stderr.contains(secret_url));

    let out = run(Some("mysql://bob:hunter2@db/market"), &["stats"]);
    let stderr = out.fails(2);
    assert!(stderr.contains("`mysql`") && !stderr.contains("hunter2"));

    // clap would print an environment variable's value in --help unless told not to.
    let help = run(Some(secret_url), &["--help"]);
    assert!(!help.ok().contains("hunter2"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let url = Some("postgres://nobody@127.0.0.1:1/none");
    let base = ["ohlcv", "--symbol", "BTCUSDT", "--from", "2024-03-01"];
    let out = run(
        url,
        &[&base[..], &["--to", "2024-03-02", "--interval", "5x"]].concat(),
    );
    assert!(out.fails(2).contains("invalid interval"));
    let out = run(
        url,
        &[&base[..], &["--to", "tomorrow", "--interval", "1h"]].concat(),
    );
    assert!(out.fails(2).contains("not a timestamp"));
}

/// `--password-file` adds the file's password to the URL on a real server (the test
/// cluster trusts loopback, so any password connects; what is checked is that both
/// drivers take the URL with it and that it never reaches the output); an unreadable file
/// or a URL that already has a password is a usage error naming the file, not the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_file_is_read_and_its_password_never_shown() {
    let url = migrated_database().await;
    let dir = scratch_dir("password-file");
    let file = write(&dir, "pw", "s3cret-from-file\n");
    let out = run(Some(&url), &["--password-file", &file, "stats"]);
    let text = out.ok();
    assert!(
        !text.contains("s3cret") && !out.stderr.contains("s3cret"),
        "{out:#?}"
    );
    let missing = dir.join("missing").to_string_lossy().into_owned();
    let out = run(Some(&url), &["--password-file", &missing, "stats"]);
    let err = out.fails(2);
    assert!(err.contains(&missing), "{err}");
    let with_pw = url.replacen("postgres://postgres@", "postgres://postgres:0therPw@", 1);
    assert_ne!(with_pw, url, "launcher URL changed shape: {url}");
    let out = run(Some(&with_pw), &["--password-file", &file, "stats"]);
    let err = out.fails(2);
    assert!(err.contains("already carries a password"), "{err}");
    assert!(!err.contains("s3cret") && !err.contains("0therPw"), "{err}");
}
