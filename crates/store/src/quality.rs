//! Session quality: a person's rating of each document (1–5, useful or not, a comment) and
//! the end-of-session survey (CSAT, and how long the plan would have taken without
//! Plansmith). Read back only as sums made by the database (docs/analytics.md).

use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, SessionId, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRating {
    pub document: DocumentId,
    pub session: SessionId,
    pub user: UserId,
    /// 1–5.
    pub rating: i64,
    pub useful: bool,
    /// Sealed with the person's data key before it is stored.
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionSurvey {
    pub session: SessionId,
    pub user: UserId,
    /// Customer satisfaction, 1–5.
    pub csat: i64,
    /// The person's estimate of the hours the plan would have taken without Plansmith.
    pub hours_without: f64,
    /// Sealed with the person's data key before it is stored.
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// One person's feedback on one session: their ratings of its documents and their survey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFeedback {
    pub ratings: Vec<DocumentRating>,
    pub survey: Option<SessionSurvey>,
}

/// Ratings of one group (a workflow; a workflow's step; a provider's model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingSums {
    pub group: Vec<String>,
    pub ratings: i64,
    pub rating_sum: i64,
    pub useful: i64,
}

/// Surveys of one workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatSums {
    pub workflow: String,
    pub surveys: i64,
    pub csat_sum: i64,
}

/// Nearest-rank quartiles of one measure of the completed sessions of a sign-up cohort:
/// `elapsed` (start → completed), `active` (the gaps of 30 minutes or less between its
/// messages), `estimate` (the survey's hours without Plansmith) and `saved` (estimate −
/// active, sessions with a survey), all in hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Quartiles {
    pub cohort: String,
    pub measure: String,
    pub sessions: i64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualitySums {
    pub by_workflow: Vec<RatingSums>,
    pub by_step: Vec<RatingSums>,
    pub by_model: Vec<RatingSums>,
    pub csat: Vec<CsatSums>,
    pub time_to_plan: Vec<Quartiles>,
}

/// Gaps between messages longer than this are not active time.
pub const ACTIVE_GAP_HOURS: f64 = 0.5;

/// What people wrote that feedback themes are found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackSource {
    /// A document rating's comment.
    Rating,
    /// An end-of-session survey's comment.
    Survey,
    /// A session's idea (project categories).
    Idea,
}

impl FeedbackSource {
    /// As the backends' queries name it: `rating`, `survey`, anything else an idea.
    pub fn parse(s: &str) -> Self {
        match s {
            "rating" => Self::Rating,
            "survey" => Self::Survey,
            _ => Self::Idea,
        }
    }
}

/// One text (sealed as stored; opened by the server for the analysis only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackText {
    pub user: UserId,
    pub source: FeedbackSource,
    pub text: String,
    pub at: DateTime<Utc>,
    /// The author stands by the `product_research` consent: their words may be quoted
    /// (anonymised).
    pub quotable: bool,
}
