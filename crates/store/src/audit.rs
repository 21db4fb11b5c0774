//! The audit trail's records and its tamper evidence: every entry holds the SHA-256 of the
//! previous entry's hash and its own canonical content (a hash chain), and signed checkpoints
//! (an HMAC over a position and its hash, by a key the database does not hold) pin the chain
//! so that rewriting it whole is detected too. Entries hold opaque ids only (no email, no
//! content, the address as its network), so an erasure never rewrites them.
//!
//! The backends store and list entries; the chain is computed here, once for both, by
//! [`chain_entry`] when appending and checked by [`ChainCheck`] when verifying.

use chrono::{DateTime, SecondsFormat, Utc};
use plansmith_domain::{SessionId, UserId};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditActor {
    /// A person on their own data (or their own account).
    User,
    /// An admin, on anyone's.
    Admin,
    /// The platform itself (replies, jobs, commands).
    System,
}

impl AuditActor {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditActor::User => "user",
            AuditActor::Admin => "admin",
            AuditActor::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(AuditActor::User),
            "admin" => Some(AuditActor::Admin),
            "system" => Some(AuditActor::System),
            _ => None,
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Truncated to microseconds (what both databases keep), see [`NewAuditEntry::new`].
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// The acting account (none for the system).
    pub actor_id: Option<UserId>,
    /// `sessions.read`, `admin.users.update`, `keys.rotate`, ...
    pub action: String,
    /// Whose data it is (the data subject), when it is someone's.
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    /// Another object's opaque id (a document, a reply, a flag key).
    pub object: Option<String>,
    /// The network the request came from (`203.0.113.0/24`), never the full address.
    pub network: Option<String>,
    pub request_id: Option<String>,
}

impl NewAuditEntry {
    pub fn new(actor: AuditActor, action: impl Into<String>) -> Self {
        let now = Utc::now();
        NewAuditEntry {
            at: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
            actor,
            actor_id: None,
            action: action.into(),
            user_id: None,
            session_id: None,
            object: None,
            network: None,
            request_id: None,
        }
    }
}

/// A stored entry: its position in the chain, and the chain's hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub entry: NewAuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// A signed checkpoint: the chain's hash at `seq`, HMAC-signed with the key `key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub seq: i64,
    pub hash: String,
    pub key_id: String,
    /// Hex HMAC-SHA256 over [`checkpoint_message`].
    pub mac: String,
    pub at: DateTime<Utc>,
}

/// Signs and checks checkpoints; the server implements it with its `crypto` keys.
pub trait AuditSigner: Send + Sync {
    /// The key id and the hex MAC of `message`, with the current key.
    fn sign(&self, message: &[u8]) -> (String, String);
    /// Whether `mac` is `message`'s MAC under `key_id`; an error names a key it does not hold.
    fn verify(&self, key_id: &str, message: &[u8], mac: &str) -> Result<bool, String>;
}

/// What a checkpoint's MAC covers.
pub fn checkpoint_message(seq: i64, hash: &str) -> Vec<u8> {
    format!("plansmith-audit-checkpoint:{seq}:{hash}").into_bytes()
}

/// Which entries to list; every filter that is set must match; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub action: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// The cursor: only entries before this position.
    pub before: Option<i64>,
    pub limit: u32,
}

/// Take a checkpoint after an append that crosses a multiple of this many entries (and
/// whenever the caller asks, e.g. once a minute).
pub const CHECKPOINT_EVERY: i64 = 1000;

/// The canonical content an entry's hash covers: its position and every field, in a fixed
/// order, as JSON.
pub fn canonical(seq: i64, e: &NewAuditEntry) -> String {
    let id = |u: Option<uuid::Uuid>| u.map(|u| u.to_string());
    serde_json::json!([
        seq,
        e.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.actor.as_str(),
        id(e.actor_id.map(|u| u.0)),
        e.action,
        id(e.user_id.map(|u| u.0)),
        id(e.session_id.map(|s| s.0)),
        e.object,
        e.network,
        e.request_id,
    ])
    .to_string()
}

/// The hash of the entry at `seq` after `prev_hash`.
pub fn entry_hash(prev_hash: &str, seq: i64, e: &NewAuditEntry) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(seq, e).as_bytes());
    hex(&hasher.finalize())
}

/// Chains `entry` after the entry `(seq, hash)` (or after [`GENESIS`] at 0).
pub fn chain_entry(prev_seq: i64, prev_hash: &str, entry: NewAuditEntry) -> AuditEntry {
    let seq = prev_seq + 1;
    AuditEntry {
        seq,
        hash: entry_hash(prev_hash, seq, &entry),
        prev_hash: prev_hash.to_owned(),
        entry,
    }
}

/// Whether an append from `prev_seq` to `last_seq` crossed a checkpoint position.
pub fn crosses_checkpoint(prev_seq: i64, last_seq: i64) -> bool {
    last_seq / CHECKPOINT_EVERY > prev_seq / CHECKPOINT_EVERY
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit entry {seq}: its hash does not match its content (the entry was edited)")]
    Edited { seq: i64 },
    #[error(
        "audit entry {seq}: it does not follow entry {expected_prev} (entries were deleted, inserted or reordered before it)"
    )]
    Broken { seq: i64, expected_prev: i64 },
    #[error("audit entry {seq}: the chain starts here without a signed checkpoint before it (entries were deleted)")]
    Unanchored { seq: i64 },
    #[error("audit checkpoint at entry {seq}: {reason}")]
    Checkpoint { seq: i64, reason: String },
}

/// What a verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub checkpoints: u64,
}

/// Verifies a chain fed in order of position, page by page (memory stays bounded).
pub struct ChainCheck {
    checkpoints: BTreeMap<i64, AuditCheckpoint>,
    prev: Option<(i64, String)>,
    report: ChainReport,
}

impl ChainCheck {
    /// Checks every checkpoint's signature first.
    pub fn new(signer: &dyn AuditSigner, checkpoints: Vec<AuditCheckpoint>) -> Result<Self, ChainBreak> {
        for c in &checkpoints {
            match signer.verify(&c.key_id, &checkpoint_message(c.seq, &c.hash), &c.mac) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(ChainBreak::Checkpoint {
                        seq: c.seq,
                        reason: "its signature does not match (the checkpoint was forged or edited)".into(),
                    });
                }
                Err(e) => return Err(ChainBreak::Checkpoint { seq: c.seq, reason: e }),
            }
        }
        Ok(ChainCheck {
            report: ChainReport {
                checkpoints: checkpoints.len() as u64,
                ..ChainReport::default()
            },
            checkpoints: checkpoints.into_iter().map(|c| (c.seq, c)).collect(),
            prev: None,
        })
    }

    pub fn feed(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let (expected_seq, expected_prev) = match &self.prev {
            Some((seq, hash)) => (*seq + 1, hash.clone()),
            // The chain starts at the genesis or, once a prefix was pruned, right after the
            // oldest kept checkpoint.
            None if e.seq == 1 => (1, GENESIS.to_owned()),
            None => match self.checkpoints.first_key_value() {
                Some((&seq, c)) if seq + 1 == e.seq => (e.seq, c.hash.clone()),
                _ => return Err(ChainBreak::Unanchored { seq: e.seq }),
            },
        };
        if e.seq != expected_seq || e.prev_hash != expected_prev {
            return Err(ChainBreak::Broken {
                seq: e.seq,
                expected_prev: expected_seq - 1,
            });
        }
        if entry_hash(&e.prev_hash, e.seq, &e.entry) != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        if let Some(c) = self.checkpoints.get(&e.seq)
            && c.hash != e.hash
        {
            return Err(ChainBreak::Checkpoint {
                seq: e.seq,
                reason: "the entry's hash is not the signed one (the chain before it was rewritten)".into(),
            });
        }
        self.report.entries += 1;
        self.report.first_seq.get_or_insert(e.seq);
        self.report.last_seq = Some(e.seq);
        self.prev = Some((e.seq, e.hash.clone()));
        Ok(())
    }

    /// Every checkpoint must lie on the verified chain, the oldest perhaps just before its first
    /// entry (the anchor of a pruned chain): one past its end means entries were deleted. And no
    /// checkpoint may be missing: an append that crosses a multiple of [`CHECKPOINT_EVERY`]
    /// signs one at its end, so each such multiple the chain passed has a checkpoint at or after
    /// it, before the next multiple (or the end): deleting checkpoints to rewrite the chain
    /// behind them shows.
    pub fn finish(self) -> Result<ChainReport, ChainBreak> {
        let (first, last) = (self.report.first_seq, self.report.last_seq);
        for &seq in self.checkpoints.keys() {
            let on_chain = first.is_some_and(|f| seq >= f) && last.is_some_and(|l| seq <= l);
            if !on_chain && first.map(|f| f - 1) != Some(seq) {
                return Err(ChainBreak::Checkpoint {
                    seq,
                    reason: format!("it signs entry {seq}, which is missing (entries were deleted)"),
                });
            }
        }
        if let (Some(first), Some(last)) = (first, last) {
            let mut multiple = (first / CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY;
            if first % CHECKPOINT_EVERY == 0 {
                multiple = first;
            }
            while multiple <= last {
                let until = (multiple + CHECKPOINT_EVERY).min(last + 1);
                if self.checkpoints.range(multiple..until).next().is_none() {
                    return Err(ChainBreak::Checkpoint {
                        seq: multiple,
                        reason: format!(
                            "no signed checkpoint covers entries {multiple} to {} (checkpoints were deleted)",
                            until - 1
                        ),
                    });
                }
                multiple += CHECKPOINT_EVERY;
            }
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestSigner;

    impl AuditSigner for TestSigner {
        fn sign(&self, message: &[u8]) -> (String, String) {
            (
                "t".into(),
                hex(&Sha256::digest([b"secret".as_slice(), message].concat())),
            )
        }
        fn verify(&self, key_id: &str, message: &[u8], mac: &str) -> Result<bool, String> {
            if key_id != "t" {
                return Err(format!("key id '{key_id}' is not configured"));
            }
            Ok(self.sign(message).1 == mac)
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out.last().map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
            let mut e = NewAuditEntry::new(AuditActor::User, "sessions.read");
            e.object = Some(format!("object-{i}"));
            out.push(chain_entry(seq, &hash, e));
        }
        out
    }

    fn checkpoint(e: &AuditEntry) -> AuditCheckpoint {
        let (key_id, mac) = TestSigner.sign(&checkpoint_message(e.seq, &e.hash));
        AuditCheckpoint {
            seq: e.seq,
            hash: e.hash.clone(),
            key_id,
            mac,
            at: Utc::now(),
        }
    }

    fn verify(entries: &[AuditEntry], checkpoints: Vec<AuditCheckpoint>) -> Result<ChainReport, ChainBreak> {
        let mut check = ChainCheck::new(&TestSigner, checkpoints)?;
        for e in entries {
            check.feed(e)?;
        }
        check.finish()
    }

    #[test]
    fn an_intact_chain_verifies_from_the_genesis_or_a_kept_checkpoint() {
        let entries = chain(10);
        let report = verify(&entries, vec![checkpoint(&entries[4])]).unwrap();
        assert_eq!(
            (report.entries, report.first_seq, report.last_seq),
            (10, Some(1), Some(10))
        );
        // Pruned up to the checkpoint at 5: verification starts from it.
        let report = verify(&entries[5..], vec![checkpoint(&entries[4])]).unwrap();
        assert_eq!((report.entries, report.first_seq), (5, Some(6)));
    }

    #[test]
    fn edits_deletions_insertions_and_reorders_name_the_first_bad_entry() {
        let entries = chain(10);
        let mut edited = entries.clone();
        edited[3].entry.action = "sessions.update".into();
        assert_eq!(verify(&edited, vec![]), Err(ChainBreak::Edited { seq: 4 }));

        let mut deleted = entries.clone();
        deleted.remove(6);
        assert_eq!(
            verify(&deleted, vec![]),
            Err(ChainBreak::Broken {
                seq: 8,
                expected_prev: 6
            })
        );

        let mut reordered = entries.clone();
        reordered.swap(2, 3);
        assert!(matches!(
            verify(&reordered, vec![]),
            Err(ChainBreak::Broken { seq: 4, .. })
        ));

        // An entry inserted and everything after it re-chained: only the checkpoint notices.
        let mut inserted = entries[..5].to_vec();
        let forged = chain_entry(5, &inserted[4].hash.clone(), NewAuditEntry::new(AuditActor::Admin, "x"));
        inserted.push(forged);
        for e in &entries[5..] {
            let last = inserted.last().unwrap();
            inserted.push(chain_entry(last.seq, &last.hash.clone(), e.entry.clone()));
        }
        assert!(matches!(
            verify(&inserted, vec![checkpoint(&entries[7])]),
            Err(ChainBreak::Checkpoint { seq: 8, .. })
        ));

        // Entries deleted from the front without a checkpoint to start from.
        assert_eq!(verify(&entries[3..], vec![]), Err(ChainBreak::Unanchored { seq: 4 }));
        // The tail deleted past a checkpoint.
        assert!(matches!(
            verify(&entries[..6], vec![checkpoint(&entries[8])]),
            Err(ChainBreak::Checkpoint { seq: 9, .. })
        ));
    }

    #[test]
    fn a_deleted_checkpoint_is_missed() {
        let entries = chain(CHECKPOINT_EVERY + 20);
        let signed = checkpoint(&entries[(CHECKPOINT_EVERY + 4) as usize]);
        assert!(
            verify(&entries, vec![signed]).is_ok(),
            "the one after crossing 1000 is there"
        );
        assert!(matches!(
            verify(&entries, vec![]),
            Err(ChainBreak::Checkpoint {
                seq: CHECKPOINT_EVERY,
                ..
            })
        ));
    }

    #[test]
    fn forged_checkpoints_and_unknown_keys_are_reported() {
        let entries = chain(3);
        let mut forged = checkpoint(&entries[1]);
        forged.mac = "00".repeat(32);
        assert!(matches!(
            verify(&entries, vec![forged]),
            Err(ChainBreak::Checkpoint { seq: 2, .. })
        ));
        let mut unknown = checkpoint(&entries[1]);
        unknown.key_id = "gone".into();
        let err = verify(&entries, vec![unknown]).unwrap_err();
        assert!(err.to_string().contains("'gone' is not configured"), "{err}");
    }
}
