//! Planning sessions written as they happened, with their own timestamps: a session, its
//! conversation, its documents' sections, their ratings and the end-of-session survey, in one
//! go. `plansmith demo-data` makes its history this way, so the quality and time-to-plan
//! reports read the same tables real sessions fill.

use crate::quality::{DocumentRating, SessionSurvey};
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentContent, DocumentId, MessageId, MessageRole, SessionId, SessionStatus, UserId};

/// One session as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct PastSession {
    pub id: SessionId,
    pub user: UserId,
    pub workflow_id: String,
    pub title: String,
    pub idea: String,
    pub status: SessionStatus,
    /// The step the session is at; none once completed.
    pub current_step: Option<String>,
    pub completed_steps: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Oldest first; numbered 1, 2, … in this order.
    pub messages: Vec<PastMessage>,
    /// In the workflow's order (their positions).
    pub documents: Vec<PastDocument>,
    pub ratings: Vec<DocumentRating>,
    pub survey: Option<SessionSurvey>,
}

/// One message of a past conversation; always complete.
#[derive(Debug, Clone, PartialEq)]
pub struct PastMessage {
    pub id: MessageId,
    pub role: MessageRole,
    pub step_id: String,
    pub content: String,
    /// The provider and model that wrote an assistant's reply.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub at: DateTime<Utc>,
}

/// One document of a past session; with sections, they are its first revision, written by
/// the AI at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct PastDocument {
    pub id: DocumentId,
    pub step_id: String,
    pub title: String,
    /// Section id and markdown.
    pub sections: Vec<(String, String)>,
    pub at: DateTime<Utc>,
}

impl PastDocument {
    /// The content of its first revision; none for a document nothing was written in.
    pub fn content(&self) -> Option<DocumentContent> {
        if self.sections.is_empty() {
            return None;
        }
        let mut content = DocumentContent::default();
        for (id, text) in &self.sections {
            content.set(id, text);
        }
        Some(content)
    }
}

impl PastSession {
    /// What is wrong with it, if anything: a store refuses such a session whole.
    pub fn problem(&self) -> Option<String> {
        let first = self.messages.first().map_or(self.created_at, |m| m.at);
        if first < self.created_at || self.updated_at < self.created_at {
            return Some(format!("session {} has a time before its creation", self.id));
        }
        if self.messages.windows(2).any(|w| w[1].at < w[0].at) {
            return Some(format!("the messages of session {} are not oldest first", self.id));
        }
        if (self.status == SessionStatus::Completed) != self.completed_at.is_some() {
            return Some(format!(
                "session {} must have a completion time exactly when it is completed",
                self.id
            ));
        }
        let document = |id: DocumentId| self.documents.iter().any(|d| d.id == id);
        if let Some(r) = self
            .ratings
            .iter()
            .find(|r| !document(r.document) || r.session != self.id || r.user != self.user)
        {
            return Some(format!(
                "a rating of session {} is not of one of its documents by its owner (document {})",
                self.id, r.document
            ));
        }
        if self
            .survey
            .as_ref()
            .is_some_and(|s| s.session != self.id || s.user != self.user)
        {
            return Some(format!("the survey of session {} is not of it by its owner", self.id));
        }
        None
    }
}
