//! [`SentimentStore`] on a PostgreSQL-family server.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::validate::validate_sentiments;
use marketseries_core::{
    AggregateBucket, Result, SentimentAggregate, SentimentDistribution, SentimentReading,
    SentimentStore, SentimentSummary, SentimentTrend, SentimentWindow, SourceSentiment, TimeRange,
    WriteSummary,
};
use tokio_postgres::types::ToSql;

use crate::batch::{count, last_wins};
use crate::cached::{cached, fixed};
use crate::error::db;
use crate::flavor::{Batch, Flavor};
use crate::store::SqlStore;

#[derive(QueryableByName)]
pub(crate) struct ReadingRow {
    #[diesel(sql_type = Text)]
    asset: String,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Double)]
    score: f64,
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    mention_volume: i64,
    #[diesel(sql_type = Double)]
    engagement: f64,
}

impl ReadingRow {
    pub(crate) fn into_reading(self) -> Result<SentimentReading> {
        Ok(SentimentReading {
            asset: self.asset,
            source: self.source,
            time: self.time,
            score: self.score,
            label: self.label.parse()?,
            mention_volume: count(self.mention_volume),
            engagement: self.engagement,
        })
    }
}

#[derive(QueryableByName)]
struct AggregateRow {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Double)]
    avg_score: f64,
    #[diesel(sql_type = Double)]
    min_score: f64,
    #[diesel(sql_type = Double)]
    max_score: f64,
    #[diesel(sql_type = BigInt)]
    readings: i64,
    #[diesel(sql_type = BigInt)]
    mentions: i64,
    #[diesel(sql_type = Double)]
    engagement: f64,
}

#[derive(QueryableByName)]
struct TrendRow {
    #[diesel(sql_type = Nullable<Double>)]
    cur_avg: Option<f64>,
    #[diesel(sql_type = BigInt)]
    cur_n: i64,
    #[diesel(sql_type = Nullable<Double>)]
    prev_avg: Option<f64>,
    #[diesel(sql_type = BigInt)]
    prev_n: i64,
}

#[derive(QueryableByName)]
struct SourceRow {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Double)]
    avg_score: f64,
    #[diesel(sql_type = BigInt)]
    readings: i64,
    #[diesel(sql_type = BigInt)]
    mentions: i64,
}

#[derive(QueryableByName)]
struct DistributionRow {
    #[diesel(sql_type = BigInt)]
    bearish: i64,
    #[diesel(sql_type = BigInt)]
    neutral: i64,
    #[diesel(sql_type = BigInt)]
    bullish: i64,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = Text)]
    asset: String,
    #[diesel(sql_type = Double)]
    avg_score: f64,
    #[diesel(sql_type = BigInt)]
    readings: i64,
    #[diesel(sql_type = BigInt)]
    mentions: i64,
    #[diesel(sql_type = BigInt)]
    bearish: i64,
    #[diesel(sql_type = BigInt)]
    neutral: i64,
    #[diesel(sql_type = BigInt)]
    bullish: i64,
    #[diesel(sql_type = Timestamptz)]
    latest_time: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "asset, source, time, score, label, mention_volume, engagement";
const LABEL_COUNTS: &str = "count(*) FILTER (WHERE label = 'bearish') AS bearish, \
    count(*) FILTER (WHERE label = 'neutral') AS neutral, \
    count(*) FILTER (WHERE label = 'bullish') AS bullish";

fn window(avg: Option<f64>, n: i64) -> Option<SentimentWindow> {
    avg.filter(|_| n > 0).map(|avg_score| SentimentWindow {
        avg_score,
        readings: count(n),
    })
}

#[async_trait]
impl<F: Flavor> SentimentStore for SqlStore<F> {
    async fn store_sentiments(&self, readings: &[SentimentReading]) -> Result<WriteSummary> {
        validate_sentiments(readings, &self.limits())?;
        let rows = last_wins(readings, |r| (r.asset.as_str(), r.source.as_str(), r.time));
        let summary = WriteSummary {
            received: readings.len(),
            distinct: rows.len(),
        };
        if rows.is_empty() {
            return Ok(summary);
        }
        let upsert = format!(
            "INSERT INTO sentiment ({COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], \
             $3::timestamptz[], $4::float8[], $5::text[], $6::bigint[], $7::float8[]) \
             ON CONFLICT (asset, source, time) DO UPDATE SET score = EXCLUDED.score, \
             label = EXCLUDED.label, mention_volume = EXCLUDED.mention_volume, \
             engagement = EXCLUDED.engagement"
        );
        let assets: Vec<&str> = rows.iter().map(|r| r.asset.as_str()).collect();
        let sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.time).collect();
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        let mentions: Vec<i64> = rows
            .iter()
            .map(|r| i64::try_from(r.mention_volume).unwrap_or(i64::MAX))
            .collect();
        let engagement: Vec<f64> = rows.iter().map(|r| r.engagement).collect();
        let params: [&(dyn ToSql + Sync); 7] = [
            &assets,
            &sources,
            &times,
            &scores,
            &labels,
            &mentions,
            &engagement,
        ];
        self.write(Batch::Sentiment(&rows), &upsert, &params)
            .await?;
        Ok(summary)
    }

    async fn sentiment_readings(
        &self,
        asset: &str,
        range: TimeRange,
        source: Option<&str>,
    ) -> Result<Vec<SentimentReading>> {
        let mut conn = self.conn().await?;
        let rows: Vec<ReadingRow> = fixed(format!(
            "SELECT {COLUMNS} FROM sentiment WHERE asset = $1 AND time >= $2 AND time < $3 \
             AND ($4::text IS NULL OR source = $4) ORDER BY time, source COLLATE \"C\""
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .bind::<Nullable<Text>, _>(source)
        .load(&mut conn)
        .await
        .map_err(db)?;
        rows.into_iter().map(ReadingRow::into_reading).collect()
    }

    async fn sentiment_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<SentimentAggregate>> {
        let start = bucket.interval().floor(range.from());
        let mut conn = self.conn().await?;
        let rows: Vec<AggregateRow> = fixed(format!(
            "SELECT time, score_sum / readings AS avg_score, min_score, max_score, readings, \
             mentions, engagement FROM {} WHERE asset = $1 AND time >= $2 AND time < $3 \
             ORDER BY time",
            crate::schema::sentiment_aggregate(bucket)
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(range.to())
        .load(&mut conn)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| SentimentAggregate {
                time: r.time,
                avg_score: r.avg_score,
                min_score: r.min_score,
                max_score: r.max_score,
                readings: count(r.readings),
                mentions: count(r.mentions),
                engagement: r.engagement,
            })
            .collect())
    }

    async fn sentiment_trend(&self, asset: &str, window_len: TimeDelta) -> Result<SentimentTrend> {
        self.sentiment_trend_at(asset, window_len, self.now()).await
    }

    async fn sentiment_trend_at(
        &self,
        asset: &str,
        window_len: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<SentimentTrend> {
        let current_range = TimeRange::last(at, window_len)?;
        let previous_range = TimeRange::last(current_range.from(), window_len)?;
        let mut conn = self.conn().await?;
        let row: TrendRow = cached(
            "SELECT avg(score) FILTER (WHERE time >= $2) AS cur_avg, \
             count(*) FILTER (WHERE time >= $2) AS cur_n, \
             avg(score) FILTER (WHERE time < $2) AS prev_avg, \
             count(*) FILTER (WHERE time < $2) AS prev_n \
             FROM sentiment WHERE asset = $1 AND time >= $3 AND time < $4",
        )
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(current_range.from())
        .bind::<Timestamptz, _>(previous_range.from())
        .bind::<Timestamptz, _>(current_range.to())
        .get_result(&mut conn)
        .await
        .map_err(db)?;
        Ok(SentimentTrend {
            asset: asset.to_owned(),
            current_range,
            current: window(row.cur_avg, row.cur_n),
            previous: window(row.prev_avg, row.prev_n),
        })
    }

    async fn sentiment_by_source(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<Vec<SourceSentiment>> {
        let mut conn = self.conn().await?;
        let rows: Vec<SourceRow> = cached(
            "SELECT source, avg(score) AS avg_score, count(*) AS readings, \
             sum(mention_volume)::bigint AS mentions FROM sentiment \
             WHERE asset = $1 AND time >= $2 AND time < $3 \
             GROUP BY source ORDER BY source COLLATE \"C\"",
        )
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .load(&mut conn)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| SourceSentiment {
                source: r.source,
                avg_score: r.avg_score,
                readings: count(r.readings),
                mentions: count(r.mentions),
            })
            .collect())
    }

    async fn sentiment_distribution(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<SentimentDistribution> {
        let mut conn = self.conn().await?;
        let row: DistributionRow = fixed(format!(
            "SELECT {LABEL_COUNTS} FROM sentiment WHERE asset = $1 AND time >= $2 AND time < $3"
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .get_result(&mut conn)
        .await
        .map_err(db)?;
        Ok(SentimentDistribution {
            bearish: count(row.bearish),
            neutral: count(row.neutral),
            bullish: count(row.bullish),
        })
    }

    async fn latest_sentiment(
        &self,
        asset: &str,
        source: Option<&str>,
    ) -> Result<Option<SentimentReading>> {
        let mut conn = self.conn().await?;
        let row: Option<ReadingRow> = fixed(format!(
            "SELECT {COLUMNS} FROM sentiment WHERE asset = $1 AND ($2::text IS NULL OR source = $2) \
             ORDER BY time DESC, source COLLATE \"C\" LIMIT 1"
        ))
        .bind::<Text, _>(asset)
        .bind::<Nullable<Text>, _>(source)
        .load(&mut conn)
        .await
        .map_err(db)?
        .pop();
        row.map(ReadingRow::into_reading).transpose()
    }

    async fn sentiment_summary(&self, window_len: TimeDelta) -> Result<Vec<SentimentSummary>> {
        self.sentiment_summary_at(window_len, self.now()).await
    }

    async fn sentiment_summary_at(
        &self,
        window_len: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Vec<SentimentSummary>> {
        let range = TimeRange::last(at, window_len)?;
        let mut conn = self.conn().await?;
        let rows: Vec<SummaryRow> = fixed(format!(
            "SELECT asset, avg(score) AS avg_score, count(*) AS readings, \
             sum(mention_volume)::bigint AS mentions, {LABEL_COUNTS}, max(time) AS latest_time \
             FROM sentiment WHERE time >= $1 AND time < $2 GROUP BY asset ORDER BY asset COLLATE \"C\""
        ))
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .load(&mut conn)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| SentimentSummary {
                asset: r.asset,
                avg_score: r.avg_score,
                readings: count(r.readings),
                mentions: count(r.mentions),
                distribution: SentimentDistribution {
                    bearish: count(r.bearish),
                    neutral: count(r.neutral),
                    bullish: count(r.bullish),
                },
                latest_time: r.latest_time,
            })
            .collect())
    }
}
