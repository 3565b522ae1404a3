//! Strategies shared by the property tests.

// Shared by several test binaries, each a crate of its own with no public API.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use marketseries_core::{Interval, Unit};
use proptest::prelude::*;

/// Cases per property: `PROPTEST_CASES` when set, else 1,000.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

pub fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::Second),
        Just(Unit::Minute),
        Just(Unit::Hour),
        Just(Unit::Day),
        Just(Unit::Week),
    ]
}

/// Any valid interval.
pub fn interval() -> impl Strategy<Value = Interval> {
    (1u32..=400, unit()).prop_filter_map("too wide", |(c, u)| Interval::new(c, u).ok())
}

/// Intervals traders use, so that divisibility between two of them is common.
pub fn common_interval() -> impl Strategy<Value = Interval> {
    prop::sample::select(vec![
        "1s", "5s", "30s", "1m", "2m", "3m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "4h",
        "6h", "12h", "1d", "2d", "3d", "1w", "2w",
    ])
    .prop_map(|s| s.parse().unwrap())
}

/// A timestamp at microsecond precision in the supported span.
pub fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800_000_000).prop_map(|us| DateTime::from_timestamp_micros(us).unwrap())
}

/// A single-threaded runtime for driving the async store inside a property.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}
