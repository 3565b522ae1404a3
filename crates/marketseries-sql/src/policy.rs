//! The stored policies (table `marketseries_policies`, one row) and the dry run of a change.
//!
//! Durations are written and read as whole microseconds (`interval` columns, so that `psql`
//! shows `400 days`); policies never use months, whose length an `interval` leaves open.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::ExpiringData;
use marketseries_core::{
    CompressionPolicy, Dataset, Error, Policies, RefreshPolicy, Result, RetentionPolicy,
};

use crate::error::db;
use crate::schema::raw_table;

/// The stored durations, in microseconds, in the order of [`COLUMNS`].
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<BigInt>)]
    retention_price: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    retention_sentiment: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    retention_flow: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    retention_indicator: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    compression_price: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    compression_sentiment: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    compression_flow: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    compression_indicator: Option<i64>,
    #[diesel(sql_type = BigInt)]
    refresh_start_offset: i64,
    #[diesel(sql_type = BigInt)]
    refresh_end_offset: i64,
    #[diesel(sql_type = BigInt)]
    refresh_schedule: i64,
}

const COLUMNS: [&str; 11] = [
    "retention_price",
    "retention_sentiment",
    "retention_flow",
    "retention_indicator",
    "compression_price",
    "compression_sentiment",
    "compression_flow",
    "compression_indicator",
    "refresh_start_offset",
    "refresh_end_offset",
    "refresh_schedule",
];

fn micros(d: TimeDelta) -> Result<i64> {
    d.num_microseconds()
        .ok_or_else(|| Error::Config(format!("policy duration {d} is too long")))
}

fn delta(us: i64) -> TimeDelta {
    TimeDelta::microseconds(us)
}

/// The stored policies.
///
/// # Errors
/// [`Error::Config`] when the table is missing (the store was not migrated) or holds no row;
/// database errors.
pub(crate) async fn read(conn: &mut AsyncPgConnection) -> Result<Policies> {
    let select = COLUMNS
        .map(|c| format!("(extract(epoch FROM {c}) * 1000000)::bigint AS {c}"))
        .join(", ");
    let rows: Vec<Row> = diesel::sql_query(format!("SELECT {select} FROM marketseries_policies"))
        .load(conn)
        .await
        .map_err(|e| match db(e) {
            Error::Database { code: Some(c), .. } if c == "42P01" => Error::Config(
                "the store has no policies table; run `marketseries migrate` first".into(),
            ),
            other => other,
        })?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| Error::Config("marketseries_policies holds no row".into()))?;
    Ok(Policies {
        retention: RetentionPolicy {
            price: row.retention_price.map(delta),
            sentiment: row.retention_sentiment.map(delta),
            flow: row.retention_flow.map(delta),
            indicator: row.retention_indicator.map(delta),
        },
        compression: CompressionPolicy {
            price_after: row.compression_price.map(delta),
            sentiment_after: row.compression_sentiment.map(delta),
            flow_after: row.compression_flow.map(delta),
            indicator_after: row.compression_indicator.map(delta),
        },
        refresh: RefreshPolicy {
            start_offset: delta(row.refresh_start_offset),
            end_offset: delta(row.refresh_end_offset),
            schedule: delta(row.refresh_schedule),
        },
    })
}

/// Replaces the stored policies (validated by the caller).
///
/// # Errors
/// Database errors (the table's CHECKs mirror [`Policies::validate`]).
pub(crate) async fn write(conn: &mut AsyncPgConnection, p: &Policies) -> Result<()> {
    let r = &p.retention;
    let c = &p.compression;
    let optional = [
        r.price,
        r.sentiment,
        r.flow,
        r.indicator,
        c.price_after,
        c.sentiment_after,
        c.flow_after,
        c.indicator_after,
    ];
    let set = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}::bigint * interval '1 microsecond'", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = diesel::sql_query(format!(
        "UPDATE marketseries_policies SET {set}, updated_at = now()"
    ))
    .into_boxed();
    for d in optional {
        q = q.bind::<Nullable<BigInt>, _>(d.map(micros).transpose()?);
    }
    for d in [
        p.refresh.start_offset,
        p.refresh.end_offset,
        p.refresh.schedule,
    ] {
        q = q.bind::<BigInt, _>(micros(d)?);
    }
    let updated = q.execute(conn).await.map_err(db)?;
    if updated != 1 {
        return Err(Error::Config(format!(
            "marketseries_policies holds {updated} rows, expected one"
        )));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    lo: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    hi: Option<DateTime<Utc>>,
}

/// The rows of `dataset` before `boundary` (the end of the last partition or chunk that
/// retention at `cutoff` drops whole; `None`: it drops none).
///
/// # Errors
/// Database errors.
pub(crate) async fn expiring(
    conn: &mut AsyncPgConnection,
    dataset: Dataset,
    cutoff: DateTime<Utc>,
    boundary: Option<DateTime<Utc>>,
) -> Result<ExpiringData> {
    let table = raw_table(dataset);
    let span = match boundary {
        None => Span {
            n: 0,
            lo: None,
            hi: None,
        },
        Some(b) => diesel::sql_query(format!(
            "SELECT count(*) AS n, min(time) AS lo, max(time) AS hi FROM {table} WHERE time < $1"
        ))
        .bind::<Timestamptz, _>(b)
        .get_result(conn)
        .await
        .map_err(db)?,
    };
    Ok(ExpiringData {
        dataset,
        table,
        cutoff,
        rows: crate::count(span.n),
        oldest: span.lo,
        newest: span.hi,
    })
}
