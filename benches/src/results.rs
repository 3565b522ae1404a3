//! What a run measured, kept in memory and written to `results.json` beside the report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::target::TargetKind;

/// When the run started (first use), for the progress lines.
pub fn started() -> std::time::Instant {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(std::time::Instant::now)
}

/// When in a target's life a measurement was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Writing the data: loads, COPY references, imports, refreshes, compression.
    Ingest,
    /// Reads right after the bulk load, before any maintenance.
    Loaded,
    /// Reads after the store's own maintenance (refresh, and compression on TimescaleDB).
    Maintained,
    /// The control of the statistics targets: a few reads again after a database-wide
    /// `ANALYZE` following maintenance (what autovacuum gets to eventually). Reads right
    /// after an import or maintenance should not need it.
    Analyzed,
}

impl Phase {
    /// Its name in benchmark ids and the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Loaded => "loaded",
            Self::Maintained => "maintained",
            Self::Analyzed => "analyzed",
        }
    }
}

/// Where a measurement belongs: data size, phase, target, operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Key {
    /// The data set's label: `1x` (main run), `4x` (growth), `wide` (100 symbols).
    pub data: String,
    /// Phase.
    pub phase: Phase,
    /// Target.
    pub target: TargetKind,
    /// Operation name (`ohlcv_1h_30d`, `latest_price_sql`, ...).
    pub op: String,
}

impl Key {
    /// A key.
    pub fn new(data: &str, phase: Phase, target: TargetKind, op: &str) -> Self {
        Self {
            data: data.to_owned(),
            phase,
            target,
            op: op.to_owned(),
        }
    }

    /// The criterion group (file-name safe): `<data>-<phase>-<target>`.
    pub fn group(&self) -> String {
        format!("{}-{}-{}", self.data, self.phase.name(), self.target.name())
    }
}

/// How a time was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Criterion's median over its samples.
    Criterion,
    /// One timed execution (loads, refreshes, quick mode).
    Once,
}

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Where it belongs.
    pub key: Key,
    /// What one execution does.
    pub what: String,
    /// Median (criterion) or single time, nanoseconds.
    pub ns: f64,
    /// How the time was taken.
    pub sampling: Sampling,
    /// Rows written or returned, when that is meaningful.
    pub rows: Option<u64>,
}

/// Everything a run measured.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// Timed operations.
    pub measurements: Vec<Measurement>,
    /// Facts: server versions and settings, storage sizes (bytes), row counts.
    pub facts: BTreeMap<String, String>,
    /// Operations that failed or answered differently from the Rust API.
    pub failures: Vec<String>,
}

impl Results {
    /// Records a measurement.
    pub fn record(&mut self, m: Measurement) {
        println!(
            "  [{:>6.1} s] {:<48} {:>12}{}",
            started().elapsed().as_secs_f64(),
            format!("{}/{}", m.key.group(), m.key.op),
            crate::report::duration(m.ns),
            m.rows.map(|r| format!("  ({r} rows)")).unwrap_or_default()
        );
        self.measurements.push(m);
    }

    /// Records a fact.
    pub fn fact(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        println!("  {key} = {value}");
        self.facts.insert(key, value);
    }

    /// Records a failure (printed at once, and failing the run at its end).
    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("FAILED: {what}");
        self.failures.push(what);
    }

    /// The time of `key`, if measured.
    pub fn ns(&self, key: &Key) -> Option<f64> {
        self.measurements
            .iter()
            .find(|m| &m.key == key)
            .map(|m| m.ns)
    }

    /// A fact parsed as a number.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.facts.get(key)?.parse().ok()
    }
}
