//! The conformance suite against the in-memory reference store.

marketseries_testkit::conformance_tests!(marketseries_testkit::MemoryFactory);
