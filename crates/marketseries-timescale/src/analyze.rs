//! `ANALYZE` of relations found in the catalog (new aggregate chunks, never-analyzed raw
//! chunks, freshly compressed relations): each caller finds its own, this runs them in one
//! statement.

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketseries_core::Result;
use marketseries_sql::database_error;

/// A relation name as the catalog query returns it, already quoted by `format('%I.%I')`.
#[derive(QueryableByName)]
pub(crate) struct RelName {
    #[diesel(sql_type = Text)]
    pub(crate) name: String,
}

/// `ANALYZE`s `rels` in one statement; nothing when there are none.
pub(crate) async fn analyze(conn: &mut AsyncPgConnection, rels: &[RelName]) -> Result<()> {
    if rels.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = rels.iter().map(|r| r.name.as_str()).collect();
    // The names come from the catalog, quoted by format('%I').
    diesel::sql_query(format!("ANALYZE {}", list.join(", ")))
        .execute(conn)
        .await
        .map_err(database_error)?;
    Ok(())
}
