//! Backups of the database, encrypted and checksummed, with a manifest, and their verification
//! and restore.
//!
//! A backup file is:
//!
//! ```text
//! PLANSMITH-BACKUP 1\n
//! {manifest: kind, schema version, created at, source, row count and content digest per table,
//!  cipher, key fingerprint}\n        ← authenticated with the payload (AES-GCM associated data)
//! {"sha256": …, "bytes": …}\n       ← checksum of what follows
//! nonce (12 bytes) ‖ AES-256-GCM ciphertext and tag
//! ```
//!
//! The payload is the SQLite database as SQLite's online backup API copies it (consistent while
//! the server writes), or PostgreSQL's `pg_dump --format=custom` taken in the same snapshot the
//! manifest's figures are read in. Verification checks the checksum, decrypts, restores into a
//! scratch database and compares every table's row count and content digest with the manifest.

mod figures;
mod postgres;
mod sqlite;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use figures::TableFigures;

const MAGIC: &str = "PLANSMITH-BACKUP 1";
const CIPHER: &str = "AES-256-GCM";

/// What went wrong, sorted by the exit code it deserves: `Usage` (2) for a command that cannot
/// be carried out as given, `Failed` (1) for a backup that does not verify or an operation that
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl BackupError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// The backup key: 32 bytes (`backup.key`, base64).
#[derive(Clone)]
pub struct BackupKey([u8; 32]);

impl BackupKey {
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| BackupError::Usage(format!("backup.key is not base64: {e}")))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            BackupError::Usage(format!(
                "backup.key must be 32 bytes in base64 (e.g. openssl rand -base64 32), not {} bytes",
                b.len()
            ))
        })?;
        Ok(Self(bytes))
    }

    /// Names the key without revealing it: the first 8 bytes of its SHA-256, hex.
    pub fn fingerprint(&self) -> String {
        Sha256::digest(self.0)[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupKey({})", self.fingerprint())
    }
}

/// A database, by its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| BackupError::Usage(format!("'{url}' is not a sqlite:// or postgres:// URL")))?;
        let path = path.split('?').next().unwrap_or(path);
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// For the manifest and messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => postgres::redact(url),
        }
    }
}

/// What a backup holds, stored in clear at the head of the file (and authenticated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sqlite` or `postgres`: a backup restores to the same kind of database.
    pub kind: String,
    /// The last migration applied (the numbers `plansmith migrate --list` prints).
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    /// Where it was taken (path, or URL without password).
    pub source: String,
    /// Row count and content digest per table.
    pub tables: BTreeMap<String, TableFigures>,
    pub cipher: String,
    /// Fingerprint of the key it is encrypted with (see [`BackupKey::fingerprint`]).
    pub key_fingerprint: String,
}

impl Manifest {
    pub fn rows(&self) -> i64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Checksum {
    sha256: String,
    bytes: u64,
}

/// Takes a backup of `source` into `out` (written whole to a temporary file beside it, then
/// renamed; mode 0600).
pub async fn create(source: &Database, key: &BackupKey, out: &Path) -> Result<Manifest> {
    let (schema_version, tables, plain) = match source {
        Database::Sqlite(path) => sqlite::dump(path).await?,
        Database::Postgres(url) => postgres::dump(url).await?,
    };
    let manifest = Manifest {
        kind: source.kind().into(),
        schema_version,
        created_at: Utc::now(),
        source: source.describe(),
        tables,
        cipher: CIPHER.into(),
        key_fingerprint: key.fingerprint(),
    };
    let head = serde_json::to_string(&manifest).map_err(|e| BackupError::Failed(e.to_string()))?;
    let nonce: [u8; 12] = rand::random();
    let sealed = Aes256Gcm::new((&key.0).into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: head.as_bytes(),
            },
        )
        .map_err(|_| BackupError::Failed("encryption failed".into()))?;
    let mut body = nonce.to_vec();
    body.extend_from_slice(&sealed);
    let checksum = Checksum {
        sha256: hex(&Sha256::digest(&body)),
        bytes: body.len() as u64,
    };
    let checksum = serde_json::to_string(&checksum).map_err(|e| BackupError::Failed(e.to_string()))?;
    write_private(
        out,
        &[
            MAGIC.as_bytes(),
            b"\n",
            head.as_bytes(),
            b"\n",
            checksum.as_bytes(),
            b"\n",
            &body,
        ],
    )?;
    Ok(manifest)
}

fn write_private(out: &Path, parts: &[&[u8]]) -> Result<()> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::Builder::new().prefix(".plansmith-backup").tempfile_in(dir)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.as_file().sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.persist(out).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| BackupError::Failed(format!("cannot write {}: {e}", out.display())))
}

/// A backup read and decrypted (checksum and authentication checked).
pub struct Opened {
    pub manifest: Manifest,
    plain: Vec<u8>,
}

/// Reads `path`, checks its checksum and decrypts it with `key`.
pub fn open(path: &Path, key: &BackupKey) -> Result<Opened> {
    let bytes = std::fs::read(path).map_err(|e| BackupError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let not_backup = || {
        BackupError::Failed(format!(
            "{} is not a Plansmith backup (or its head is damaged)",
            path.display()
        ))
    };
    let mut lines = bytes.splitn(4, |b| *b == b'\n');
    let (Some(magic), Some(head), Some(checksum), Some(body)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(not_backup());
    };
    if magic != MAGIC.as_bytes() {
        return Err(not_backup());
    }
    let manifest: Manifest = serde_json::from_slice(head).map_err(|_| not_backup())?;
    let checksum: Checksum = serde_json::from_slice(checksum).map_err(|_| not_backup())?;
    if body.len() as u64 != checksum.bytes || hex(&Sha256::digest(body)) != checksum.sha256 {
        return Err(BackupError::Failed(format!(
            "{} is damaged: its checksum does not match ({} bytes, {} expected)",
            path.display(),
            body.len(),
            checksum.bytes
        )));
    }
    if manifest.key_fingerprint != key.fingerprint() {
        return Err(BackupError::Failed(format!(
            "{} was encrypted with another key (fingerprint {}, this backup.key is {})",
            path.display(),
            manifest.key_fingerprint,
            key.fingerprint()
        )));
    }
    if body.len() < 12 {
        return Err(not_backup());
    }
    let (nonce, sealed) = body.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| not_backup())?;
    let plain = Aes256Gcm::new((&key.0).into())
        .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: head })
        .map_err(|_| BackupError::Failed(format!("{} does not decrypt: it was altered", path.display())))?;
    Ok(Opened { manifest, plain })
}

/// What verification found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    /// Tables whose row count or digest matched after a restore into a scratch database.
    pub tables_checked: usize,
}

/// Checks `path` whole: checksum, decryption, a restore into a scratch database (a temporary
/// file; for PostgreSQL a temporary database on the server of `scratch_url`) and every table's
/// row count and content digest against the manifest.
pub async fn verify(path: &Path, key: &BackupKey, scratch_url: Option<&str>) -> Result<Verified> {
    let opened = open(path, key)?;
    let found = match opened.manifest.kind.as_str() {
        "sqlite" => {
            let dir = tempfile::TempDir::new().map_err(|e| BackupError::Failed(e.to_string()))?;
            let file = dir.path().join("verify.db");
            sqlite::load(&opened.plain, &file, true).await?;
            sqlite::figures_of(&file).await?
        }
        "postgres" => {
            let admin = scratch_url.ok_or_else(|| {
                BackupError::Usage(
                    "verifying a PostgreSQL backup needs a PostgreSQL server for the scratch database: \
                     set database.url (or --scratch-url) to a postgres:// URL"
                        .into(),
                )
            })?;
            postgres::verify_in_scratch(&opened.plain, admin).await?
        }
        other => {
            return Err(BackupError::Failed(format!(
                "unknown database kind '{other}' in the manifest"
            )));
        }
    };
    compare(&opened.manifest, &found.1)?;
    Ok(Verified {
        tables_checked: found.1.len(),
        manifest: opened.manifest,
    })
}

/// Restores `path` into `target`, which must be of the backup's kind and empty unless `force`
/// (then its contents are replaced). The restored tables are checked against the manifest.
pub async fn restore(path: &Path, key: &BackupKey, target: &Database, force: bool) -> Result<Manifest> {
    let opened = open(path, key)?;
    if opened.manifest.kind != target.kind() {
        return Err(BackupError::Usage(format!(
            "this is a {} backup; restore it to a {} database, not {}",
            opened.manifest.kind,
            opened.manifest.kind,
            target.describe()
        )));
    }
    let found = match target {
        Database::Sqlite(file) => {
            if !force && sqlite::has_tables(file).await? {
                return Err(BackupError::Usage(format!(
                    "{} already holds a database; restore into an empty target, or add --force to replace it",
                    file.display()
                )));
            }
            sqlite::load(&opened.plain, file, force).await?;
            sqlite::figures_of(file).await?
        }
        Database::Postgres(url) => postgres::restore(&opened.plain, url, force).await?,
    };
    compare(&opened.manifest, &found.1)?;
    Ok(opened.manifest)
}

fn compare(manifest: &Manifest, found: &BTreeMap<String, TableFigures>) -> Result<()> {
    let mut problems = Vec::new();
    for (table, want) in &manifest.tables {
        match found.get(table) {
            None => problems.push(format!("table {table} is missing")),
            Some(got) if got.rows != want.rows => problems.push(format!(
                "table {table}: {} rows, the manifest says {}",
                got.rows, want.rows
            )),
            Some(got) if got.digest != want.digest => problems.push(format!("table {table}: its content differs")),
            Some(_) => {}
        }
    }
    for table in found.keys().filter(|t| !manifest.tables.contains_key(*t)) {
        problems.push(format!("table {table} is not in the manifest"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BackupError::Failed(format!(
            "the restored data does not match the manifest: {}",
            problems.join("; ")
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The backups in `dir` made by [`scheduled_name`], oldest first.
pub fn scheduled_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("plansmith-") && n.ends_with(".backup"))
        })
        .collect();
    found.sort();
    found
}

/// `plansmith-20261203T150000Z.backup`: sorts by time.
pub fn scheduled_name(at: DateTime<Utc>) -> String {
    format!("plansmith-{}.backup", at.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BackupKey {
        BackupKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(matches!(
            BackupKey::from_base64("not base64!"),
            Err(BackupError::Usage(_))
        ));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = BackupKey::from_base64(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes") && err.contains("16"), "{err}");
        assert_eq!(key().fingerprint().len(), 16);
        assert!(!format!("{:?}", key()).contains("0707"), "the key is never printed");
    }

    #[test]
    fn urls_name_their_kind() {
        assert_eq!(
            Database::from_url("sqlite://data/p.db?mode=rwc").unwrap(),
            Database::Sqlite("data/p.db".into())
        );
        assert_eq!(
            Database::from_url("postgres://u:secret@h/db").unwrap().kind(),
            "postgres"
        );
        assert!(
            !Database::from_url("postgres://u:secret@h/db")
                .unwrap()
                .describe()
                .contains("secret")
        );
        assert!(matches!(Database::from_url("mysql://x"), Err(BackupError::Usage(_))));
    }

    #[tokio::test]
    async fn a_damaged_altered_or_foreign_backup_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("source.db");
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b');",
            )
            .unwrap();
        }
        let out = dir.path().join("one.backup");
        let manifest = create(&Database::Sqlite(db.clone()), &key(), &out).await.unwrap();
        assert_eq!(manifest.tables["notes"].rows, 2);
        let verified = verify(&out, &key(), None).await.unwrap();
        assert_eq!(verified.tables_checked, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        }

        let bytes = std::fs::read(&out).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(dir.path().join("flipped.backup"), &flipped).unwrap();
        let err = verify(&dir.path().join("flipped.backup"), &key(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert_eq!(err.exit_code(), 1);

        // A changed manifest with a recomputed checksum: authentication fails.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let altered = text.replacen("\"rows\":2", "\"rows\":3", 1);
        assert_ne!(altered, text);
        std::fs::write(dir.path().join("altered.backup"), altered.as_bytes()).unwrap();
        let err = verify(&dir.path().join("altered.backup"), &key(), None)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("altered") || err.to_string().contains("not a Plansmith"),
            "{err}"
        );

        let other = BackupKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32])).unwrap();
        let err = verify(&out, &other, None).await.unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");

        let err = verify(&dir.path().join("missing.backup"), &key(), None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        std::fs::write(dir.path().join("junk.backup"), b"hello").unwrap();
        let err = verify(&dir.path().join("junk.backup"), &key(), None).await.unwrap_err();
        assert_eq!(err.exit_code(), 1);
    }

    #[tokio::test]
    async fn restore_refuses_a_non_empty_target_without_force_and_the_wrong_kind() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("source.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let out = dir.path().join("b.backup");
        create(&Database::Sqlite(db.clone()), &key(), &out).await.unwrap();
        let err = restore(&out, &key(), &Database::Sqlite(db.clone()), false)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("--force"));
        let err = restore(&out, &key(), &Database::Postgres("postgres://x/y".into()), false)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let fresh = dir.path().join("restored.db");
        let manifest = restore(&out, &key(), &Database::Sqlite(fresh.clone()), false)
            .await
            .unwrap();
        assert_eq!(manifest.rows(), manifest.tables["t"].rows);
        restore(&out, &key(), &Database::Sqlite(fresh), true)
            .await
            .expect("--force replaces");
    }

    #[test]
    fn scheduled_backups_sort_by_time() {
        let dir = tempfile::TempDir::new().unwrap();
        for name in [
            "plansmith-20261203T150000Z.backup",
            "plansmith-20261201T000000Z.backup",
            "other.txt",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found = scheduled_backups(dir.path());
        assert_eq!(found.len(), 2);
        assert!(found[0].ends_with("plansmith-20261201T000000Z.backup"));
        assert_eq!(
            scheduled_name("2026-12-03T15:00:00Z".parse().unwrap()),
            "plansmith-20261203T150000Z.backup"
        );
    }
}
