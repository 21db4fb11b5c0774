//! The erasure log: one JSON line per erased account (`{"user_id", "erased_at"}`), appended and
//! synced to disk at each erasure, in a file outside the database (`backup.erasure_log`). A
//! backup taken before an erasure still holds the account; `plansmith backup restore` reads
//! this log and erases again every account in it that the restored database holds, so a
//! restore never brings an erased person back.

use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub user_id: uuid::Uuid,
    pub erased_at: DateTime<Utc>,
}

/// Appends an erasure and syncs the file.
pub fn record(path: &Path, user: UserId, at: DateTime<Utc>) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let line = serde_json::to_string(&Erasure {
        user_id: user.0,
        erased_at: at,
    })
    .map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()
}

/// Every erasure in the log (none when there is no log yet). A line that does not parse is an
/// error naming its number: the log is never skipped over silently.
pub fn read(path: &Path) -> Result<Vec<Erasure>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1)))
        .collect()
}

/// Erases again every account of the log that `store` holds; returns them.
pub async fn reapply(store: &dyn Store, erasures: &[Erasure]) -> Result<Vec<UserId>, StoreError> {
    let mut erased = Vec::new();
    for e in erasures {
        let user = UserId(e.user_id);
        if let Some(found) = store.user_by_id(user).await?
            && store.erase_user(user, found.email.as_str()).await?
        {
            erased.push(user);
        }
    }
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasures_are_appended_and_read_back_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/erasures.log");
        assert!(read(&path).unwrap().is_empty(), "no log yet: nothing to reapply");
        let (a, b) = (UserId(uuid::Uuid::now_v7()), UserId(uuid::Uuid::now_v7()));
        let at = Utc::now();
        record(&path, a, at).unwrap();
        record(&path, b, at).unwrap();
        let read_back = read(&path).unwrap();
        assert_eq!(read_back.iter().map(|e| e.user_id).collect::<Vec<_>>(), [a.0, b.0]);
        std::fs::write(
            &path,
            format!("{}\nnot json\n", std::fs::read_to_string(&path).unwrap()),
        )
        .unwrap();
        assert!(read(&path).unwrap_err().contains("line 4"));
    }
}
