//! Binary `COPY` of append-only candle batches ([`SqlStore::append_candles`], the fast
//! ingest path a flavor may take in [`Flavor::write_candles_fast`]).
//!
//! `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE` runs at about half the speed
//! of `COPY` into the same table (`docs/benchmarks.md`): speculative insertion and row-by-row
//! routing into partitions, where `COPY` buffers rows per partition. Most batches only
//! append (new candles after the latest stored ones), so they need no conflict handling:
//! such a batch is copied, in a transaction that also runs the flavor's
//! [`Flavor::in_write_transaction`] (plain PostgreSQL records its pending rollup spans). A
//! batch with a key already stored (a re-ingest, a correction) or stored meanwhile by a
//! concurrent writer fails the `COPY` with a unique violation, which rolls it back, and
//! goes to the upsert instead.
//!
//! diesel-async cannot issue `COPY`; this path runs on the store's `tokio-postgres`
//! clients (`client.rs`), as every write does, and is repeated like every write on a
//! retryable failure (`retry.rs`).

use std::pin::pin;

use marketseries_core::Candle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;

use crate::client::{commit, pg_error};
use crate::flavor::{Batch, Flavor};
use crate::series;
use crate::statements;
use crate::store::SqlStore;

/// Batches smaller than this are best upserted: for them the extra round trips of the
/// `COPY` path cost more than `COPY` saves.
pub const MIN_COPY_ROWS: usize = 1_000;

impl<F: Flavor> SqlStore<F> {
    /// Appends a batch of candles by one binary `COPY` (see the module docs): first the
    /// flavor's [`Flavor::before_write`], then, in one transaction, the rows, the flavor's
    /// [`Flavor::in_write_transaction`] and the `candle_series` record. `rows` are as
    /// [`Flavor::write_candles_fast`] receives them (validated, deduplicated, sorted by
    /// key). Returns `Ok(false)`, having changed nothing, when a key of the batch is already
    /// stored (by an earlier batch or a concurrent writer: the unique violation aborts the
    /// `COPY` at that row); the caller then leaves the batch to the upsert. A retryable
    /// failure ([`marketseries_core::Error::is_retryable`]) repeats the whole attempt, as
    /// [`crate::PgConfig::write_retry`] says.
    ///
    /// There is deliberately no check for stored keys before the `COPY`: a probe of the
    /// batch's time spans costs milliseconds per batch on freshly filled partitions whose
    /// planner statistics still say "empty", while an append-only batch, the common case,
    /// never conflicts, and a re-ingested one conflicts at its first row.
    ///
    /// # Errors
    /// The last attempt's error: [`marketseries_core::Error::CheckoutTimeout`] or
    /// [`marketseries_core::Error::Connection`] when no client can be had;
    /// [`marketseries_core::Error::ConnectionLost`],
    /// [`marketseries_core::Error::AmbiguousCommit`], [`marketseries_core::Error::Database`]
    /// (the transaction is rolled back) otherwise.
    pub async fn append_candles(&self, rows: &[&Candle]) -> marketseries_core::Result<bool> {
        self.retrying(|| self.append_once(rows)).await
    }

    /// One attempt of [`SqlStore::append_candles`].
    async fn append_once(&self, rows: &[&Candle]) -> marketseries_core::Result<bool> {
        let batch = Batch::Candles(rows);
        let mut client = self.client().await?;
        self.flavor().before_write(self, &client, &batch).await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        let copied = async {
            let sink = tx.copy_in(statements::copy_candles()).await?;
            let mut writer = pin!(BinaryCopyInWriter::new(
                sink,
                &statements::COPY_CANDLE_TYPES
            ));
            for c in rows {
                let native = c.interval.to_string();
                writer
                    .as_mut()
                    .write(&[
                        &c.symbol, &native, &c.time, &c.open, &c.high, &c.low, &c.close, &c.volume,
                    ])
                    .await?;
            }
            writer.as_mut().finish().await
        }
        .await;
        match copied {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                tx.rollback().await.map_err(|e| pg_error(&e))?;
                return Ok(false);
            }
            other => other.map_err(|e| pg_error(&e))?,
        };
        self.flavor()
            .in_write_transaction(&tx, &batch)
            .await
            .map_err(|e| pg_error(&e))?;
        series::record(&tx, rows).await.map_err(|e| pg_error(&e))?;
        commit(tx).await?;
        Ok(true)
    }
}

/// Planner statistics after a bulk load ([`SqlStore::analyze_written`]), apart from the
/// `COPY` code: diesel's `RunQueryDsl::execute` and `tokio-postgres`' own would clash.
mod statistics {
    use chrono::{DateTime, Utc};
    use diesel::sql_types::{Bool, Text, Timestamptz};
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl;
    use marketseries_core::Dataset;

    use crate::error::db;
    use crate::flavor::Flavor;
    use crate::schema;
    use crate::store::SqlStore;

    #[derive(QueryableByName)]
    struct Child {
        #[diesel(sql_type = Text)]
        name: String,
    }

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }

    impl<F: Flavor> SqlStore<F> {
        /// Updates the planner statistics of what a bulk load of `dataset` wrote: `ANALYZE` of
        /// the primary-key columns of every partition (plain PostgreSQL) or chunk
        /// (TimescaleDB) of its table that holds rows timed in `[first, last]` (a table
        /// without partitions is analyzed as a whole), and for candles of `candle_series`.
        /// Returns how many tables, partitions or chunks of the dataset's table were
        /// analyzed.
        ///
        /// Why: right after a load, new partitions have no statistics until autovacuum gets to
        /// them (a minute or more later), and the planner takes them for empty: issue 11
        /// measured the `ohlcv_1h` view at 432 ms right after importing 1.3M candles and
        /// 1.6 ms minutes later, the CLI's overview at 2.45 s and then 0.43 s. Partitions and
        /// chunks are both inheritance children of their table (`pg_inherits`), so one query
        /// finds them on either backend; each is probed for a row in the window by its time
        /// index, so a load into a table of years analyzes what it wrote, never the whole
        /// table (nor the partitioned parent, which `ANALYZE candles` would sample across all
        /// partitions). `marketseries import` runs this when it has stored a file.
        ///
        /// # Errors
        /// [`marketseries_core::Error::Timeout`] or [`marketseries_core::Error::Connection`]
        /// when no connection can be had; [`marketseries_core::Error::Database`] when a
        /// statement fails.
        pub async fn analyze_written(
            &self,
            dataset: Dataset,
            first: DateTime<Utc>,
            last: DateTime<Utc>,
        ) -> marketseries_core::Result<usize> {
            let table = schema::raw_table(dataset);
            let mut conn = self.conn().await?;
            // Names as `regclass` prints them: schema-qualified where not on the search path,
            // quoted where needed; they come from the catalog, never from input.
            let children: Vec<Child> = diesel::sql_query(
                "SELECT i.inhrelid::regclass::text AS name FROM pg_inherits i \
                 WHERE i.inhparent = $1::text::regclass ORDER BY i.inhrelid",
            )
            .bind::<Text, _>(table)
            .load(&mut conn)
            .await
            .map_err(db)?;
            let mut analyze = Vec::new();
            if children.is_empty() {
                analyze.push(table.to_owned());
            }
            for child in children {
                let found: Found = diesel::sql_query(format!(
                    "SELECT EXISTS (SELECT 1 FROM {} WHERE time >= $1 AND time <= $2) AS found",
                    child.name
                ))
                .bind::<Timestamptz, _>(first)
                .bind::<Timestamptz, _>(last)
                .get_result(&mut conn)
                .await
                .map_err(db)?;
                if found.found {
                    analyze.push(child.name);
                }
            }
            let analyzed = analyze.len();
            // The key columns only: what reads filter on (series and time ranges). Their
            // statistics are what the planner lacked; computing them for the five NUMERIC
            // columns too made each day's chunk of 14,400 candles cost about 75 ms instead of
            // about 7 ms (native TimescaleDB 2.28, issue 11's load). A column list also leaves
            // autovacuum's count of changed rows as it was, so its full `ANALYZE` still comes.
            let keys: Vec<Child> = diesel::sql_query(
                "SELECT quote_ident(a.attname::text) AS name FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY a.attnum",
            )
            .bind::<Text, _>(table)
            .load(&mut conn)
            .await
            .map_err(db)?;
            let columns = if keys.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                format!(" ({})", names.join(", "))
            };
            for name in analyze {
                diesel::sql_query(format!("ANALYZE {name}{columns}"))
                    .execute(&mut conn)
                    .await
                    .map_err(db)?;
            }
            if dataset == Dataset::Price {
                // One row per series: cheap in full.
                diesel::sql_query("ANALYZE candle_series")
                    .execute(&mut conn)
                    .await
                    .map_err(db)?;
            }
            Ok(analyzed)
        }
    }
}
