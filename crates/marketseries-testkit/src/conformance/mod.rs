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
mod concurrency;
mod fixtures;
mod flow;
mod indicator;
mod ingest;
mod maintenance;
mod policies;
mod price;
mod price_edges;
mod scan;
mod sentiment;

use std::sync::Arc;

use async_trait::async_trait;
use marketseries_core::{Clock, MemoryStore, Result, TimeSeriesStore};

pub use approx::Approx;
pub use fixtures::{fixture_now, Fixture};
crate::conformance_checks!(exports());

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
pub const CHECKS: &[&str] = crate::conformance_checks!(names());

/// Runs every check in turn (each on a fresh store).
pub async fn run_all(factory: &dyn StoreFactory) {
    crate::conformance_checks!(run(factory));
}

/// The conformance checks, declared once, each as `module::check`: the exports of this
/// module, [`CHECKS`], [`run_all`] and the tests [`conformance_tests!`] generates all
/// expand from this list, so they cannot disagree. Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_checks {
    ($mode:ident $args:tt) => {
        $crate::conformance_checks! { @apply $mode $args;
            price::round_trip_is_exact,
            price::ohlcv_matches_reference,
            price::off_grid_timestamps_fall_into_their_bucket,
            price::native_intervals_never_mix,
            price::late_correction_is_reflected,
            price::refresh_reports_its_steps,
            price::price_queries_match_reference,
            price_edges::price_edge_cases_match_reference,
            ingest::reingest_is_idempotent,
            ingest::bad_batch_is_atomic,
            ingest::duplicates_in_batch_last_wins,
            ingest::oversized_batch_is_rejected,
            ingest::bad_arguments_are_typed_errors,
            ingest::records_far_ahead_of_the_clock_are_rejected,
            ingest::engagement_is_bounded,
            concurrency::concurrent_writers_lose_nothing,
            sentiment::sentiment_queries_match_reference,
            flow::flow_queries_match_reference,
            indicator::indicator_queries_match_reference,
            indicator::indicator_reingest_is_idempotent,
            indicator::indicator_bad_batch_is_atomic,
            scan::scans_match_reference,
            maintenance::retention_keeps_rows_inside_window,
            indicator::indicator_retention_keeps_rows_inside_window,
            maintenance::stats_count_rows,
            maintenance::policies_are_validated,
            policies::nothing_expires_unless_stored,
            policies::preview_counts_what_retention_drops,
            policies::policies_are_stored,
            maintenance::capabilities_are_coherent,
        }
    };
    (@apply exports (); $($module:ident :: $name:ident),* $(,)?) => {
        $(pub use $module::$name;)*
    };
    (@apply names (); $($module:ident :: $name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
    (@apply run ($factory:expr); $($module:ident :: $name:ident),* $(,)?) => {
        $($name($factory).await;)*
    };
    (@apply tests ($factory:expr); $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let factory = $factory;
                $crate::conformance::$name(&factory).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per conformance check, each calling the check with the
/// factory expression (evaluated afresh in every test). The calling crate needs `tokio`
/// with the `macros` and `rt-multi-thread` features as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_checks!(tests($factory));
    };
}
