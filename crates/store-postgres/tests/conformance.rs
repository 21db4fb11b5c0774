//! The Store API's conformance suite on PostgreSQL (`TEST_DATABASE_URL`, default
//! 127.0.0.1:5432), each test in a database of its own.

use plansmith_store_tests::{Backend, conformance_tests};

conformance_tests!(Backend::postgres);
