//! SQLite: the online backup API copies the live database page by page (a consistent copy
//! while the server writes); restores write the copy to a temporary file beside the target and
//! rename it into place.

use crate::{BackupError, Result, TableFigures};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

type Figures = (i64, BTreeMap<String, TableFigures>);

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Failed(format!("the backup task failed: {e}")))?
}

fn sql(what: &str) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |e| BackupError::Failed(format!("{what}: {e}"))
}

/// A consistent copy of the database at `path`, its figures and its bytes.
pub(crate) async fn dump(path: &Path) -> Result<(i64, BTreeMap<String, TableFigures>, Vec<u8>)> {
    let path = path.to_owned();
    blocking(move || {
        if !path.exists() {
            return Err(BackupError::Usage(format!(
                "there is no database at {}",
                path.display()
            )));
        }
        let source = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql("cannot open the database"))?;
        let dir = tempfile::TempDir::new().map_err(|e| BackupError::Failed(e.to_string()))?;
        let copy_path = dir.path().join("copy.db");
        {
            let mut copy = Connection::open(&copy_path).map_err(sql("cannot create the copy"))?;
            let backup = rusqlite::backup::Backup::new(&source, &mut copy).map_err(sql("cannot start the copy"))?;
            // A few hundred pages at a time, pausing between steps so the server's writer is
            // never held up for long.
            backup
                .run_to_completion(256, Duration::from_millis(5), None)
                .map_err(sql("the copy failed"))?;
        }
        let copy = Connection::open(&copy_path).map_err(sql("cannot read the copy"))?;
        // The copy is one file: no write-ahead log beside it.
        copy.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sql("cannot prepare the copy"))?;
        let (version, tables) = figures(&copy)?;
        drop(copy);
        let bytes = std::fs::read(&copy_path).map_err(|e| BackupError::Failed(e.to_string()))?;
        Ok((version, tables, bytes))
    })
    .await
}

/// Whether `file` exists and holds any table.
pub(crate) async fn has_tables(file: &Path) -> Result<bool> {
    let file = file.to_owned();
    blocking(move || {
        if !file.exists() || std::fs::metadata(&file).map(|m| m.len() == 0).unwrap_or(true) {
            return Ok(false);
        }
        let conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql("cannot open the target"))?;
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", [], |r| {
                r.get(0)
            })
            .map_err(sql("cannot read the target"))?;
        Ok(tables > 0)
    })
    .await
}

/// Writes the database `bytes` to `file`: to a temporary file beside it, checked, then renamed
/// over it (with its old write-ahead log removed) when `replace`, else only when it is absent.
pub(crate) async fn load(bytes: &[u8], file: &Path, replace: bool) -> Result<()> {
    let (bytes, file) = (bytes.to_vec(), file.to_owned());
    blocking(move || {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&dir)
            .map_err(|e| BackupError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let temp = tempfile::Builder::new()
            .prefix(".plansmith-restore")
            .tempfile_in(&dir)
            .map_err(|e| BackupError::Failed(e.to_string()))?;
        std::fs::write(temp.path(), &bytes).map_err(|e| BackupError::Failed(e.to_string()))?;
        {
            let conn = Connection::open(temp.path()).map_err(sql("the restored database does not open"))?;
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .map_err(sql("the restored database cannot be checked"))?;
            if check != "ok" {
                return Err(BackupError::Failed(format!(
                    "the restored database is damaged: {check}"
                )));
            }
        }
        if file.exists() && !replace {
            return Err(BackupError::Usage(format!(
                "{} exists; add --force to replace it",
                file.display()
            )));
        }
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", file.display()));
            if side.exists() {
                std::fs::remove_file(&side)
                    .map_err(|e| BackupError::Failed(format!("cannot remove {}: {e}", side.display())))?;
            }
        }
        temp.persist(&file)
            .map_err(|e| BackupError::Failed(format!("cannot move the restored database into place: {}", e.error)))?;
        Ok(())
    })
    .await
}

pub(crate) async fn figures_of(file: &Path) -> Result<Figures> {
    let file = file.to_owned();
    blocking(move || {
        let conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql("cannot open the restored database"))?;
        figures(&conn)
    })
    .await
}

fn figures(conn: &Connection) -> Result<Figures> {
    let mut names = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .map_err(sql("cannot list the tables"))?;
    let names: Vec<String> = names
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(sql("cannot list the tables"))?;
    let mut tables = BTreeMap::new();
    for name in names {
        let quoted = name.replace('"', "\"\"");
        let mut statement = conn
            .prepare(&format!("SELECT * FROM \"{quoted}\" ORDER BY rowid"))
            .map_err(sql("cannot read a table"))?;
        let columns = statement.column_count();
        let mut rows = statement.query([]).map_err(sql("cannot read a table"))?;
        let (mut count, mut hash) = (0_i64, Sha256::new());
        while let Some(row) = rows.next().map_err(sql("cannot read a row"))? {
            count += 1;
            for i in 0..columns {
                match row.get_ref(i).map_err(sql("cannot read a value"))? {
                    ValueRef::Null => hash.update([0]),
                    ValueRef::Integer(v) => {
                        hash.update([1]);
                        hash.update(v.to_le_bytes());
                    }
                    ValueRef::Real(v) => {
                        hash.update([2]);
                        hash.update(v.to_le_bytes());
                    }
                    ValueRef::Text(v) | ValueRef::Blob(v) => {
                        hash.update([3]);
                        hash.update((v.len() as u64).to_le_bytes());
                        hash.update(v);
                    }
                }
            }
        }
        let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        tables.insert(name, TableFigures { rows: count, digest });
    }
    let version = if tables.contains_key("_sqlx_migrations") {
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            [],
            |r| r.get(0),
        )
        .map_err(sql("cannot read the schema version"))?
    } else {
        0
    };
    Ok((version, tables))
}
