//! The conformance suite against TimescaleDB: a fresh database per test on the launcher's
//! TimescaleDB server (native when installed, else the embedded one, as
//! `MARKETSERIES_TIMESCALEDB` chooses; or `TIMESCALEDB_URL`). Fails, never skips, without a
//! server.

mod common;

marketseries_testkit::conformance_tests!(common::Timescale);
