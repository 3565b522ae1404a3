//! [`TimeSeriesStore::scan`](marketseries_core::TimeSeriesStore::scan) and `count`: the
//! raw tables read back in time order, a page at a time (see [`marketseries_core::scan`]).
//!
//! A page is one statement `ORDER BY time LIMIT n + 1` over the range (a time bound, so
//! partitions and chunks before the page are pruned); ties are put in key order in Rust,
//! which keeps the answer independent of the database's collation.

use std::future::Future;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::scan::{Records, ScanPage, ScanQuery};
use marketseries_core::{Candle, Dataset, Error, IndicatorValue, Result};
use rust_decimal::Decimal;

use crate::cached::fixed;
use crate::error::db;
use crate::flavor::Flavor;
use crate::flow::FlowRow;
use crate::price::BarRow;
use crate::sentiment::ReadingRow;
use crate::store::SqlStore;

#[derive(QueryableByName)]
struct CandleRow {
    #[diesel(sql_type = Text)]
    symbol: String,
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(embed)]
    bar: BarRow,
}

impl CandleRow {
    fn into_candle(self) -> Result<Candle> {
        let interval = self.interval.parse()?;
        Ok(Candle::from_bar(self.symbol, interval, self.bar.into_bar()))
    }
}

#[derive(QueryableByName)]
struct IndicatorRow {
    #[diesel(sql_type = Text)]
    symbol: String,
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    value: Decimal,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Table, selected columns and the key column `ScanQuery::keys` filters.
fn layout(dataset: Dataset) -> (&'static str, &'static str, &'static str) {
    match dataset {
        Dataset::Price => (
            "candles",
            "symbol, interval, time, open, high, low, close, volume",
            "symbol",
        ),
        Dataset::Sentiment => ("sentiment", crate::sentiment::COLUMNS, "asset"),
        Dataset::Flow => ("flows", crate::flow::COLUMNS, "asset"),
        Dataset::Indicator => (
            "indicators",
            "symbol, interval, name, time, value",
            "symbol",
        ),
    }
}

/// `table` (`name` or `schema.name`, plain identifiers) quoted for SQL.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `table` for anything else.
fn quoted_table(table: &str) -> Result<String> {
    let plain = |part: &str| {
        let mut bytes = part.bytes();
        bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && part.len() <= 63
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| plain(p)) {
        return Err(Error::invalid_argument(
            "table",
            format!(
                "{table:?} is not a table name (`name` or `schema.name`, letters, digits, `_`)"
            ),
        ));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

/// One page of `query` from `read(from, to, limit)`, which returns the first `limit`
/// records with `time` in `[from, to)` in time order: `limit + 1` records tell whether
/// the page is full; when they all share one instant, that instant is read whole (no
/// limit), since a page never splits an instant.
async fn page<Fut>(
    query: &ScanQuery,
    read: impl Fn(DateTime<Utc>, DateTime<Utc>, i64) -> Fut,
) -> Result<ScanPage>
where
    Fut: Future<Output = Result<Records>>,
{
    let (from, to) = (query.range.from(), query.range.to());
    let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
    match ScanPage::cut(read(from, to, limit).await?, query.limit) {
        Ok(page) => Ok(page),
        Err(instant) => {
            let end = instant + chrono::TimeDelta::microseconds(1);
            let rows = read(instant, end, i64::MAX).await?;
            Ok(ScanPage::instant(rows, instant, to))
        }
    }
}

impl<F: Flavor> SqlStore<F> {
    /// One page of candles from `table`, a table of the seed's shape (`time, symbol,
    /// interval, open, high, low, close, volume`, of any types that cast to
    /// `timestamptz`, `text` and `numeric`) on this store's database, paged as
    /// [`TimeSeriesStore::scan`](marketseries_core::TimeSeriesStore::scan) pages
    /// `query` (whose dataset must be prices). For moving a seed database's candles into a
    /// store; the rows are validated when they are written there.
    ///
    /// # Errors
    /// A bad table name or a non-price query ([`Error::InvalidArgument`]); database errors
    /// (a missing table or column, a value that does not cast).
    pub async fn scan_seed_table(&self, table: &str, query: &ScanQuery) -> Result<ScanPage> {
        query.check()?;
        if query.dataset != Dataset::Price {
            return Err(Error::invalid_argument(
                "dataset",
                "a seed table holds candles only",
            ));
        }
        let table = quoted_table(table)?;
        page(query, |from, to, limit| {
            self.seed_rows(&table, query, from, to, limit)
        })
        .await
    }

    async fn seed_rows(
        &self,
        table: &str,
        query: &ScanQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Records> {
        // Not through the statement cache: the table name comes from the user.
        let sql = format!(
            "SELECT symbol::text AS symbol, interval::text AS interval, \
             time::timestamptz AS time, open::numeric AS open, high::numeric AS high, \
             low::numeric AS low, close::numeric AS close, volume::numeric AS volume \
             FROM {table} WHERE time::timestamptz >= $2 AND time::timestamptz < $3 \
             AND (cardinality($1::text[]) = 0 OR symbol::text = ANY($1)) \
             ORDER BY time::timestamptz LIMIT $4"
        );
        let mut conn = self.conn().await?;
        let rows: Vec<CandleRow> = diesel::sql_query(sql)
            .bind::<Array<Text>, _>(query.keys.clone())
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(db)?;
        Ok(Records::Candles(
            rows.into_iter()
                .map(CandleRow::into_candle)
                .collect::<Result<_>>()?,
        ))
    }

    /// One page of `query` (see the module documentation).
    pub(crate) async fn scan_page(&self, query: &ScanQuery) -> Result<ScanPage> {
        query.check()?;
        page(query, |from, to, limit| {
            self.scan_rows(query, from, to, limit)
        })
        .await
    }

    /// How many rows `query` selects.
    pub(crate) async fn scan_count(&self, query: &ScanQuery) -> Result<u64> {
        let (table, _, key) = layout(query.dataset);
        let mut conn = self.conn().await?;
        let row: CountRow = fixed(format!(
            "SELECT count(*) AS n FROM {table} WHERE time >= $1 AND time < $2 \
             AND (cardinality($3::text[]) = 0 OR {key} = ANY($3))"
        ))
        .bind::<Timestamptz, _>(query.range.from())
        .bind::<Timestamptz, _>(query.range.to())
        .bind::<Array<Text>, _>(query.keys.clone())
        .get_result(&mut conn)
        .await
        .map_err(db)?;
        Ok(crate::batch::count(row.n))
    }

    /// Rows of `query` with `time` in `[from, to)`, the first `limit` in time order.
    async fn scan_rows(
        &self,
        query: &ScanQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Records> {
        let (table, columns, key) = layout(query.dataset);
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE time >= $2 AND time < $3 \
             AND (cardinality($1::text[]) = 0 OR {key} = ANY($1)) ORDER BY time LIMIT $4"
        );
        let statement = || {
            fixed(sql.clone())
                .bind::<Array<Text>, _>(query.keys.clone())
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .bind::<BigInt, _>(limit)
        };
        let mut conn = self.conn().await?;
        Ok(match query.dataset {
            Dataset::Price => {
                let rows: Vec<CandleRow> = statement().load(&mut conn).await.map_err(db)?;
                Records::Candles(
                    rows.into_iter()
                        .map(CandleRow::into_candle)
                        .collect::<Result<_>>()?,
                )
            }
            Dataset::Sentiment => {
                let rows: Vec<ReadingRow> = statement().load(&mut conn).await.map_err(db)?;
                Records::Sentiment(
                    rows.into_iter()
                        .map(ReadingRow::into_reading)
                        .collect::<Result<_>>()?,
                )
            }
            Dataset::Flow => {
                let rows: Vec<FlowRow> = statement().load(&mut conn).await.map_err(db)?;
                Records::Flows(
                    rows.into_iter()
                        .map(FlowRow::into_flow)
                        .collect::<Result<_>>()?,
                )
            }
            Dataset::Indicator => {
                let rows: Vec<IndicatorRow> = statement().load(&mut conn).await.map_err(db)?;
                Records::Indicators(
                    rows.into_iter()
                        .map(|r| {
                            Ok(IndicatorValue {
                                symbol: r.symbol,
                                interval: r.interval.parse()?,
                                name: r.name,
                                time: r.time,
                                value: r.value,
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
        })
    }
}
