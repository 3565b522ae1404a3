//! The query router: a pure function from an OHLCV request, the symbol's native intervals
//! and the backend's capabilities to the route that serves it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::candle::OhlcvQuery;
use crate::capabilities::Capabilities;
use crate::error::{Error, Result};
use crate::interval::Interval;

/// How fresh an OHLCV answer must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Include rows written a moment ago. Aggregates are used only where the backend's
    /// aggregates are real-time; corrections to already materialized buckets appear after
    /// the next refresh (use [`Freshness::Refreshed`] to force one).
    #[default]
    RealTime,
    /// Refresh the aggregates over the requested range first, then read: reflects late and
    /// corrected data exactly, at the cost of the refresh.
    Refreshed,
    /// Read only what is materialized, without the real-time tail. Fastest; may be stale.
    MaterializedOnly,
}

/// How a route reads an aggregate: part of the [`Route`], so no store derives it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateRead {
    /// The real-time aggregate: what is materialized plus rows not yet materialized.
    RealTime,
    /// Refresh the aggregates over the range first, then read the real-time aggregate.
    RefreshFirst,
    /// Only what is materialized (no real-time tail).
    MaterializedOnly,
}

impl AggregateRead {
    /// The read a request of `freshness` asks for.
    pub fn for_freshness(freshness: Freshness) -> Self {
        match freshness {
            Freshness::RealTime => Self::RealTime,
            Freshness::Refreshed => Self::RefreshFirst,
            Freshness::MaterializedOnly => Self::MaterializedOnly,
        }
    }
}

/// How an OHLCV request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Route {
    /// The symbol has no candles at all: the answer is empty.
    NoData,
    /// Aggregate raw candles of native interval `native` into the requested buckets.
    Raw {
        /// Native interval read.
        native: Interval,
    },
    /// Read the materialized aggregate of exactly the requested interval.
    Materialized {
        /// The aggregate's interval (equals the request).
        aggregate: Interval,
        /// Native interval whose rows are read from it.
        native: Interval,
        /// How the aggregate is read.
        read: AggregateRead,
    },
    /// Re-aggregate a finer materialized aggregate into the requested buckets.
    ReAggregate {
        /// The aggregate read.
        aggregate: Interval,
        /// Native interval whose rows are read from it.
        native: Interval,
        /// How the aggregate is read.
        read: AggregateRead,
    },
}

impl Route {
    /// The native interval the answer comes from, if any.
    pub fn native(&self) -> Option<Interval> {
        match *self {
            Self::NoData => None,
            Self::Raw { native }
            | Self::Materialized { native, .. }
            | Self::ReAggregate { native, .. } => Some(native),
        }
    }

    /// How the aggregate is read, if one is.
    pub fn read(&self) -> Option<AggregateRead> {
        match *self {
            Self::Materialized { read, .. } | Self::ReAggregate { read, .. } => Some(read),
            _ => None,
        }
    }

    /// The aggregate read, if any.
    pub fn aggregate(&self) -> Option<Interval> {
        match *self {
            Self::Materialized { aggregate, .. } | Self::ReAggregate { aggregate, .. } => {
                Some(aggregate)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoData => f.write_str("no data"),
            Self::Raw { native } => write!(f, "raw {native} candles"),
            Self::Materialized {
                aggregate,
                native,
                read,
            } => {
                write!(f, "materialized {aggregate} aggregate (native {native})")?;
                read.fmt_suffix(f)
            }
            Self::ReAggregate {
                aggregate,
                native,
                read,
            } => {
                write!(
                    f,
                    "re-aggregated from the {aggregate} aggregate (native {native})"
                )?;
                read.fmt_suffix(f)
            }
        }
    }
}

impl AggregateRead {
    fn fmt_suffix(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RealTime => Ok(()),
            Self::RefreshFirst => f.write_str(", refreshed first"),
            Self::MaterializedOnly => f.write_str(", materialized part only"),
        }
    }
}

/// Chooses routes for OHLCV requests. Stateless; see [`QueryRouter::route`].
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryRouter;

impl QueryRouter {
    /// The route for `query`, given the native intervals the symbol has (`natives`, any
    /// order) and the backend's capabilities.
    ///
    /// 1. No natives: [`Route::NoData`].
    /// 2. The finest native `N` that divides the requested interval `I` is chosen; if none
    ///    does, [`Error::UnsupportedInterval`].
    /// 3. If aggregates may be used (always for [`Freshness::Refreshed`] and
    ///    [`Freshness::MaterializedOnly`]; for [`Freshness::RealTime`] only when the backend's
    ///    aggregates are real-time), the coarsest aggregate `M` holding `N`'s rows with
    ///    `M | I` serves it: [`Route::Materialized`] when `M == I`, else
    ///    [`Route::ReAggregate`], read as the freshness asks ([`AggregateRead`]).
    /// 4. Otherwise [`Route::Raw`].
    ///
    /// # Errors
    /// [`Error::UnsupportedInterval`] as above.
    pub fn route(query: &OhlcvQuery, natives: &[Interval], caps: &Capabilities) -> Result<Route> {
        if natives.is_empty() {
            return Ok(Route::NoData);
        }
        let requested = query.interval;
        let Some(native) = natives
            .iter()
            .copied()
            .filter(|n| n.divides(requested))
            .min()
        else {
            let mut available = natives.to_vec();
            available.sort();
            available.dedup();
            return Err(Error::UnsupportedInterval {
                symbol: query.symbol.clone(),
                requested,
                available,
            });
        };
        let use_aggregates = match query.freshness {
            Freshness::RealTime => caps.real_time_aggregates,
            Freshness::Refreshed | Freshness::MaterializedOnly => true,
        };
        let read = AggregateRead::for_freshness(query.freshness);
        let best = use_aggregates
            .then(|| {
                caps.aggregates
                    .iter()
                    .filter(|a| a.holds_native(native) && a.interval.divides(requested))
                    .map(|a| a.interval)
                    .max()
            })
            .flatten();
        Ok(match best {
            Some(aggregate) if aggregate == requested => Route::Materialized {
                aggregate,
                native,
                read,
            },
            Some(aggregate) => Route::ReAggregate {
                aggregate,
                native,
                read,
            },
            None => Route::Raw { native },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::AggregateCapability;
    use crate::error::ErrorKind;
    use crate::time::TimeRange;
    use chrono::DateTime;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn query(i: &str, freshness: Freshness) -> OhlcvQuery {
        let range = TimeRange::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            DateTime::from_timestamp(86_400, 0).unwrap(),
        )
        .unwrap();
        OhlcvQuery::new("BTC", iv(i), range).with_freshness(freshness)
    }

    fn caps(real_time: bool) -> Capabilities {
        Capabilities {
            aggregates: ["5m", "15m", "1h", "4h", "1d"]
                .iter()
                .map(|s| AggregateCapability::flat(iv(s)))
                .collect(),
            real_time_aggregates: real_time,
            ..Capabilities::raw_only("test")
        }
    }

    #[test]
    fn picks_coarsest_dividing_aggregate() {
        let c = caps(true);
        let natives = [iv("1m")];
        let r = |i| QueryRouter::route(&query(i, Freshness::RealTime), &natives, &c).unwrap();
        assert_eq!(r("1h").aggregate(), Some(iv("1h")));
        assert!(matches!(r("1h"), Route::Materialized { .. }));
        assert!(matches!(r("2h"), Route::ReAggregate { aggregate, .. } if aggregate == iv("1h")));
        assert!(matches!(r("1w"), Route::ReAggregate { aggregate, .. } if aggregate == iv("1d")));
        assert!(matches!(r("30m"), Route::ReAggregate { aggregate, .. } if aggregate == iv("15m")));
        assert_eq!(r("3m"), Route::Raw { native: iv("1m") });
    }

    #[test]
    fn natives_never_mix_and_unsupported_is_typed() {
        let c = caps(true);
        let err =
            QueryRouter::route(&query("30m", Freshness::RealTime), &[iv("1h")], &c).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedInterval);
        let r = QueryRouter::route(&query("4h", Freshness::RealTime), &[iv("1h"), iv("1m")], &c)
            .unwrap();
        assert_eq!(r.native(), Some(iv("1m")));
        assert_eq!(
            QueryRouter::route(&query("1h", Freshness::RealTime), &[], &c).unwrap(),
            Route::NoData
        );
    }

    #[test]
    fn freshness_controls_aggregate_use() {
        let c = caps(false);
        let natives = [iv("1m")];
        let rt = QueryRouter::route(&query("1h", Freshness::RealTime), &natives, &c).unwrap();
        assert_eq!(rt, Route::Raw { native: iv("1m") });
        let fresh = QueryRouter::route(&query("1h", Freshness::Refreshed), &natives, &c).unwrap();
        assert!(matches!(
            fresh,
            Route::Materialized {
                read: AggregateRead::RefreshFirst,
                ..
            }
        ));
    }

    #[test]
    fn the_route_says_how_the_aggregate_is_read() {
        let c = caps(true);
        let natives = [iv("1m")];
        let read = |i, f| {
            QueryRouter::route(&query(i, f), &natives, &c)
                .unwrap()
                .read()
        };
        assert_eq!(
            read("1h", Freshness::RealTime),
            Some(AggregateRead::RealTime)
        );
        assert_eq!(
            read("2h", Freshness::Refreshed),
            Some(AggregateRead::RefreshFirst)
        );
        assert_eq!(
            read("1h", Freshness::MaterializedOnly),
            Some(AggregateRead::MaterializedOnly)
        );
        assert_eq!(read("3m", Freshness::MaterializedOnly), None);
        let shown = QueryRouter::route(&query("2h", Freshness::MaterializedOnly), &natives, &c)
            .unwrap()
            .to_string();
        assert!(shown.ends_with("materialized part only"), "{shown}");
    }
}
