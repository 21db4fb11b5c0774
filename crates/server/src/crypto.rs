//! The keys that protect stored data: key-encryption keys by id (`crypto.keys`, or a key file),
//! one of them current. They sign the audit trail's checkpoints (HMAC-SHA256 under a key
//! derived from the key-encryption key, so the raw key serves one purpose only).
//!
//! Without keys and without a key file, an embedded deployment (SQLite in a file) generates a
//! key file beside its database on first start, readable by its owner only (0600), and says
//! so in the log; a PostgreSQL deployment must be given the same keys on every instance.

use crate::config::{Settings, given};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use plansmith_store::audit::AuditSigner;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// What the audit checkpoint key is derived with.
const AUDIT_KEY_LABEL: &[u8] = b"plansmith audit checkpoint key v1";

/// Why the keys cannot be used; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("crypto.keys.{id}: {problem} (32 bytes in base64, e.g. `openssl rand -base64 32`)")]
    BadKey { id: String, problem: String },
    #[error("crypto.keys: {0}")]
    BadList(String),
    #[error("crypto.current_key: '{0}' is not one of the configured key ids ({1})")]
    UnknownCurrent(String, String),
    #[error("crypto.current_key: several keys are configured ({0}); name the one new data is protected with")]
    NoCurrent(String),
    #[error("crypto.key_file: {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error(
        "crypto: PostgreSQL deployments need crypto.keys (PLANSMITH_CRYPTO__KEYS=\"k1:BASE64\") or crypto.key_file, the same on every instance"
    )]
    Missing,
    #[error("crypto: set crypto.keys or crypto.key_file, not both")]
    Both,
    #[error(
        "data key {data_key} is wrapped with key id '{kek_id}', which is not configured (crypto.keys has {configured}); add that key"
    )]
    UnknownKek {
        data_key: String,
        kek_id: String,
        configured: String,
    },
    #[error(
        "data key {data_key} does not open with the configured key '{kek_id}': that key id holds a different key than the one the data was protected with"
    )]
    WrongKek { data_key: String, kek_id: String },
}

/// Where the keys came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Settings,
    File(PathBuf),
    /// Generated now, into this file.
    Generated(PathBuf),
    /// Generated now and kept in memory only (an in-memory database).
    Ephemeral,
}

pub struct Keyring {
    keys: BTreeMap<String, [u8; 32]>,
    current: String,
    /// The current key's audit checkpoint MAC, keyed once.
    current_mac: HmacSha256,
    source: KeySource,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .field("source", &self.source)
            .finish()
    }
}

/// `id:BASE64` entries separated by commas or new lines (blank lines and `#` comments
/// ignored).
pub fn parse_key_list(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut keys = BTreeMap::new();
    let lines = text.lines().map(str::trim).filter(|line| !line.starts_with('#'));
    for entry in lines.flat_map(|line| line.split(',')).map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let (id, key) = entry
            .split_once(':')
            .ok_or_else(|| "each key is written id:BASE64 (e.g. k1:…), separated by commas".to_owned())?;
        let id = id.trim();
        if !valid_id(id) {
            return Err(format!(
                "'{id}' is not a key id: use letters, digits, '-' and '_' (at most 32)"
            ));
        }
        if keys.insert(id.to_owned(), key.trim().to_owned()).is_some() {
            return Err(format!("the key id '{id}' is given twice"));
        }
    }
    Ok(keys)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn decode(id: &str, text: &str) -> Result<[u8; 32], KeyError> {
    let bad = |problem: String| KeyError::BadKey {
        id: id.to_owned(),
        problem,
    };
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| bad(format!("is not base64 ({e})")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad(format!("must be 32 bytes, not {}", bytes.len())))
}

impl Keyring {
    /// The keys of these settings; may generate the embedded default's key file.
    pub fn load(settings: &Settings) -> Result<Self, KeyError> {
        Self::open(settings, true)
    }

    /// The keys of these settings as they are, never generating a key file (for commands that
    /// only read, such as collecting evidence).
    pub fn load_existing(settings: &Settings) -> Result<Self, KeyError> {
        Self::open(settings, false)
    }

    fn open(settings: &Settings, generate: bool) -> Result<Self, KeyError> {
        let crypto = &settings.crypto;
        let explicit_file = given(&crypto.key_file);
        if !crypto.keys.is_empty() && explicit_file.is_some() {
            return Err(KeyError::Both);
        }
        if !crypto.keys.is_empty() {
            return Self::from_map(&crypto.keys, given(&crypto.current_key), KeySource::Settings);
        }
        if let Some(path) = explicit_file {
            return Self::read_file(Path::new(path), given(&crypto.current_key));
        }
        let url = &settings.database.url;
        if !url.starts_with("sqlite:") {
            return Err(KeyError::Missing);
        }
        match sqlite_dir(url) {
            None => {
                let (id, key) = new_key();
                let map = BTreeMap::from([(id, STANDARD.encode(key))]);
                Self::from_map(&map, None, KeySource::Ephemeral)
            }
            Some(dir) => {
                let path = dir.join("plansmith.keys");
                if path.exists() || !generate {
                    return Self::read_file(&path, given(&crypto.current_key));
                }
                generate_file(&path)?;
                let mut ring = Self::read_file(&path, None)?;
                ring.source = KeySource::Generated(path);
                Ok(ring)
            }
        }
    }

    /// What `config check` reports about the keys, without generating anything.
    pub fn describe(settings: &Settings) -> Result<String, KeyError> {
        let crypto = &settings.crypto;
        let url = &settings.database.url;
        let default_file = url.starts_with("sqlite:").then(|| sqlite_dir(url)).flatten();
        if crypto.keys.is_empty()
            && given(&crypto.key_file).is_none()
            && let Some(dir) = default_file.as_ref()
        {
            let path = dir.join("plansmith.keys");
            if !path.exists() {
                return Ok(format!(
                    "a key file will be generated at {} on first start",
                    path.display()
                ));
            }
        }
        let ring = Self::load(settings)?;
        let ids: Vec<&str> = ring.ids().collect();
        let from = match ring.source() {
            KeySource::Settings => "crypto.keys".to_owned(),
            KeySource::File(path) | KeySource::Generated(path) => path.display().to_string(),
            KeySource::Ephemeral => "memory (an in-memory database)".to_owned(),
        };
        Ok(format!("{} from {from}, current {}", ids.join(", "), ring.current_id()))
    }

    /// Keys from a map of id to base64.
    pub fn from_map(
        map: &BTreeMap<String, String>,
        current: Option<&str>,
        source: KeySource,
    ) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (id, text) in map {
            if !valid_id(id) {
                return Err(KeyError::BadList(format!(
                    "'{id}' is not a key id: use letters, digits, '-' and '_' (at most 32)"
                )));
            }
            keys.insert(id.clone(), decode(id, text)?);
        }
        let ids = || keys.keys().cloned().collect::<Vec<_>>().join(", ");
        let current = match current {
            Some(id) if keys.contains_key(id) => id.to_owned(),
            Some(id) => return Err(KeyError::UnknownCurrent(id.to_owned(), ids())),
            None if keys.len() == 1 => keys.keys().next().cloned().unwrap_or_default(),
            None if keys.is_empty() => return Err(KeyError::BadList("no keys are given".into())),
            None => return Err(KeyError::NoCurrent(ids())),
        };
        let current_mac = audit_mac(&keys, &current).ok_or_else(|| KeyError::BadKey {
            id: current.clone(),
            problem: "cannot key HMAC-SHA256 with it".into(),
        })?;
        Ok(Self {
            keys,
            current,
            current_mac,
            source,
        })
    }

    fn read_file(path: &Path, current: Option<&str>) -> Result<Self, KeyError> {
        let file_err = |problem: String| KeyError::File {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let mut file_current = None;
        let mut lines = Vec::new();
        for line in text.lines() {
            match line.trim().strip_prefix("current=") {
                Some(id) => file_current = Some(id.trim().to_owned()),
                None => lines.push(line),
            }
        }
        let map = parse_key_list(&lines.join("\n")).map_err(file_err)?;
        Self::from_map(
            &map,
            current.or(file_current.as_deref()),
            KeySource::File(path.to_owned()),
        )
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Logs where the keys came from (never the keys).
    pub fn log_source(&self) {
        let ids: Vec<&str> = self.ids().collect();
        match &self.source {
            KeySource::Generated(path) => tracing::warn!(
                path = %path.display(), key_id = %self.current,
                "generated a data protection key file; keep a copy apart from the database backups (without it they cannot be verified or read)"
            ),
            KeySource::Ephemeral => {
                tracing::warn!("in-memory database: its data protection key lives in memory only, for this run")
            }
            KeySource::File(path) => {
                tracing::info!(path = %path.display(), current = %self.current, ?ids, "data protection keys from the key file")
            }
            KeySource::Settings => {
                tracing::info!(current = %self.current, ?ids, "data protection keys from crypto.keys")
            }
        }
    }
}

impl Keyring {
    fn kek(&self, id: &str) -> Option<aes_gcm::Aes256Gcm> {
        use aes_gcm::KeyInit;
        self.keys.get(id).map(|k| aes_gcm::Aes256Gcm::new(k.into()))
    }

    fn wrap_aad(id: &str, user: plansmith_domain::UserId) -> Vec<u8> {
        format!("plansmith-data-key:{id}:{user}").into_bytes()
    }

    /// A new data key for `user`, wrapped with the current key.
    pub fn new_data_key(&self, user: plansmith_domain::UserId) -> plansmith_store::keys::StoredDataKey {
        let id: [u8; 6] = rand::random();
        let id = hex(&id);
        let key: [u8; 32] = rand::random();
        plansmith_store::keys::StoredDataKey {
            wrapped: self.wrap(&self.current, &id, user, &key),
            id,
            user_id: user,
            kek_id: self.current.clone(),
            created_at: chrono::Utc::now(),
        }
    }

    fn wrap(&self, kek_id: &str, id: &str, user: plansmith_domain::UserId, key: &[u8; 32]) -> String {
        use aes_gcm::aead::{Aead, Payload};
        let nonce: [u8; 12] = rand::random();
        let aad = Self::wrap_aad(id, user);
        let sealed = self
            .kek(kek_id)
            .and_then(|kek| {
                kek.encrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: key, aad: &aad })
                    .ok()
            })
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        STANDARD.encode(bytes)
    }

    /// The data key inside its wrapping.
    pub fn unwrap_data_key(&self, stored: &plansmith_store::keys::StoredDataKey) -> Result<[u8; 32], KeyError> {
        use aes_gcm::aead::{Aead, Payload};
        let kek = self.kek(&stored.kek_id).ok_or_else(|| KeyError::UnknownKek {
            data_key: stored.id.clone(),
            kek_id: stored.kek_id.clone(),
            configured: self.keys.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let wrong = || KeyError::WrongKek {
            data_key: stored.id.clone(),
            kek_id: stored.kek_id.clone(),
        };
        let bytes = STANDARD.decode(&stored.wrapped).map_err(|_| wrong())?;
        if bytes.len() < 12 {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| wrong())?;
        let aad = Self::wrap_aad(&stored.id, stored.user_id);
        let plain = kek
            .decrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: sealed, aad: &aad })
            .map_err(|_| wrong())?;
        <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| wrong())
    }

    /// The data key re-wrapped with the current key (rotation).
    pub fn rewrap_data_key(&self, stored: &plansmith_store::keys::StoredDataKey) -> Result<String, KeyError> {
        let key = self.unwrap_data_key(stored)?;
        Ok(self.wrap(&self.current, &stored.id, stored.user_id, &key))
    }
}

/// What a stream payload sealed with a key-encryption key starts with.
const STREAM_PREFIX: &str = "psl1.";
const STREAM_KEY_LABEL: &[u8] = b"plansmith stream log key v1";

/// Seals the payloads of the reply stream logs Redis keeps, with a key derived from the
/// current key-encryption key (the logs live for minutes; a person's data key is for what the
/// database keeps). The value names the key id, so logs written before a rotation still open
/// while the old key is configured.
pub struct StreamSeal {
    keys: std::sync::Arc<Keyring>,
    /// `crypto.seal_writes`: while off (a rolling upgrade from a release that cannot open
    /// them), payloads are written as they are; sealed ones are read either way.
    writes: bool,
}

impl StreamSeal {
    pub fn new(keys: std::sync::Arc<Keyring>, writes: bool) -> Self {
        Self { keys, writes }
    }

    fn cipher(&self, id: &str) -> Option<aes_gcm::Aes256Gcm> {
        use aes_gcm::KeyInit;
        let mut derive = <HmacSha256 as Mac>::new_from_slice(self.keys.keys.get(id)?).ok()?;
        derive.update(STREAM_KEY_LABEL);
        let key: [u8; 32] = derive.finalize().into_bytes().into();
        Some(aes_gcm::Aes256Gcm::new(&key.into()))
    }
}

impl plansmith_cache::PayloadSeal for StreamSeal {
    fn seal(&self, json: &str) -> String {
        use aes_gcm::aead::{Aead, Payload};
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        if !self.writes {
            return json.to_owned();
        }
        let id = &self.keys.current;
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher(id)
            .and_then(|c| {
                c.encrypt(
                    &aes_gcm::Nonce::from(nonce),
                    Payload {
                        msg: json.as_bytes(),
                        aad: id.as_bytes(),
                    },
                )
                .ok()
            })
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{STREAM_PREFIX}{id}.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    fn open(&self, stored: &str) -> Result<String, String> {
        use aes_gcm::aead::{Aead, Payload};
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // Written before payloads were sealed: JSON as it is.
        let Some(rest) = stored.strip_prefix(STREAM_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once('.').ok_or("a sealed payload names no key")?;
        let cipher = self
            .cipher(id)
            .ok_or_else(|| format!("the payload is sealed with key id '{id}', which is not configured"))?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|e| e.to_string())?;
        if bytes.len() < 12 {
            return Err("a sealed payload is too short".into());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| "a sealed payload is too short")?;
        let plain = cipher
            .decrypt(
                &aes_gcm::Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| "a sealed payload does not open (altered, or another key under its id)".to_owned())?;
        String::from_utf8(plain).map_err(|e| e.to_string())
    }
}

/// What a rotation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub data_keys: u64,
    pub checkpoints: u64,
}

/// Moves everything an older key protects to the current key: every data key is re-wrapped
/// (in batches; the data itself is untouched) and every audit checkpoint re-signed. Online:
/// servers keep reading with the old key until it is removed. Resumable: a run after an
/// interruption finds only what is left. `progress` hears the running count after each batch.
pub async fn rotate(
    store: &dyn plansmith_store::Store,
    keys: std::sync::Arc<Keyring>,
    mut progress: impl FnMut(u64),
) -> Result<Rotation, String> {
    const BATCH: u32 = 500;
    // Re-signing vouches for the chain: a chain that does not verify now is not re-signed.
    match crate::audit::verify_chain(store, keys.as_ref()).await {
        Ok(Ok(_)) => {}
        Ok(Err(broken)) => {
            return Err(format!(
                "the audit chain does not verify, so its checkpoints are not re-signed: {broken}"
            ));
        }
        Err(e) => return Err(e.to_string()),
    }
    let current = keys.current_id().to_owned();
    let mut done = Rotation::default();
    loop {
        let batch = store
            .data_keys_to_rewrap(&current, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            break;
        }
        for key in &batch {
            let wrapped = keys.rewrap_data_key(key).map_err(|e| e.to_string())?;
            if store
                .rewrap_data_key(&key.id, &key.kek_id, &current, &wrapped)
                .await
                .map_err(|e| e.to_string())?
            {
                done.data_keys += 1;
            }
        }
        progress(done.data_keys);
    }
    done.checkpoints = store
        .resign_audit_checkpoints(keys.clone())
        .await
        .map_err(|e| e.to_string())?;
    Ok(done)
}

impl AuditSigner for Keyring {
    fn sign(&self, message: &[u8]) -> (String, String) {
        let mut mac = self.current_mac.clone();
        mac.update(message);
        (self.current.clone(), hex(&mac.finalize().into_bytes()))
    }

    fn verify(&self, key_id: &str, message: &[u8], mac_hex: &str) -> Result<bool, String> {
        let mut mac = audit_mac(&self.keys, key_id).ok_or_else(|| {
            format!(
                "it is signed with key id '{key_id}', which is not configured (crypto.keys has {}); add that key to verify it",
                self.keys.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        mac.update(message);
        let Some(expected) = unhex(mac_hex) else {
            return Ok(false);
        };
        Ok(mac.verify_slice(&expected).is_ok())
    }
}

/// The audit checkpoint MAC of key `id`, under a key derived from it.
fn audit_mac(keys: &BTreeMap<String, [u8; 32]>, id: &str) -> Option<HmacSha256> {
    let mut derive = HmacSha256::new_from_slice(keys.get(id)?).ok()?;
    derive.update(AUDIT_KEY_LABEL);
    HmacSha256::new_from_slice(&derive.finalize().into_bytes()).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The folder of an SQLite database file; none for an in-memory database.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || path.starts_with("file::memory") {
        return None;
    }
    Some(
        Path::new(path)
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    )
}

/// A new key with a random id.
pub fn new_key() -> (String, [u8; 32]) {
    let id: [u8; 4] = rand::random();
    (format!("local-{}", hex(&id)), rand::random())
}

/// Writes a new key file (mode 0600), unless another process just did: the first writer wins
/// and everyone reads its file.
fn generate_file(path: &Path) -> Result<(), KeyError> {
    let file_err = |e: std::io::Error| KeyError::File {
        path: path.to_owned(),
        problem: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_err)?;
    }
    let (id, key) = new_key();
    let text = format!(
        "# Plansmith data protection keys: id:BASE64 (32 bytes), and the current one.\n\
         # Keep a copy apart from the database backups; without it they cannot be verified or read.\n\
         current={id}\n{id}:{}\n",
        STANDARD.encode(key)
    );
    let tmp = path.with_extension(format!("keys.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    {
        use std::io::Write;
        let mut file = options.open(&tmp).map_err(file_err)?;
        file.write_all(text.as_bytes()).map_err(file_err)?;
        file.sync_all().map_err(file_err)?;
    }
    // A hard link never replaces an existing file: a racing process's key file stays.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(file_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        STANDARD.encode([b; 32])
    }

    #[test]
    fn key_lists_parse_and_bad_ones_name_what_is_wrong() {
        let map = parse_key_list(&format!("k1:{}, k2:{}", key(1), key(2))).unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert!(parse_key_list("k1").unwrap_err().contains("id:BASE64"));
        assert!(parse_key_list("k 1:abc").unwrap_err().contains("not a key id"));
        assert!(
            parse_key_list(&format!("k1:{0},k1:{0}", key(1)))
                .unwrap_err()
                .contains("twice")
        );

        let short = BTreeMap::from([("k1".to_owned(), STANDARD.encode([0u8; 16]))]);
        let err = Keyring::from_map(&short, None, KeySource::Settings)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crypto.keys.k1") && err.contains("32 bytes, not 16"),
            "{err}"
        );
        let two = parse_key_list(&format!("k1:{}, k2:{}", key(1), key(2))).unwrap();
        let err = Keyring::from_map(&two, None, KeySource::Settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("crypto.current_key") && err.contains("k1, k2"), "{err}");
        let err = Keyring::from_map(&two, Some("k3"), KeySource::Settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'k3' is not one of"), "{err}");
    }

    #[test]
    fn stream_payloads_are_sealed_and_open_while_their_key_is_configured() {
        use plansmith_cache::PayloadSeal;
        let map = parse_key_list(&format!("k1:{}, k2:{}", key(1), key(2))).unwrap();
        let ring = |current| std::sync::Arc::new(Keyring::from_map(&map, Some(current), KeySource::Settings).unwrap());
        let old = StreamSeal::new(ring("k1"), true);
        let new = StreamSeal::new(ring("k2"), true);
        assert_eq!(
            StreamSeal::new(ring("k2"), false).seal("{}"),
            "{}",
            "not sealed while writes are off"
        );
        let json = r#"{"type":"token","text":"secret plans"}"#;
        let sealed = old.seal(json);
        assert!(sealed.starts_with("psl1.k1.") && !sealed.contains("secret"), "{sealed}");
        assert_eq!(new.open(&sealed).unwrap(), json, "opens after the current key moved on");
        assert_eq!(new.open(json).unwrap(), json, "payloads from before sealing");
        let only_k2 = Keyring::from_map(&BTreeMap::from([("k2".to_owned(), key(2))]), None, KeySource::Settings);
        let err = StreamSeal::new(std::sync::Arc::new(only_k2.unwrap()), true)
            .open(&sealed)
            .unwrap_err();
        assert!(err.contains("'k1'"), "{err}");
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(new.open(&altered).is_err());
    }

    #[test]
    fn checkpoints_verify_under_their_key_only() {
        let map = parse_key_list(&format!("k1:{}, k2:{}", key(1), key(2))).unwrap();
        let old = Keyring::from_map(&map, Some("k1"), KeySource::Settings).unwrap();
        let new = Keyring::from_map(&map, Some("k2"), KeySource::Settings).unwrap();
        let (id, mac) = old.sign(b"message");
        assert_eq!(id, "k1");
        assert_eq!(
            new.verify(&id, b"message", &mac),
            Ok(true),
            "a retired key still verifies"
        );
        assert_eq!(new.verify(&id, b"massage", &mac), Ok(false));
        assert_eq!(new.verify("k2", b"message", &mac), Ok(false));
        let only_k2 =
            Keyring::from_map(&BTreeMap::from([("k2".to_owned(), key(2))]), None, KeySource::Settings).unwrap();
        assert!(only_k2.verify("k1", b"message", &mac).unwrap_err().contains("'k1'"));
    }

    #[test]
    fn the_embedded_default_generates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.database.url = format!("sqlite://{}/data/plansmith.db", dir.path().display());
        let first = Keyring::load(&settings).unwrap();
        let path = dir.path().join("data/plansmith.keys");
        assert_eq!(first.source(), &KeySource::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = Keyring::load(&settings).unwrap();
        assert_eq!(again.source(), &KeySource::File(path));
        assert_eq!(again.current_id(), first.current_id());
        let (_, mac) = first.sign(b"m");
        assert_eq!(again.verify(first.current_id(), b"m", &mac), Ok(true));

        settings.database.url = "postgres://app@db/plansmith".into();
        assert!(matches!(Keyring::load(&settings), Err(KeyError::Missing)));
        settings.crypto.key_file = Some(dir.path().join("missing.keys").display().to_string());
        let err = Keyring::load(&settings).unwrap_err().to_string();
        assert!(err.contains("crypto.key_file") && err.contains("missing.keys"), "{err}");
    }
}
