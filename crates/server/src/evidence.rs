//! `plansmith compliance evidence --out DIR`: the machine-verifiable evidence of the controls in
//! `docs/compliance/soc2.md`, collected into a dated folder: the effective configuration with
//! secrets redacted, the audit chain's verification, the newest backup's verification, the
//! dependency scan and a test run summary (when given), and a manifest with every file's
//! SHA-256. Something that cannot be collected is written down as such, never left out
//! silently; a broken audit chain or a backup that does not verify makes the command fail
//! (after writing everything).

use crate::config::{Settings, given};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What was collected and whether every check passed.
#[derive(Debug)]
pub struct Evidence {
    pub folder: PathBuf,
    pub files: Vec<String>,
    /// Checks that failed (the audit chain broken, a backup that does not verify).
    pub failures: Vec<String>,
}

/// Collects the evidence into `out/plansmith-evidence-<UTC time>/`.
pub async fn collect(settings: &Settings, out: &Path) -> Result<Evidence, String> {
    let now = Utc::now();
    let folder = out.join(format!("plansmith-evidence-{}", now.format("%Y%m%dT%H%M%SZ")));
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut failures = Vec::new();
    let mut files = Vec::new();
    let write = |files: &mut Vec<String>, name: &str, text: String| -> Result<(), String> {
        std::fs::write(folder.join(name), text).map_err(|e| format!("{name}: {e}"))?;
        files.push(name.to_owned());
        Ok(())
    };

    write(
        &mut files,
        "config.txt",
        format!(
            "# The effective settings (file, environment, defaults), secrets not shown.\n{}\n",
            crate::config::diff::redacted(settings).join("\n")
        ),
    )?;

    let audit = match audit_verification(settings).await {
        Ok(text) => text,
        Err(text) => {
            failures.push("the audit chain does not verify".to_owned());
            text
        }
    };
    write(&mut files, "audit-verify.txt", audit)?;

    let backup = match backup_verification(settings).await {
        Ok(text) => text,
        Err(text) => {
            failures.push("the newest backup does not verify".to_owned());
            text
        }
    };
    write(&mut files, "backup-verify.txt", backup)?;
    write(&mut files, "dependencies.txt", dependency_scan())?;
    write(&mut files, "tests.txt", test_summary())?;

    let mut hashes = serde_json::Map::new();
    for name in &files {
        let bytes = std::fs::read(folder.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        hashes.insert(name.clone(), serde_json::Value::String(digest));
    }
    let manifest = serde_json::json!({
        "release": env!("CARGO_PKG_VERSION"),
        "collected_at": now.to_rfc3339(),
        "database": crate::config::redact_url(&settings.database.url),
        "sha256": hashes,
        "failures": failures,
    });
    write(
        &mut files,
        "manifest.json",
        serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?,
    )?;
    Ok(Evidence {
        folder,
        files,
        failures,
    })
}

async fn audit_verification(settings: &Settings) -> Result<String, String> {
    let keys = crate::crypto::Keyring::load_existing(settings).map_err(|e| format!("not verified: {e}\n"))?;
    let store = crate::open_store(settings, false)
        .await
        .map_err(|e| format!("not verified: the database cannot be opened: {e}\n"))?;
    match crate::audit::verify_chain(store.as_ref(), &keys).await {
        Ok(Ok(report)) => Ok(format!(
            "audit chain intact: {} entries ({}–{}), {} signed checkpoints, key ids configured: {}\n",
            report.entries,
            report.first_seq.unwrap_or(0),
            report.last_seq.unwrap_or(0),
            report.checkpoints,
            keys.ids().collect::<Vec<_>>().join(", ")
        )),
        Ok(Err(broken)) => Err(format!("audit chain broken: {broken}\n")),
        Err(e) => Err(format!("not verified: {e}\n")),
    }
}

async fn backup_verification(settings: &Settings) -> Result<String, String> {
    let Some(key) = given(&settings.backup.key) else {
        return Ok("no backup verified: backup.key is not set on this machine\n".into());
    };
    let newest = std::fs::read_dir(&settings.backup.dir).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "backup"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    });
    let Some(path) = newest else {
        return Ok(format!("no backup verified: no *.backup in {}\n", settings.backup.dir));
    };
    let key = plansmith_backup::BackupKey::from_base64(key).map_err(|e| format!("not verified: {e}\n"))?;
    let scratch = settings
        .database
        .url
        .starts_with("postgres")
        .then(|| settings.database.url.clone());
    match plansmith_backup::verify(&path, &key, scratch.as_deref()).await {
        Ok(v) => Ok(format!(
            "{} verifies: {} backup taken {}, schema version {}, {} tables and {} rows restored and matched\n",
            path.display(),
            v.manifest.kind,
            v.manifest.created_at.to_rfc3339(),
            v.manifest.schema_version,
            v.tables_checked,
            v.manifest.rows()
        )),
        Err(e) => Err(format!("{} does not verify: {e}\n", path.display())),
    }
}

/// The scan CI ran (`PLANSMITH_EVIDENCE_DEPENDENCY_SCAN` names its output), else the note of how to
/// produce it.
fn dependency_scan() -> String {
    from_file("PLANSMITH_EVIDENCE_DEPENDENCY_SCAN").unwrap_or_else(|| {
        "not collected: set PLANSMITH_EVIDENCE_DEPENDENCY_SCAN to the output of ./scripts/supply-chain (cargo deny: advisories, licenses, bans, sources; npm audit) of this release\n".into()
    })
}

/// The test run of this release (`PLANSMITH_EVIDENCE_TEST_SUMMARY` names e.g. nextest's JUnit XML).
fn test_summary() -> String {
    from_file("PLANSMITH_EVIDENCE_TEST_SUMMARY").unwrap_or_else(|| {
        "not collected: set PLANSMITH_EVIDENCE_TEST_SUMMARY to the test report of this release (bash .ci/run writes every test's result; nextest --profile ci writes JUnit XML)\n".into()
    })
}

fn from_file(var: &str) -> Option<String> {
    let path = std::env::var(var).ok().filter(|p| !p.trim().is_empty())?;
    Some(match std::fs::read_to_string(&path) {
        Ok(text) => format!("# from {path}\n{text}"),
        Err(e) => format!("not collected: {var}={path}: {e}\n"),
    })
}
