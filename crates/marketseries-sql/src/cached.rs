//! Raw SQL that diesel-async keeps as a named prepared statement on each connection.
//!
//! `diesel::sql_query` marks its statement unsafe to cache, so every call pays a
//! Parse/Describe round trip before the Bind/Execute one, and the server plans the statement
//! afresh each time; over a partitioned `candles` that planning alone takes milliseconds.
//! [`cached`] builds the same kind of query (positional binds, rows read by name) from a
//! fixed SQL text, which diesel-async's statement cache keys by that text: one round trip per
//! call, and PostgreSQL's plan cache may settle on a generic plan after a few executions.
//!
//! Only fixed texts belong here (constants, or texts built from constant table names): the
//! cache keeps one entry per distinct text and bind types for the life of the connection.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A fixed SQL text whose prepared statement diesel-async caches (see the module docs).
#[derive(Debug, Clone)]
#[must_use = "queries are only executed when loaded or executed"]
pub(crate) struct Cached {
    sql: Cow<'static, str>,
}

/// A cacheable statement for a text built at run time from constants and relation names
/// (never from user input): the text is interned once per process (the set of such texts
/// is small and fixed), then cached as a prepared statement per connection like any
/// [`cached`] one.
pub(crate) fn fixed(sql: String) -> Cached {
    static TEXTS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    let text = match texts.get(sql.as_str()) {
        Some(&t) => t,
        None => {
            let t: &'static str = Box::leak(sql.into_boxed_str());
            texts.insert(t);
            t
        }
    };
    cached(text)
}

/// A cacheable statement for `sql`; bind `$1`, `$2`, ... in order with [`Cached::bind`].
pub(crate) fn cached(sql: impl Into<Cow<'static, str>>) -> Cached {
    Cached { sql: sql.into() }
}

/// [`Cached`] (or a [`Bind`] of it) with one more positional parameter of SQL type `ST`.
///
/// diesel's own `UncheckedBind` cannot be built around another query outside diesel, hence
/// this twin; it needs diesel's `i-implement-a-third-party-backend-and-opt-into-breaking-changes`
/// feature (which diesel-async, pinned to the same diesel minor version, enables anyway).
#[derive(Debug, Clone)]
#[must_use = "queries are only executed when loaded or executed"]
pub(crate) struct Bind<Q, V, ST> {
    query: Q,
    value: V,
    sql_type: PhantomData<fn() -> ST>,
}

impl Cached {
    /// Binds `$1`.
    pub(crate) fn bind<ST, V>(self, value: V) -> Bind<Self, V, ST> {
        Bind {
            query: self,
            value,
            sql_type: PhantomData,
        }
    }
}

impl<Q, V, ST> Bind<Q, V, ST> {
    /// Binds the next positional parameter.
    pub(crate) fn bind<ST2, V2>(self, value: V2) -> Bind<Self, V2, ST2> {
        Bind {
            query: self,
            value,
            sql_type: PhantomData,
        }
    }
}

impl QueryFragment<Pg> for Cached {
    // Unlike `SqlQuery`, this does not call `unsafe_to_cache_prepared`: that is the point.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(&self.sql);
        Ok(())
    }
}

impl<Q, V, ST> QueryFragment<Pg> for Bind<Q, V, ST>
where
    Q: QueryFragment<Pg>,
    V: ToSql<ST, Pg>,
    Pg: HasSqlType<ST>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        // The placeholder is already in the text; only the value is added.
        out.push_bind_param_value_only::<ST, V>(&self.value)
    }
}

// No static id: the cache then keys the statement by its SQL text and bind types.
impl QueryId for Cached {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, V, ST> QueryId for Bind<Q, V, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Cached {
    type SqlType = Untyped;
}

impl<Q, V, ST> Query for Bind<Q, V, ST> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{Integer, Text};

    use super::*;

    #[test]
    fn the_text_and_binds_are_those_given_and_it_is_cacheable() {
        let q = cached("SELECT $1::int AS a, $2 AS b")
            .bind::<Integer, _>(1)
            .bind::<Text, _>("x");
        let shown = diesel::debug_query::<Pg, _>(&q).to_string();
        assert!(shown.starts_with("SELECT $1::int AS a, $2 AS b"), "{shown}");
        assert!(shown.contains("binds: [1, \"x\"]"), "{shown}");
        assert!(q.is_safe_to_cache_prepared(&Pg).expect("cacheable"));
        assert!(!diesel::sql_query("SELECT 1")
            .is_safe_to_cache_prepared(&Pg)
            .expect("checked"));
    }
}
