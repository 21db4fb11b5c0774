//! Data keys: each account's content is encrypted with a key of its own (a data key), stored
//! only wrapped (encrypted) by a key-encryption key the database does not hold. Erasing the
//! account deletes its data key, which makes every copy of its content unreadable.

use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, MessageId, SessionId, UserId};

/// A data key as stored: wrapped by the key-encryption key `kek_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDataKey {
    /// Short and random; stored values name it.
    pub id: String,
    pub user_id: UserId,
    pub kek_id: String,
    /// Base64 of nonce and ciphertext (AES-256-GCM).
    pub wrapped: String,
    pub created_at: DateTime<Utc>,
}

/// Something whose owner the encryption needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owned {
    Session(SessionId),
    Message(MessageId),
    Document(DocumentId),
}
