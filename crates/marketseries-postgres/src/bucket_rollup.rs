//! Hourly and daily sentiment and flow rollups (`sentiment_1h`, `sentiment_1d`, `flows_1h`,
//! `flows_1d`), refreshed synchronously (unlike the OHLCV rollups), in the writer's
//! transaction, by recomputing every bucket in each contiguous run of affected buckets per
//! asset from raw rows.
//!
//! A recomputation sees only committed raw rows (and its own), so two writers of the same
//! asset and hour under READ COMMITTED would each miss the other's row and the last commit
//! would win. Each writer therefore first takes a transaction-scoped advisory lock per
//! (kind, asset), in asset order (so that two writers never wait on each other in a
//! cycle): the second writer recomputes after the first has committed, and sees its rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use marketseries_core::{AggregateBucket, Interval};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use marketseries_sql::schema;

use crate::rollup::runs;

pub(crate) use marketseries_sql::schema::BUCKETS;

/// Which raw dataset a rollup summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `sentiment` into `sentiment_1h` / `sentiment_1d`.
    Sentiment,
    /// `flows` into `flows_1h` / `flows_1d`.
    Flows,
}

impl Kind {
    /// Rollup table name (derived from constants and a parsed interval only).
    pub(crate) fn table(self, bucket: AggregateBucket) -> String {
        match self {
            Self::Sentiment => schema::sentiment_aggregate(bucket),
            Self::Flows => schema::flow_aggregate(bucket),
        }
    }

    /// First key of the advisory locks that serialize this kind's rollup writers (the
    /// two-key form, a key space apart from the one-key locks partition creation takes).
    fn lock_space(self) -> i32 {
        match self {
            Self::Sentiment => 0x6d73_0001,
            Self::Flows => 0x6d73_0002,
        }
    }

    fn refresh_sql(self, bucket: AggregateBucket) -> String {
        let t = self.table(bucket);
        match self {
            Self::Sentiment => format!(
                "INSERT INTO {t} (asset, time, score_sum, readings, min_score, max_score, \
                 mentions, engagement) \
                 SELECT asset, date_bin($1::text::interval, time, $2), sum(score), count(*), \
                        min(score), max(score), sum(mention_volume)::bigint, sum(engagement) \
                 FROM sentiment WHERE asset = $3 AND time >= $4 AND time < $5 GROUP BY asset, 2 \
                 ON CONFLICT (asset, time) DO UPDATE SET score_sum = EXCLUDED.score_sum, \
                 readings = EXCLUDED.readings, min_score = EXCLUDED.min_score, \
                 max_score = EXCLUDED.max_score, mentions = EXCLUDED.mentions, \
                 engagement = EXCLUDED.engagement"
            ),
            Self::Flows => format!(
                "INSERT INTO {t} (asset, time, flow_type, amount, usd_value, transactions) \
                 SELECT asset, date_bin($1::text::interval, time, $2), flow_type, sum(amount), \
                        sum(usd_value), count(*) \
                 FROM flows WHERE asset = $3 AND time >= $4 AND time < $5 \
                 GROUP BY asset, 2, flow_type \
                 ON CONFLICT (asset, time, flow_type) DO UPDATE SET amount = EXCLUDED.amount, \
                 usd_value = EXCLUDED.usd_value, transactions = EXCLUDED.transactions"
            ),
        }
    }
}

/// Recomputes the hourly and daily buckets touched by rows at `(asset, time)`.
pub(crate) async fn refresh_for<'a>(
    tx: &Transaction<'_>,
    kind: Kind,
    rows: impl Iterator<Item = (&'a str, DateTime<Utc>)> + Clone,
) -> Result<(), tokio_postgres::Error> {
    let assets: BTreeSet<&str> = rows.clone().map(|(asset, _)| asset).collect();
    for asset in assets {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&kind.lock_space(), &asset],
        )
        .await?;
    }
    for bucket in BUCKETS {
        let width: Interval = bucket.interval();
        let mut by_asset: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
        for (asset, t) in rows.clone() {
            by_asset.entry(asset).or_default().insert(width.floor(t));
        }
        let sql = kind.refresh_sql(bucket);
        let stride = schema::stride(width);
        let origin = width.origin();
        for (asset, buckets) in &by_asset {
            for (from, to) in runs(width, buckets) {
                let params: [&(dyn ToSql + Sync); 5] = [&stride, &origin, asset, &from, &to];
                tx.execute(sql.as_str(), &params).await?;
            }
        }
    }
    Ok(())
}
