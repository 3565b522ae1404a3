//! Policies, retention reports and storage statistics shared by every backend.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// The four kinds of data a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// OHLCV candles.
    Price,
    /// Sentiment readings.
    Sentiment,
    /// Flows.
    Flow,
    /// Technical indicator values.
    Indicator,
}

impl Dataset {
    /// All datasets.
    pub const ALL: [Dataset; 4] = [Self::Price, Self::Sentiment, Self::Flow, Self::Indicator];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::Sentiment => "sentiment",
            Self::Flow => "flow",
            Self::Indicator => "indicator",
        }
    }
}

/// The name every store reports a dataset's raw table under (see [`TableStats::name`]).
pub fn table_name(dataset: Dataset) -> &'static str {
    match dataset {
        Dataset::Price => "candles",
        Dataset::Sentiment => "sentiment",
        Dataset::Flow => "flows",
        Dataset::Indicator => "indicators",
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long each dataset is kept. `None` keeps it forever.
///
/// The default keeps everything: nothing is ever dropped unless a user stores a horizon
/// (`marketseries policy set retention ...`, or [`TimeSeriesStore::apply_policies`] with
/// [`Expiry::Confirmed`](crate::Expiry::Confirmed) where it makes stored rows expire). The
/// seed's horizons are [`RetentionPolicy::SEED`], a documented choice to opt into.
///
/// [`TimeSeriesStore::apply_policies`]: crate::TimeSeriesStore::apply_policies
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Candles (default: kept forever; the seed's horizon is 365 days).
    pub price: Option<TimeDelta>,
    /// Sentiment readings (default: kept forever; the seed's horizon is 180 days).
    pub sentiment: Option<TimeDelta>,
    /// Flows (default: kept forever; the seed's horizon is 180 days).
    pub flow: Option<TimeDelta>,
    /// Indicator values (default: kept forever; the seed's horizon is 365 days).
    pub indicator: Option<TimeDelta>,
}

impl RetentionPolicy {
    /// Keeps every dataset forever (the default).
    pub const FOREVER: Self = Self {
        price: None,
        sentiment: None,
        flow: None,
        indicator: None,
    };

    /// The seed's horizons: candles and indicators 365 days, sentiment and flows 180 days.
    pub const SEED: Self = Self {
        price: Some(TimeDelta::days(365)),
        sentiment: Some(TimeDelta::days(180)),
        flow: Some(TimeDelta::days(180)),
        indicator: Some(TimeDelta::days(365)),
    };

    /// The horizon of `dataset`, mutably (for setting one dataset's horizon by name).
    pub fn horizon_mut(&mut self, dataset: Dataset) -> &mut Option<TimeDelta> {
        match dataset {
            Dataset::Price => &mut self.price,
            Dataset::Sentiment => &mut self.sentiment,
            Dataset::Flow => &mut self.flow,
            Dataset::Indicator => &mut self.indicator,
        }
    }

    /// The horizon for `dataset`.
    pub fn horizon(&self, dataset: Dataset) -> Option<TimeDelta> {
        match dataset {
            Dataset::Price => self.price,
            Dataset::Sentiment => self.sentiment,
            Dataset::Flow => self.flow,
            Dataset::Indicator => self.indicator,
        }
    }
}

/// After how long data is compressed (backends that compress). `None` disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompressionPolicy {
    /// Candles (default 7 days).
    pub price_after: Option<TimeDelta>,
    /// Sentiment (default 14 days).
    pub sentiment_after: Option<TimeDelta>,
    /// Flows (default 7 days).
    pub flow_after: Option<TimeDelta>,
    /// Indicator values (default 7 days).
    pub indicator_after: Option<TimeDelta>,
}

impl CompressionPolicy {
    /// The compression delay of `dataset`, mutably.
    pub fn after_mut(&mut self, dataset: Dataset) -> &mut Option<TimeDelta> {
        match dataset {
            Dataset::Price => &mut self.price_after,
            Dataset::Sentiment => &mut self.sentiment_after,
            Dataset::Flow => &mut self.flow_after,
            Dataset::Indicator => &mut self.indicator_after,
        }
    }

    /// The compression delay for `dataset`.
    pub fn after(&self, dataset: Dataset) -> Option<TimeDelta> {
        match dataset {
            Dataset::Price => self.price_after,
            Dataset::Sentiment => self.sentiment_after,
            Dataset::Flow => self.flow_after,
            Dataset::Indicator => self.indicator_after,
        }
    }
}

impl Default for CompressionPolicy {
    fn default() -> Self {
        Self {
            price_after: Some(TimeDelta::days(7)),
            sentiment_after: Some(TimeDelta::days(14)),
            flow_after: Some(TimeDelta::days(7)),
            indicator_after: Some(TimeDelta::days(7)),
        }
    }
}

/// How aggregates are kept up to date: each refresh covers `[now - start_offset,
/// now - end_offset)`, every `schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefreshPolicy {
    /// How far back a scheduled refresh reaches (default 3 days).
    pub start_offset: TimeDelta,
    /// How close to "now" it stops (default 1 minute).
    pub end_offset: TimeDelta,
    /// How often it runs (default 5 minutes).
    pub schedule: TimeDelta,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            start_offset: TimeDelta::days(3),
            end_offset: TimeDelta::minutes(1),
            schedule: TimeDelta::minutes(5),
        }
    }
}

/// Every policy a backend applies with [`TimeSeriesStore::apply_policies`](crate::TimeSeriesStore::apply_policies).
///
/// SQL stores keep them in the database (table `marketseries_policies`, created by
/// `migrate` with [`Policies::default`]: no retention), so every process, `stats` and the
/// server's jobs see the same ones; [`TimeSeriesStore::policies`](crate::TimeSeriesStore::policies)
/// reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Policies {
    /// Retention horizons.
    pub retention: RetentionPolicy,
    /// Compression delays.
    pub compression: CompressionPolicy,
    /// Aggregate refresh.
    pub refresh: RefreshPolicy,
}

impl Policies {
    /// Checks that the policies are coherent.
    ///
    /// # Errors
    /// [`Error::Config`] when a duration is not positive, a retention exceeds 100 years, the
    /// refresh window is empty, or a
    /// retention horizon would cut into the aggregates' refresh window (the refresh would
    /// then re-materialize buckets from data retention already dropped).
    pub fn validate(&self) -> Result<()> {
        let r = &self.refresh;
        if r.schedule <= TimeDelta::zero() || r.end_offset < TimeDelta::zero() {
            return Err(Error::Config(
                "refresh schedule must be positive and end_offset not negative".into(),
            ));
        }
        if r.start_offset <= r.end_offset {
            return Err(Error::Config(format!(
                "refresh start_offset ({}) must be larger than end_offset ({})",
                r.start_offset, r.end_offset
            )));
        }
        let longest = TimeDelta::days(365 * 100);
        for d in Dataset::ALL {
            if let Some(h) = self.retention.horizon(d) {
                if h > longest {
                    return Err(Error::Config(format!(
                        "{d} retention ({h}) is longer than 100 years; use `None` to keep data forever"
                    )));
                }
                if h <= r.start_offset {
                    return Err(Error::Config(format!(
                        "{d} retention ({h}) must be longer than the refresh start_offset ({}): \
                         retention would cut into the aggregates' refresh window",
                        r.start_offset
                    )));
                }
            }
        }
        for d in Dataset::ALL {
            if self
                .compression
                .after(d)
                .is_some_and(|a| a <= TimeDelta::zero())
            {
                return Err(Error::Config(format!(
                    "{d} compression delay must be positive"
                )));
            }
        }
        Ok(())
    }
}

/// What one retention run removed from one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionAction {
    /// Dataset.
    pub dataset: Dataset,
    /// Rows older than this were eligible; no row at or after it was removed.
    pub cutoff: DateTime<Utc>,
    /// How many units were removed.
    pub removed: u64,
    /// What `removed` counts: `rows`, `partitions` or `chunks`.
    pub unit: &'static str,
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// One entry per dataset with a horizon.
    pub actions: Vec<RetentionAction>,
}

/// Size and layout of one table (or hypertable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStats {
    /// Table name. The four datasets are always reported as `candles`, `sentiment`,
    /// `flows` and `indicators` (the conformance suite looks them up by these names),
    /// whatever the backend calls its tables.
    pub name: String,
    /// Exact number of rows (not a planner estimate).
    pub rows: u64,
    /// Partitions or chunks.
    pub partitions: u64,
    /// Bytes on disk including indexes, when known.
    pub total_bytes: Option<u64>,
    /// Bytes before compression, for compressed tables.
    pub uncompressed_bytes: Option<u64>,
    /// Bytes after compression, for compressed tables.
    pub compressed_bytes: Option<u64>,
}

impl TableStats {
    /// Fraction of space saved by compression, `1 - after / before`, in percent.
    pub fn compression_saving_percent(&self) -> Option<f64> {
        let before = self.uncompressed_bytes?;
        let after = self.compressed_bytes?;
        if before == 0 {
            return None;
        }
        Some(100.0 * (1.0 - ratio(after, before)))
    }
}

/// `a / b` for byte counts; precision loss beyond 2^53 bytes does not matter for a ratio.
fn ratio(a: u64, b: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let r = a as f64 / b as f64;
    r
}

/// Freshness of one aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AggregateStats {
    /// Aggregate (view or rollup table) name.
    pub name: String,
    /// Everything before this instant is materialized.
    pub watermark: Option<DateTime<Utc>>,
}

/// One background job (policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStats {
    /// Job id.
    pub id: i64,
    /// What it does.
    pub name: String,
    /// When it last ran.
    pub last_run: Option<DateTime<Utc>>,
    /// Whether the last run succeeded.
    pub last_succeeded: Option<bool>,
    /// Failures since creation.
    pub failures: u64,
    /// The error of the last run, when it failed.
    pub last_error: Option<String>,
    /// When it runs next (`None`: not scheduled, or not known).
    pub next_start: Option<DateTime<Utc>>,
    /// How often it runs.
    pub schedule: Option<TimeDelta>,
    /// Whether it runs inside the process that started it (plain PostgreSQL's refresher)
    /// rather than on the server: it stops when that process exits.
    pub in_process: bool,
}

/// What a store reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Backend name.
    pub backend: &'static str,
    /// The stored policies.
    pub policies: Policies,
    /// Per table.
    pub tables: Vec<TableStats>,
    /// Per aggregate.
    pub aggregates: Vec<AggregateStats>,
    /// Per job.
    pub jobs: Vec<JobStats>,
    /// Writes (and maintenance statements) this store value and its clones repeated after
    /// a retryable failure, by reason ([`crate::Error::retry_reason`]: a SQLSTATE, `connection-lost`,
    /// `ambiguous-commit`, `checkout-timeout`), since it was opened; empty when none was.
    pub write_retries: std::collections::BTreeMap<String, u64>,
}

/// One committed step of a refresh, as
/// [`TimeSeriesStore::refresh_with_progress`](crate::TimeSeriesStore::refresh_with_progress)
/// reports it. A refresh of a large backlog runs in bounded steps that each commit on their
/// own, so an interrupted refresh keeps the steps it reported and the next one resumes
/// after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshProgress {
    /// The dataset whose aggregates the step brought up to date.
    pub dataset: Dataset,
    /// What the step refreshed: an aggregate's name on TimescaleDB (`ohlcv_5m`; one step
    /// per refresh window of each aggregate), `ohlcv rollups` on plain PostgreSQL (one step
    /// rebuilds every rollup over a part of the pending spans), `aggregates` in memory.
    pub target: String,
    /// Steps committed so far by this refresh, this one included (the first report says 1).
    pub step: u64,
    /// How many steps the refresh makes at most, when known at its start (plain
    /// PostgreSQL and TimescaleDB know it; a refresh may end before the last one when the
    /// work ran out early).
    pub steps: Option<u64>,
    /// Raw time the step covered: the window on TimescaleDB; on plain PostgreSQL the
    /// whole UTC days of pending spans it consumed, summed over series (a series-day counts
    /// once however many candles it holds).
    pub covered: TimeDelta,
    /// Every raw time before this instant that the step was given is up to date: the end
    /// of the window on TimescaleDB; on plain PostgreSQL the day before which every
    /// series' pending spans were consumed. `None` when not known.
    pub through: Option<DateTime<Utc>>,
    /// Work left after the step, in the unit of [`RefreshProgress::covered`], when known
    /// (plain PostgreSQL: what was pending as the step started, less what it took; zero in
    /// the last step of a refresh that consumed everything).
    pub remaining: Option<TimeDelta>,
}

impl fmt::Display for RefreshProgress {
    /// `refresh: ohlcv_5m: step 3 of 40 (through 2024-03-01 00:00:00 UTC)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refresh: {}: step {}", self.target, self.step)?;
        if let Some(steps) = self.steps {
            write!(f, " of {steps}")?;
        }
        if let Some(through) = self.through {
            write!(f, " (through {through})")?;
        }
        Ok(())
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriteSummary {
    /// Records received.
    pub received: usize,
    /// Distinct natural keys among them (duplicates inside a batch: the last one wins).
    pub distinct: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_inside_refresh_window_is_a_config_error() {
        let mut p = Policies::default();
        assert!(p.validate().is_ok());
        p.retention.sentiment = Some(TimeDelta::days(2));
        assert_eq!(p.validate().unwrap_err().kind(), crate::ErrorKind::Config);
    }

    #[test]
    fn nothing_expires_by_default_and_the_seed_horizons_are_opt_in() {
        let p = Policies::default();
        for d in Dataset::ALL {
            assert_eq!(p.retention.horizon(d), None, "{d}");
        }
        assert_eq!(RetentionPolicy::SEED.price, Some(TimeDelta::days(365)));
        let mut r = RetentionPolicy::FOREVER;
        *r.horizon_mut(Dataset::Flow) = Some(TimeDelta::days(30));
        assert_eq!(r.horizon(Dataset::Flow), Some(TimeDelta::days(30)));
        let mut c = CompressionPolicy::default();
        *c.after_mut(Dataset::Sentiment) = None;
        assert_eq!(c.after(Dataset::Sentiment), None);
    }

    #[test]
    fn indicator_policies_are_covered() {
        let p = Policies {
            retention: RetentionPolicy::SEED,
            ..Policies::default()
        };
        assert_eq!(Dataset::ALL.len(), 4);
        assert_eq!(Dataset::Indicator.as_str(), "indicator");
        assert_eq!(
            p.retention.horizon(Dataset::Indicator),
            Some(TimeDelta::days(365))
        );
        assert_eq!(
            p.compression.after(Dataset::Indicator),
            Some(TimeDelta::days(7))
        );
        let mut bad = p;
        bad.retention.indicator = Some(TimeDelta::days(1));
        assert_eq!(bad.validate().unwrap_err().kind(), crate::ErrorKind::Config);
        let mut bad = p;
        bad.retention.indicator = Some(TimeDelta::days(365 * 101));
        assert_eq!(bad.validate().unwrap_err().kind(), crate::ErrorKind::Config);
        let mut bad = p;
        bad.compression.indicator_after = Some(TimeDelta::zero());
        assert_eq!(bad.validate().unwrap_err().kind(), crate::ErrorKind::Config);
        let mut forever = p;
        forever.retention.indicator = None;
        forever.compression.indicator_after = None;
        assert!(forever.validate().is_ok());
    }
}
