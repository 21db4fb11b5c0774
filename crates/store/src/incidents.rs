//! Incident notices: what an admin tells affected people (everyone, or a list of accounts),
//! who was notified by email and who has read it (the read receipt).

use chrono::{DateTime, Utc};
use plansmith_domain::UserId;

/// A notice to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    pub id: uuid::Uuid,
    /// `sev1` … `sev4` (docs/incident-response.md).
    pub severity: String,
    pub title: String,
    pub body: String,
    /// The affected accounts; none: everyone.
    pub user_ids: Option<Vec<UserId>>,
    pub created_by: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A published notice with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: uuid::Uuid,
    pub severity: String,
    pub title: String,
    pub body: String,
    /// `all` or `users`.
    pub audience: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub recipient_count: i64,
    pub notified_count: i64,
    pub read_count: i64,
}

/// One affected account of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecipient {
    pub user_id: UserId,
    pub email: String,
    /// When the notice's email was queued.
    pub notified_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A notice as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIncident {
    pub id: uuid::Uuid,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}
