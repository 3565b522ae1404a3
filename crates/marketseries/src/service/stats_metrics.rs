//! What the service's `stats` task learns beyond the aggregates' lag, as gauges: table
//! rows and bytes, compression savings, and the server's jobs (their failures and last
//! outcome), for the dashboard and alerts.

use marketseries_core::metrics::names;
use marketseries_core::metrics::prometheus::core::Collector;
use marketseries_core::metrics::prometheus::{self, GaugeVec, IntGaugeVec, Opts, Registry};
use marketseries_core::StoreStats;

/// The gauges.
pub(crate) struct StatsMetrics {
    rows: IntGaugeVec,
    bytes: IntGaugeVec,
    saving: GaugeVec,
    job_failures: IntGaugeVec,
    job_ok: IntGaugeVec,
}

fn gauge(name: &str, help: &str, label: &str) -> prometheus::Result<IntGaugeVec> {
    IntGaugeVec::new(Opts::new(name, help), &[label])
}

/// A count or size as a gauge value (saturating: a table of 2^63 bytes is not expected).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StatsMetrics {
    /// Registers the gauges in `registry`.
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let this = Self {
            rows: gauge(names::TABLE_ROWS, "Rows per dataset table", "table")?,
            bytes: gauge(
                names::TABLE_BYTES,
                "Bytes on disk per dataset table",
                "table",
            )?,
            saving: GaugeVec::new(
                Opts::new(
                    names::COMPRESSION_SAVING,
                    "Space saved by compression, percent",
                ),
                &["table"],
            )?,
            job_failures: gauge(names::JOB_FAILURES, "Failures per background job", "job")?,
            job_ok: gauge(
                names::JOB_LAST_RUN_OK,
                "1 when a job's last run succeeded",
                "job",
            )?,
        };
        for c in [
            Box::new(this.rows.clone()) as Box<dyn Collector>,
            Box::new(this.bytes.clone()),
            Box::new(this.saving.clone()),
            Box::new(this.job_failures.clone()),
            Box::new(this.job_ok.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(this)
    }

    /// Sets the gauges from `stats`.
    pub(crate) fn update(&self, stats: &StoreStats) {
        for t in &stats.tables {
            let label = [t.name.as_str()];
            self.rows.with_label_values(&label).set(int(t.rows));
            if let Some(bytes) = t.total_bytes {
                self.bytes.with_label_values(&label).set(int(bytes));
            }
            if let Some(saving) = t.compression_saving_percent() {
                self.saving.with_label_values(&label).set(saving);
            }
        }
        for j in &stats.jobs {
            let label = format!("{} {}", j.id, j.name);
            let label = [label.as_str()];
            self.job_failures
                .with_label_values(&label)
                .set(int(j.failures));
            if let Some(ok) = j.last_succeeded {
                self.job_ok.with_label_values(&label).set(i64::from(ok));
            }
        }
    }
}
