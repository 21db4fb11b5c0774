//! The planning domain: users, workflows, planning sessions, messages, documents and the
//! model output protocol, plus the deterministic offline planner. Pure types and logic:
//! this crate knows no SQL, no HTTP and no clock other than values handed to it.

pub mod document;
pub mod events;
pub mod flags;
pub mod ids;
pub mod money;
pub mod output;
pub mod planner;
pub mod prompt;
pub mod user;
pub mod workflow;

pub use document::{Author, DocumentContent, Revision, content_hash};
pub use events::{ReplyEvent, RestartReason};
pub use ids::{DocumentId, MessageId, SessionId, SignInId, UserId};
pub use money::{Money, MoneyError};
pub use user::{Email, Plan, Role};
pub use workflow::{SectionDef, StepDef, Workflow, WorkflowError, Workflows};

use serde::{Deserialize, Serialize};

/// Status of a planning session (see `planning-workflow.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Completed,
    Abandoned,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "completed" => Self::Completed,
            "abandoned" => Self::Abandoned,
            _ => return None,
        })
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "assistant" => Self::Assistant,
            _ => return None,
        })
    }
}

/// Generation status of a message. User messages are always `Complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Streaming,
    Complete,
    Failed,
    Interrupted,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Streaming => "streaming",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "streaming" => Self::Streaming,
            "complete" => Self::Complete,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            _ => return None,
        })
    }

    /// A finished reply will never change again unless it is retried.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Interrupted)
    }

    /// Failed and interrupted replies can be generated again.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Interrupted)
    }
}
