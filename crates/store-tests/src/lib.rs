//! The shared storage conformance suite (one test per port clause, run against every store)
//! is not written yet; until then each adapter crate carries its own contract tests.
