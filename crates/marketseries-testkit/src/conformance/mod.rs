//! The conformance suite: written once, run by every backend.
//!
//! Each check is a public async function taking a [`StoreFactory`]; it creates a fresh store
//! on a [`FixedClock`](marketseries_core::FixedClock), loads generated data into it and into
//! the in-memory reference store, and compares every answer (and, for OHLCV, a naive
//! aggregation). Checks panic with a message on failure, so they are test bodies. A check a
//! backend cannot run (per its [`Capabilities`](marketseries_core::Capabilities)) prints why,
//! loudly, and returns.
//!
//! A backend's test file runs the whole suite with one macro call:
//!
//! ```text
//! marketseries_testkit::conformance_tests!(MyFactory::new());
//! ```

mod approx;
mod fixtures;
mod flow;
mod indicator;
mod ingest;
mod maintenance;
mod price;
mod sentiment;

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, MemoryStore, Result, TimeSeriesStore};

pub use approx::Approx;
pub use fixtures::{fixture_now, Fixture};
pub use flow::flow_queries_match_reference;
pub use indicator::{
    indicator_bad_batch_is_atomic, indicator_queries_match_reference,
    indicator_reingest_is_idempotent, indicator_retention_keeps_rows_inside_window,
};
pub use ingest::{
    bad_arguments_are_typed_errors, bad_batch_is_atomic, duplicates_in_batch_last_wins,
    oversized_batch_is_rejected, reingest_is_idempotent,
};
pub use maintenance::{
    capabilities_are_coherent, policies_are_validated, retention_keeps_rows_inside_window,
    stats_count_rows,
};
pub use price::{
    late_correction_is_reflected, native_intervals_never_mix,
    off_grid_timestamps_fall_into_their_bucket, ohlcv_matches_reference,
    price_queries_match_reference, round_trip_is_exact,
};
pub use sentiment::sentiment_queries_match_reference;

/// Creates fresh, migrated, empty stores for the suite.
#[async_trait]
pub trait StoreFactory: Send + Sync {
    /// A new empty store (its own database) that reads "now" from `clock`.
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>>;
}

/// Factory for the in-memory reference store; runs the suite against the oracle itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

#[async_trait]
impl StoreFactory for MemoryFactory {
    async fn create(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn TimeSeriesStore>> {
        Ok(Arc::new(MemoryStore::with_clock(clock)))
    }
}

/// Names of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "round_trip_is_exact",
    "ohlcv_matches_reference",
    "off_grid_timestamps_fall_into_their_bucket",
    "native_intervals_never_mix",
    "late_correction_is_reflected",
    "price_queries_match_reference",
    "reingest_is_idempotent",
    "bad_batch_is_atomic",
    "duplicates_in_batch_last_wins",
    "oversized_batch_is_rejected",
    "bad_arguments_are_typed_errors",
    "sentiment_queries_match_reference",
    "flow_queries_match_reference",
    "indicator_queries_match_reference",
    "indicator_reingest_is_idempotent",
    "indicator_bad_batch_is_atomic",
    "retention_keeps_rows_inside_window",
    "indicator_retention_keeps_rows_inside_window",
    "stats_count_rows",
    "policies_are_validated",
    "capabilities_are_coherent",
];

/// Runs every check in turn (each on a fresh store).
pub async fn run_all(factory: &dyn StoreFactory) {
    round_trip_is_exact(factory).await;
    ohlcv_matches_reference(factory).await;
    off_grid_timestamps_fall_into_their_bucket(factory).await;
    native_intervals_never_mix(factory).await;
    late_correction_is_reflected(factory).await;
    price_queries_match_reference(factory).await;
    reingest_is_idempotent(factory).await;
    bad_batch_is_atomic(factory).await;
    duplicates_in_batch_last_wins(factory).await;
    oversized_batch_is_rejected(factory).await;
    bad_arguments_are_typed_errors(factory).await;
    sentiment_queries_match_reference(factory).await;
    flow_queries_match_reference(factory).await;
    indicator_queries_match_reference(factory).await;
    indicator_reingest_is_idempotent(factory).await;
    indicator_bad_batch_is_atomic(factory).await;
    retention_keeps_rows_inside_window(factory).await;
    indicator_retention_keeps_rows_inside_window(factory).await;
    stats_count_rows(factory).await;
    policies_are_validated(factory).await;
    capabilities_are_coherent(factory).await;
}

/// Expands to one `#[tokio::test]` per conformance check, each calling the check with the
/// factory expression (evaluated afresh in every test). The calling crate needs `tokio`
/// with the `macros` and `rt-multi-thread` features as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            round_trip_is_exact,
            ohlcv_matches_reference,
            off_grid_timestamps_fall_into_their_bucket,
            native_intervals_never_mix,
            late_correction_is_reflected,
            price_queries_match_reference,
            reingest_is_idempotent,
            bad_batch_is_atomic,
            duplicates_in_batch_last_wins,
            oversized_batch_is_rejected,
            bad_arguments_are_typed_errors,
            sentiment_queries_match_reference,
            flow_queries_match_reference,
            indicator_queries_match_reference,
            indicator_reingest_is_idempotent,
            indicator_bad_batch_is_atomic,
            retention_keeps_rows_inside_window,
            indicator_retention_keeps_rows_inside_window,
            stats_count_rows,
            policies_are_validated,
            capabilities_are_coherent,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let factory = $factory;
                $crate::conformance::$name(&factory).await;
            }
        )*
    };
}
