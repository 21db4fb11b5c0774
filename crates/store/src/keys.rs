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

/// A column that holds a person's words, sealed by the server (see `plansmith keys backfill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    SessionTitle,
    SessionIdea,
    MessageContent,
    MessageEvents,
    /// A revision's content: JSON of its sections, each value sealed on its own.
    RevisionContent,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 5] = [
        SealedColumn::SessionTitle,
        SealedColumn::SessionIdea,
        SealedColumn::MessageContent,
        SealedColumn::MessageEvents,
        SealedColumn::RevisionContent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SealedColumn::SessionTitle => "planning_sessions.title",
            SealedColumn::SessionIdea => "planning_sessions.idea",
            SealedColumn::MessageContent => "messages.content",
            SealedColumn::MessageEvents => "messages.events",
            SealedColumn::RevisionContent => "document_revisions.content",
        }
    }
}

/// One stored value of a [`SealedColumn`]: its row (id, and the revision number for revisions,
/// else 0), whose it is, and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnValue {
    pub key: uuid::Uuid,
    pub revision: i64,
    pub owner: UserId,
    pub value: String,
}
