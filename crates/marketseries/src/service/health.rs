//! What `/health` judges: the database answered, and no aggregate lags further behind the
//! clock than its own bucket plus the bound.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{AggregateStats, Interval};
use serde_json::{json, Value};

/// One aggregate's lag as `/health` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lag {
    /// The aggregate.
    pub(crate) name: String,
    /// How far its watermark is behind the clock.
    pub(crate) lag: TimeDelta,
    /// Its bucket width, when its name ends in one (`ohlcv_1h`): a watermark is the end of
    /// the last complete bucket, so up to one bucket of lag is the aggregate working.
    pub(crate) bucket: TimeDelta,
    /// Whether `lag - bucket` exceeds the bound.
    pub(crate) over: bool,
}

/// The bucket width an aggregate's name ends in (`ohlcv_15m` -> 15 minutes), else zero.
fn bucket_of(name: &str) -> TimeDelta {
    name.rsplit('_')
        .next()
        .and_then(|suffix| suffix.parse::<Interval>().ok())
        .map_or(TimeDelta::zero(), |iv| iv.duration())
}

/// The lag of every aggregate with a watermark at `now`, judged against `bound` (`None`:
/// never over).
pub(crate) fn lags(
    aggregates: &[AggregateStats],
    now: DateTime<Utc>,
    bound: Option<TimeDelta>,
) -> Vec<Lag> {
    aggregates
        .iter()
        .filter_map(|agg| {
            let watermark = agg.watermark?;
            let lag = now - watermark;
            let bucket = bucket_of(&agg.name);
            Some(Lag {
                name: agg.name.clone(),
                lag,
                bucket,
                over: bound.is_some_and(|b| lag - bucket > b),
            })
        })
        .collect()
}

/// The `/health` body: `status` (`ok` or `unavailable`), the database's answer, and each
/// aggregate's lag in seconds.
pub(crate) fn body(
    database: &Result<(), String>,
    lags: &[Lag],
    bound: Option<TimeDelta>,
) -> (bool, Value) {
    let healthy = database.is_ok() && lags.iter().all(|l| !l.over);
    let aggregates: Vec<Value> = lags
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "lag_seconds": l.lag.num_seconds(),
                "bucket_seconds": l.bucket.num_seconds(),
                "over_bound": l.over,
            })
        })
        .collect();
    let value = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "database": match database {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.clone(),
        },
        "max_lag_seconds": bound.map(|b| b.num_seconds()),
        "aggregates": aggregates,
    });
    (healthy, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(name: &str, watermark: Option<&str>) -> AggregateStats {
        AggregateStats {
            name: name.into(),
            watermark: watermark.map(|w| w.parse().expect("time")),
        }
    }

    #[test]
    fn lag_beyond_the_bucket_and_the_bound_is_over() {
        let now: DateTime<Utc> = "2024-06-15T12:00:00Z".parse().expect("now");
        let aggs = [
            agg("ohlcv_1d", Some("2024-06-15T00:00:00Z")),
            agg("ohlcv_5m", Some("2024-06-15T10:50:00Z")),
            agg("sentiment_hourly", Some("2024-06-15T11:30:00Z")),
            agg("flows_1h", None),
        ];
        let hour = Some(TimeDelta::hours(1));
        let l = lags(&aggs, now, hour);
        assert_eq!(l.len(), 3, "no watermark, no lag");
        assert!(!l[0].over, "12 h behind a daily bucket is on time");
        assert!(l[1].over, "70 min behind 5-minute buckets");
        assert_eq!(l[2].bucket, TimeDelta::zero());
        assert!(!l[2].over);
        let (healthy, body) = body(&Ok(()), &l, hour);
        assert!(!healthy);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["aggregates"][1]["lag_seconds"], 4_200);
        assert!(lags(&aggs, now, None).iter().all(|l| !l.over));
        let (healthy, body) = super::body(&Err("down".into()), &[], hour);
        assert!(!healthy);
        assert_eq!(body["database"], "down");
    }
}
