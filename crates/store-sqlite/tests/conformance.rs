//! The Store API's conformance suite on SQLite, each test in a database file of its own.

use plansmith_store_tests::{Backend, conformance_tests, suite};

conformance_tests!(Backend::sqlite);

/// SQLite takes one writer at a time; the store queues writers instead of failing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_200_concurrent_writers_without_lock_errors() {
    suite::sqlite_serves_200_concurrent_writers_without_lock_errors(Backend::sqlite().await).await;
}
