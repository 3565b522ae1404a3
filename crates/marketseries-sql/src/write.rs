//! The upsert path of every batch ([`SqlStore::write`]): one attempt on a `tokio-postgres`
//! client, repeated whole after a retryable failure. Apart from `store.rs` because
//! diesel's `RunQueryDsl::execute` and `tokio-postgres`' own would clash.

use marketseries_core::Result;
use tokio_postgres::types::ToSql;

use crate::client::{commit, pg_error};
use crate::flavor::{Batch, Flavor};
use crate::store::SqlStore;

impl<F: Flavor> SqlStore<F> {
    /// Writes one deduplicated batch: the flavor's preparation, then `upsert` with `params`,
    /// for candles the `candle_series` record, and the flavor's in-transaction work in one
    /// transaction, so the rows and whatever is kept in step with them land together or not
    /// at all; repeated whole after a retryable failure ([`SqlStore::retrying`]), which is
    /// safe because the upsert is idempotent.
    pub(crate) async fn write(
        &self,
        batch: Batch<'_>,
        upsert: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        self.retrying(|| self.write_once(batch, upsert, params))
            .await
    }

    /// One attempt of [`SqlStore::write`].
    async fn write_once(
        &self,
        batch: Batch<'_>,
        upsert: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        let mut client = self.client().await?;
        self.flavor().before_write(self, &client, &batch).await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        tx.execute(upsert, params).await.map_err(|e| pg_error(&e))?;
        if let Batch::Candles(rows) = batch {
            crate::series::record(&tx, rows)
                .await
                .map_err(|e| pg_error(&e))?;
        }
        self.flavor()
            .in_write_transaction(&tx, &batch)
            .await
            .map_err(|e| pg_error(&e))?;
        commit(tx).await
    }
}
