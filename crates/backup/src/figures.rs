//! Row counts and content digests of tables, to check a restore against its backup.

use serde::{Deserialize, Serialize};

/// A table's row count and a digest of its content (SQLite: SHA-256 over every value of every
/// row in rowid order; PostgreSQL: MD5 over the rows' text, sorted). Compared only between
/// databases of the same kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFigures {
    pub rows: i64,
    pub digest: String,
}
