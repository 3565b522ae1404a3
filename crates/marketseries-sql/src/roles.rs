//! Least-privilege group roles (`marketseries migrate --roles`): a reader that can read
//! everything and change nothing, and a writer that can also add and correct rows of the
//! raw datasets, and nothing else. The owner is the role that ran the migration: it owns
//! every table, view, aggregate and function, runs maintenance (refresh, policies,
//! retention) and is the only one that can drop or alter anything or change the stored
//! policies.
//!
//! Roles are granted to login roles by the operator: `GRANT marketseries_writer TO
//! ingest_service`. Functions stay executable by everyone, as PostgreSQL creates them,
//! except the partition function of plain PostgreSQL (migration 6), which only the writer
//! is granted: it creates partitions as the owner.

use marketseries_core::{Error, Result};

use crate::flavor::Flavor;
use crate::store::SqlStore;

/// The names of the two group roles (default `marketseries_reader`,
/// `marketseries_writer`). Roles are per server, not per database: one pair serves every
/// marketseries database of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Reads every table, view and aggregate; changes nothing.
    pub reader: String,
    /// The reader's rights, plus `INSERT` and `UPDATE` (upserts, corrections) on the raw
    /// tables and the bookkeeping their writes keep (and `DELETE` on `candle_series`, the
    /// registry of series, whose rows of emptied series a write forgets); no `DELETE` of
    /// data, no DDL, no policies.
    pub writer: String,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            reader: "marketseries_reader".into(),
            writer: "marketseries_writer".into(),
        }
    }
}

/// Tables a write touches besides the raw ones: the series registry, and on plain
/// PostgreSQL the pending rollup spans and the sentiment and flow rollups each write keeps
/// in its transaction. Only tables are granted: a name that is a view or missing here (the
/// TimescaleDB backend's continuous aggregates) is skipped.
const WRITE_BOOKKEEPING: [&str; 6] = [
    "candle_series",
    "ohlcv_pending",
    "sentiment_1h",
    "sentiment_1d",
    "flows_1h",
    "flows_1d",
];

/// A role name the grants can carry unquoted: lower-case letters, digits and `_`, not
/// starting with a digit, at most 63 bytes, and not PostgreSQL's reserved prefix `pg_`.
fn check_name(which: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with("pg_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            which,
            format!(
                "role name {name:?}: lower-case letters, digits and `_` (not first), at most \
                 63, not starting with `pg_`"
            ),
        ))
    }
}

impl<F: Flavor> SqlStore<F> {
    /// Creates the `roles` (where missing, `NOLOGIN`) and grants them their rights on this
    /// database's schema, in one transaction; run after [`migrate`](crate::SqlStore) by
    /// the owner (a role with `CREATEROLE`, or a superuser). Idempotent; run it again
    /// after an upgrade that adds tables.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a role name that is not a plain identifier, or the
    /// same name twice; [`Error::Database`] (SQLSTATE 42501) when the caller may not create
    /// roles or grant on the schema's objects.
    pub async fn create_roles(&self, roles: &Roles) -> Result<()> {
        check_name("reader", &roles.reader)?;
        check_name("writer", &roles.writer)?;
        if roles.reader == roles.writer {
            return Err(Error::invalid_argument(
                "writer",
                "the reader and the writer must be different roles",
            ));
        }
        let (reader, writer) = (&roles.reader, &roles.writer);
        let writable: Vec<&str> = crate::schema::raw_tables()
            .chain(WRITE_BOOKKEEPING)
            .collect();
        let writable = writable
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // Names were checked above; table names are constants.
        let sql = format!(
            "BEGIN;
             DO $r$ BEGIN CREATE ROLE {reader} NOLOGIN;
                EXCEPTION WHEN duplicate_object THEN NULL; END $r$;
             DO $r$ BEGIN CREATE ROLE {writer} NOLOGIN;
                EXCEPTION WHEN duplicate_object THEN NULL; END $r$;
             DO $r$
             DECLARE t text;
             BEGIN
                 EXECUTE format('GRANT USAGE ON SCHEMA %I TO {reader}, {writer}',
                                current_schema());
                 EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO {reader}, {writer}',
                                current_schema());
                 -- TimescaleDB's write path forgets the series retention emptied.
                 IF to_regclass('candle_series') IS NOT NULL THEN
                     GRANT DELETE ON candle_series TO {writer};
                 END IF;
                 FOREACH t IN ARRAY ARRAY[{writable}] LOOP
                     IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = to_regclass(t)
                                AND c.relkind IN ('r', 'p')) THEN
                         EXECUTE format('GRANT INSERT, UPDATE ON %I TO {writer}', t);
                     END IF;
                 END LOOP;
                 IF to_regprocedure('marketseries_create_partition(text, text, timestamptz, \
                                     timestamptz)') IS NOT NULL THEN
                     GRANT EXECUTE ON FUNCTION marketseries_create_partition(text, text,
                         timestamptz, timestamptz) TO {writer};
                 END IF;
             END $r$;
             COMMIT;"
        );
        let client = self.client().await?;
        if let Err(e) = client.batch_execute(&sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(match crate::client::pg_error(&e) {
                Error::Database { code, message } => Error::Database {
                    message: format!(
                        "creating the roles {reader} and {writer}: {message} (the owner needs \
                         CREATEROLE, or run it as a superuser)"
                    ),
                    code,
                },
                other => other,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        for good in ["marketseries_reader", "r2", "_x"] {
            check_name("reader", good).unwrap();
        }
        for bad in [
            "",
            "Reader",
            "9r",
            "pg_reader",
            "a-b",
            "a;drop",
            &"x".repeat(64),
        ] {
            let e = check_name("reader", bad).unwrap_err();
            assert!(e.to_string().contains("reader"), "{bad}: {e}");
        }
    }
}
