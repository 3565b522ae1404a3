//! Row counts per table as a store reports them ([`TimeSeriesStore::stats`], exact counts),
//! for tests that compare what is stored before and after an operation, or against the
//! reference store.

use std::collections::BTreeMap;

use marketseries_core::TimeSeriesStore;

/// Rows per table, by table name.
///
/// # Panics
/// When the store cannot report its statistics (a test failure).
pub async fn table_rows(store: &dyn TimeSeriesStore) -> BTreeMap<String, u64> {
    store
        .stats()
        .await
        .expect("stats")
        .tables
        .into_iter()
        .map(|t| (t.name, t.rows))
        .collect()
}
