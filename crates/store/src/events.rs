//! Product events: what people do in the product (signed up, started a session, completed a
//! step, …), written in batches by the server, read back only as sums — funnels and weekly
//! retention — made by the database. An account's events go with the account.

use chrono::{DateTime, Utc};
use plansmith_domain::{Plan, UserId};

/// The typed events; `name` carries what each is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `name`: the sign-up channel (`utm_source`, or `direct`).
    SignedUp,
    /// `name` and `workflow`: the workflow.
    SessionStarted,
    /// `name`: the step.
    StepCompleted,
    SessionCompleted,
    SessionAbandoned,
    /// `name`: the format (`md`, `docx`).
    DocumentExported,
    MessageSent,
    /// `name`: the plan now.
    PlanChanged,
    /// `name`: the feature (`section_edit`, `revision_restore`, `reply_retry`, `data_export`).
    FeatureUsed,
}

impl EventKind {
    pub const ALL: [Self; 9] = [
        Self::SignedUp,
        Self::SessionStarted,
        Self::StepCompleted,
        Self::SessionCompleted,
        Self::SessionAbandoned,
        Self::DocumentExported,
        Self::MessageSent,
        Self::PlanChanged,
        Self::FeatureUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedUp => "signed_up",
            Self::SessionStarted => "session_started",
            Self::StepCompleted => "step_completed",
            Self::SessionCompleted => "session_completed",
            Self::SessionAbandoned => "session_abandoned",
            Self::DocumentExported => "document_exported",
            Self::MessageSent => "message_sent",
            Self::PlanChanged => "plan_changed",
            Self::FeatureUsed => "feature_used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEvent {
    pub user: UserId,
    pub kind: EventKind,
    pub name: Option<String>,
    pub workflow: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which accounts an analysis covers: those who signed up in `[from, to)`, optionally only on
/// a plan or from a sign-up channel; `workflow` narrows the session stages to one workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsFilter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub plan: Option<Plan>,
    pub channel: Option<String>,
    pub workflow: Option<String>,
}

/// The funnel's stages, in order.
pub const FUNNEL_STAGES: [&str; 5] = [
    "signed_up",
    "first_session",
    "first_step_completed",
    "plan_completed",
    "paid",
];

/// The funnel as the database sums it: accounts that reached each stage (having reached every
/// stage before it), and the median seconds from each stage to the next among those who made
/// both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelSums {
    pub reached: [i64; 5],
    pub median_seconds: [Option<f64>; 4],
}

/// Weekly retention as the database sums it: accounts per sign-up week (weeks since Monday
/// 1970-01-05), and per sign-up week and weeks since, the accounts with any event that week.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionSums {
    pub cohorts: Vec<(i64, i64)>,
    pub active: Vec<(i64, i64, i64)>,
}

/// Product usage as the database sums it, over the events in `[from, to)` of the accounts the
/// filter's plan and channel select.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageSums {
    /// (kind, name, events, distinct accounts).
    pub features: Vec<(String, Option<String>, i64, i64)>,
    /// (day `YYYY-MM-DD`, distinct active accounts).
    pub daily_active: Vec<(String, i64)>,
    /// Distinct accounts active in the 30 days before `to`.
    pub monthly_active: i64,
}

/// The dimensions of the segments.
pub const SEGMENT_DIMENSIONS: [&str; 3] = ["channel", "plan", "workflow"];

/// Accounts that signed up in the range, by one dimension's value, with how far they went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSums {
    /// `plan` (now), `channel` (at sign-up) or `workflow` (of the first session).
    pub dimension: &'static str,
    pub value: String,
    pub accounts: i64,
    pub started: i64,
    pub completed: i64,
    pub paying: i64,
}
