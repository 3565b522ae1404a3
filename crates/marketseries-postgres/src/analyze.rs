//! Planner statistics for what a refresh wrote.
//!
//! Autovacuum analyzes a table some time after it changed (a minute or more after a bulk
//! load, and never a partitioned parent). Until then the planner sees freshly filled
//! partitions and rollup tables as empty, or a just emptied `ohlcv_pending` as full, and
//! reads right after an import or a refresh ran several times slower than the same reads
//! minutes later. So the refresh analyzes what its work (and the load before it) left
//! without statistics, by autovacuum's own default rule: never analyzed, or more than 50
//! rows plus 10% of the table changed since the last analyze. Tables that did not change
//! cost one catalog row each.

use std::collections::BTreeMap;

use diesel::sql_types::{Array, BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The partitions of `candles`, and the tables `$1` (`$2` rows written to each by the caller
/// just now, which the statistics views may not show yet: backends report their counts up
/// to a second after a commit), whose statistics are missing or stale (see the module docs),
/// as quoted relation names.
const STALE: &str = "SELECT s.relid::regclass::text AS name \
     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
     LEFT JOIN unnest($1::text[], $2::bigint[]) AS w (t, n) ON to_regclass(w.t) = s.relid \
     WHERE (w.t IS NOT NULL \
            OR s.relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'candles'::regclass)) \
       AND ((s.last_analyze IS NULL AND s.last_autoanalyze IS NULL) \
            OR s.n_mod_since_analyze + coalesce(w.n, 0) > 50 + 0.1 * greatest(c.reltuples, 0)) \
     ORDER BY 1";

/// Analyzes the partitions of `candles` and the tables of `written` (with the rows just
/// written to each) whose statistics are missing or stale; returns how many it analyzed.
pub(crate) async fn stale(
    conn: &mut AsyncPgConnection,
    written: &BTreeMap<String, u64>,
) -> Result<usize, diesel::result::Error> {
    let tables: Vec<&str> = written.keys().map(String::as_str).collect();
    let rows: Vec<i64> = written
        .values()
        .map(|&n| i64::try_from(n).unwrap_or(i64::MAX))
        .collect();
    let stale: Vec<Stale> = diesel::sql_query(STALE)
        .bind::<Array<Text>, _>(tables)
        .bind::<Array<BigInt>, _>(rows)
        .load(conn)
        .await?;
    for table in &stale {
        // The name comes from the catalog, quoted by `regclass` output.
        diesel::sql_query(format!("ANALYZE {}", table.name))
            .execute(conn)
            .await?;
    }
    Ok(stale.len())
}
