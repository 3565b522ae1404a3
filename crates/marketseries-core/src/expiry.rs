//! What a policy change would make expire, and the confirmation it needs.
//!
//! Retention is the only maintenance that deletes. A change of policies that would make
//! stored rows expire (a horizon set where there was none, or shortened) is refused unless
//! the caller confirms it ([`Expiry::Confirmed`]); [`TimeSeriesStore::preview_policies`]
//! is the dry run that says what it would drop.
//!
//! [`TimeSeriesStore::preview_policies`]: crate::TimeSeriesStore::preview_policies

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::maintenance::{Dataset, JobStats, Policies};

/// Whether [`TimeSeriesStore::apply_policies`](crate::TimeSeriesStore::apply_policies) may
/// store policies under which rows already stored expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Refuse ([`Error::Unconfirmed`](crate::Error::Unconfirmed)) when the new policies
    /// would make any stored row expire that the stored policies keep; nothing changes.
    Refuse,
    /// The caller has seen the preview and accepts that those rows are dropped by the next
    /// retention run (on TimescaleDB possibly by the server's own job, at once).
    Confirmed,
}

/// The datasets whose horizon `new` sets or shortens against `stored`, each with its new
/// cutoff by `now`: the only ones under which a change of policies can make rows expire.
pub fn shortened(
    stored: &Policies,
    new: &Policies,
    now: DateTime<Utc>,
) -> Vec<(Dataset, DateTime<Utc>)> {
    Dataset::ALL
        .into_iter()
        .filter_map(|d| {
            let h = new.retention.horizon(d)?;
            let keeps_longer = stored.retention.horizon(d).is_some_and(|old| old <= h);
            (!keeps_longer).then(|| (d, cutoff(now, h)))
        })
        .collect()
}

/// Rows older than this are past `horizon` at `now` (saturating at the earliest time).
pub fn cutoff(now: DateTime<Utc>, horizon: TimeDelta) -> DateTime<Utc> {
    now.checked_sub_signed(horizon)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Rows of one dataset that a retention run would drop under some policies, by the store's
/// clock at the time of the preview. Retention drops whole partitions or chunks, so these
/// are exactly the rows of the partitions that end at or before the cutoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiringData {
    /// Dataset.
    pub dataset: Dataset,
    /// The table the rows are in (`candles`, `sentiment`, `flows`, `indicators`).
    pub table: &'static str,
    /// Rows older than the horizon measured from "now".
    pub cutoff: DateTime<Utc>,
    /// Rows that would be dropped.
    pub rows: u64,
    /// Time of the oldest of them.
    pub oldest: Option<DateTime<Utc>>,
    /// Time of the newest of them.
    pub newest: Option<DateTime<Utc>>,
}

/// What a change of policies would make expire: one entry per dataset whose horizon the
/// change sets or shortens (datasets whose retention stays or grows cannot lose rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPreview {
    /// Per dataset whose horizon is new or shorter.
    pub expiring: Vec<ExpiringData>,
}

impl RetentionPreview {
    /// Whether any stored row would be dropped.
    pub fn drops_data(&self) -> bool {
        self.expiring.iter().any(|e| e.rows > 0)
    }

    /// Rows that would be dropped, over every dataset.
    pub fn rows(&self) -> u64 {
        self.expiring.iter().map(|e| e.rows).sum()
    }
}

impl fmt::Display for RetentionPreview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in self.expiring.iter().filter(|e| e.rows > 0) {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{} rows of {} ({})", e.rows, e.table, e.dataset)?;
            if let (Some(lo), Some(hi)) = (e.oldest, e.newest) {
                write!(
                    f,
                    " from {} to {}",
                    lo.format("%Y-%m-%dT%H:%M:%SZ"),
                    hi.format("%Y-%m-%dT%H:%M:%SZ")
                )?;
            }
        }
        if first {
            f.write_str("no stored rows")?;
        }
        Ok(())
    }
}

/// What [`TimeSeriesStore::apply_policies`](crate::TimeSeriesStore::apply_policies) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// The policies now stored.
    pub policies: Policies,
    /// What the change made expire (confirmed by the caller where it drops rows).
    pub preview: RetentionPreview,
    /// The jobs that now run on their own: TimescaleDB's server jobs (with their next
    /// start), plain PostgreSQL's in-process rollup refresher.
    pub jobs: Vec<JobStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rows: u64) -> ExpiringData {
        ExpiringData {
            dataset: Dataset::Price,
            table: "candles",
            cutoff: DateTime::UNIX_EPOCH,
            rows,
            oldest: Some(DateTime::UNIX_EPOCH),
            newest: Some(DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn only_new_or_shorter_horizons_can_expire_rows() {
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(1000);
        let forever = Policies::default();
        let mut seed = forever;
        seed.retention = crate::RetentionPolicy::SEED;
        let set = shortened(&forever, &seed, now);
        assert_eq!(set.len(), 4);
        assert!(set.contains(&(Dataset::Price, now - TimeDelta::days(365))));
        assert!(shortened(&seed, &seed, now).is_empty());
        assert!(shortened(&seed, &forever, now).is_empty());
        let mut longer = seed;
        longer.retention.price = Some(TimeDelta::days(400));
        assert!(shortened(&seed, &longer, now).is_empty());
        let mut shorter = seed;
        shorter.retention.flow = Some(TimeDelta::days(30));
        assert_eq!(
            shortened(&seed, &shorter, now),
            vec![(Dataset::Flow, now - TimeDelta::days(30))]
        );
    }

    #[test]
    fn a_preview_drops_data_only_when_some_dataset_has_rows() {
        let none = RetentionPreview {
            expiring: vec![entry(0)],
        };
        assert!(!none.drops_data());
        assert_eq!(none.to_string(), "no stored rows");
        let some = RetentionPreview {
            expiring: vec![entry(0), entry(3)],
        };
        assert!(some.drops_data());
        assert_eq!(some.rows(), 3);
        assert_eq!(
            some.to_string(),
            "3 rows of candles (price) from 1970-01-01T00:00:00Z to 1970-01-01T00:00:00Z"
        );
    }
}
