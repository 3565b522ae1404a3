//! Helpers shared by the CLI integration tests: a fresh PostgreSQL database per test, the
//! built binary, scratch files.

// Shared by several test binaries, each a crate of its own with no public API.
#![allow(unreachable_pub)]
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use marketseries_core::{Bar, Candle, Flow, SentimentReading};
use marketseries_testkit::launcher::{fresh_database, ServerKind};
use serde_json::Value;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self.no_panic();
        &self.stdout
    }

    /// Asserts failure with `code` and returns stderr.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self.no_panic();
        assert!(
            self.stderr.contains("error: "),
            "no `error:` line: {self:#?}"
        );
        &self.stderr
    }

    fn no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "panic: {self:#?}");
    }
}

/// Runs `marketseries` with `args`, the URL given through `MARKETSERIES_URL` when `url` is
/// `Some` (and the variable removed otherwise).
pub fn run(url: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketseries"));
    cmd.args(args);
    match url {
        Some(url) => cmd.env("MARKETSERIES_URL", url),
        None => cmd.env_remove("MARKETSERIES_URL"),
    };
    let out = cmd.output().expect("run marketseries");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh, migrated database on the test PostgreSQL server; returns its URL.
pub async fn migrated_database() -> String {
    migrated_database_on(ServerKind::Postgres).await
}

/// A fresh database on the launcher's `kind` server, migrated through the CLI (which
/// picks the backend from the `postgres://` URL by itself); returns its URL.
pub async fn migrated_database_on(kind: ServerKind) -> String {
    let db = fresh_database(kind)
        .await
        .expect("test database (the launcher starts the server on demand)");
    let url = db.url().to_owned();
    let out = run(Some(&url), &["migrate"]);
    assert!(out.ok().starts_with("migrated"), "{out:#?}");
    url
}

/// A scratch directory unique to this test process and call.
pub fn scratch_dir(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{test}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scratch file");
    path.to_str().expect("utf-8 path").to_owned()
}

/// RFC 3339 UTC as the CLI prints it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Candles as a generic CSV file.
pub fn generic_csv(candles: &[Candle]) -> String {
    let mut out = String::from("time,symbol,interval,open,high,low,close,volume\n");
    for c in candles {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            rfc3339(c.time),
            c.symbol,
            c.interval,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume
        ));
    }
    out
}

/// Bars formatted as `ohlcv --format csv` prints them.
pub fn bars_csv(bars: &[Bar]) -> String {
    let mut out = String::from("time,open,high,low,close,volume\n");
    for b in bars {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            rfc3339(b.time),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        ));
    }
    out
}

/// Rows of a stored table according to `stats --format json`.
pub fn table_rows(url: &str, table: &str) -> u64 {
    let out = run(Some(url), &["stats", "--format", "json"]);
    let stats: serde_json::Value = serde_json::from_str(out.ok()).expect("stats json");
    stats["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .and_then(|t| t["rows"].as_u64())
        .unwrap_or_else(|| panic!("no table {table} in {stats}"))
}

/// Sentiment readings as an `import sentiment` file.
pub fn sentiment_csv(readings: &[SentimentReading]) -> String {
    let mut out = String::from("time,asset,source,score,label,mention_volume,engagement\n");
    for r in readings {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            rfc3339(r.time),
            r.asset,
            r.source,
            r.score,
            r.label,
            r.mention_volume,
            r.engagement
        ));
    }
    out
}

/// Flows as an `import flows` file.
pub fn flows_csv(flows: &[Flow]) -> String {
    let mut out = String::from("time,asset,flow_type,amount,usd_value,source,reference\n");
    for f in flows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            rfc3339(f.time),
            f.asset,
            f.flow_type.as_str(),
            f.amount,
            f.usd_value,
            f.source,
            f.reference
        ));
    }
    out
}

/// Equal JSON, except that numbers (the float means and sums of sentiment) may differ in
/// the last bits between SQL and Rust arithmetic.
pub fn same_json(what: &str, got: &Value, want: &Value) {
    fn walk(path: &str, got: &Value, want: &Value) -> Result<(), String> {
        match (got, want) {
            (Value::Number(g), Value::Number(w)) => {
                let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
                if (g - w).abs() <= 1e-9 * g.abs().max(w.abs()).max(1.0) {
                    Ok(())
                } else {
                    Err(format!("{path}: {g} != {w}"))
                }
            }
            (Value::Array(g), Value::Array(w)) => {
                if g.len() != w.len() {
                    return Err(format!("{path}: {} items, want {}", g.len(), w.len()));
                }
                for (i, (g, w)) in g.iter().zip(w).enumerate() {
                    walk(&format!("{path}[{i}]"), g, w)?;
                }
                Ok(())
            }
            (Value::Object(g), Value::Object(w)) => {
                if g.len() != w.len() {
                    return Err(format!("{path}: keys {:?}, want {:?}", g.keys(), w.keys()));
                }
                for (k, w) in w {
                    let g = g.get(k).ok_or_else(|| format!("{path}.{k}: missing"))?;
                    walk(&format!("{path}.{k}"), g, w)?;
                }
                Ok(())
            }
            (g, w) if g == w => Ok(()),
            (g, w) => Err(format!("{path}: {g} != {w}")),
        }
    }
    if let Err(e) = walk("$", got, want) {
        panic!("{what}: {e}\n got: {got}\nwant: {want}");
    }
}
