//! Core of marketseries: domain types, intervals, validation, the error type, the store
//! traits, the query router, backend capabilities and the in-memory reference store.
//!
//! Nothing here talks to a database; backends live in their own crates and implement
//! [`TimeSeriesStore`]. Every backend must give the same answers as [`MemoryStore`] (the
//! conformance suite in `marketseries-testkit` checks that).
//!
//! ```
//! use marketseries_core::{Interval, QueryRouter, OhlcvQuery, TimeRange, MemoryStore, TimeSeriesStore};
//! let range = TimeRange::new(
//!     "2024-01-01T00:00:00Z".parse().unwrap(),
//!     "2024-01-02T00:00:00Z".parse().unwrap(),
//! ).unwrap();
//! let query = OhlcvQuery::new("BTCUSDT", "2h".parse().unwrap(), range);
//! let caps = MemoryStore::new().capabilities();
//! let route = QueryRouter::route(&query, &[Interval::M1], &caps).unwrap();
//! assert_eq!(route.to_string(), "re-aggregated from the 1h aggregate (native 1m)");
//! ```

pub mod candle;
pub mod capabilities;
pub mod error;
pub mod expiry;
pub mod flow;
pub mod indicator;
pub mod interval;
pub mod maintenance;
pub mod memory;
pub mod metrics;
pub mod router;
pub mod scan;
pub mod sentiment;
pub mod store;
pub mod time;
pub mod validate;

pub use candle::{
    aggregate_bars, Bar, Candle, MarketOverview, OhlcvQuery, OhlcvSeries, PriceChange, PricePoint,
    PriceRange, VolumeLevel, VolumeProfileQuery,
};
pub use capabilities::{AggregateCapability, Capabilities, OHLCV_AGGREGATE_WIDTHS};
pub use error::{Error, ErrorKind, Result, TlsFailure, RETRYABLE_SQLSTATES};
pub use expiry::{ExpiringData, Expiry, PolicyReport, RetentionPreview};
pub use flow::{ExchangeFlow, Flow, FlowAggregate, FlowType, FlowVelocity, NetFlow, WhaleQuery};
pub use indicator::{IndicatorQuery, IndicatorSeries, IndicatorValue};
pub use interval::{Interval, Unit};
pub use maintenance::{
    AggregateStats, CompressionPolicy, Dataset, JobStats, Policies, RefreshPolicy, RefreshProgress,
    RetentionAction, RetentionPolicy, RetentionReport, StoreStats, TableStats, WriteSummary,
};
pub use memory::MemoryStore;
pub use metrics::{MetricsOptions, MetricsStore};
pub use router::{AggregateRead, Freshness, QueryRouter, Route};
pub use scan::{Records, ScanPage, ScanQuery};
pub use sentiment::{
    AggregateBucket, SentimentAggregate, SentimentDistribution, SentimentLabel, SentimentReading,
    SentimentSummary, SentimentTrend, SentimentWindow, SourceSentiment,
};
pub use store::{
    FlowStore, IndicatorStore, PriceStore, RefreshObserver, SentimentStore, TimeSeriesStore,
};
pub use time::{Clock, FixedClock, SystemClock, TimeRange};
pub use validate::{Problem, RecordKind, ValidationError};
