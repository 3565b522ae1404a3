//! The conformance suite against plain PostgreSQL: a fresh database per test on the
//! throwaway native cluster (or `DATABASE_URL`). Fails, never skips, without a server.

mod common;

marketseries_testkit::conformance_tests!(common::Postgres);
