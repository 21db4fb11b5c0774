//! Messages and replies: post a message (202 with the queued reply), list the conversation,
//! follow a reply's stream over SSE with resume, retry a failed reply.

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::generation::replay_events;
use crate::sessions::{check_owner, owned};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use plansmith_cache::StreamEvent;
use plansmith_domain::{MessageId, MessageRole, MessageStatus, Money, Plan};
use plansmith_store::{Message, ReplyRefusal, ReplyTransition};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What the message and reply routes can answer besides success.
#[derive(Debug)]
pub enum MessageError {
    InvalidIdempotencyKey,
    InvalidLastEventId,
    EmptyContent,
    ContentTooLong {
        max: usize,
    },
    /// The plan's budget for this calendar month (UTC) is used up.
    OverBudget {
        plan: Plan,
        spent: BudgetSpent,
        resets: NaiveDate,
        retry_after: Duration,
    },
    /// The planning agent's queue is full.
    Busy {
        retry_after: Duration,
    },
    Common(CommonError),
}

/// Which part of a monthly budget is used up.
#[derive(Debug)]
pub enum BudgetSpent {
    Tokens { used: i64, limit: u64 },
    Cost { used: Money, limit: Money },
}

error_family!(MessageError, common);

impl ErrorFamily for MessageError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidHeader,
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::SessionClosed,
        ErrorCode::NotRetryable,
        ErrorCode::ReplyChanged,
        ErrorCode::OverBudget,
        ErrorCode::Busy,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::InvalidIdempotencyKey => ApiError::invalid(
                ErrorCode::InvalidHeader,
                "Idempotency-Key",
                "must be 1 to 128 visible characters",
                "Send a unique id (e.g. a UUID) per message, and the same one when you resend it.",
            ),
            Self::InvalidLastEventId => ApiError::invalid(
                ErrorCode::InvalidHeader,
                "Last-Event-ID",
                "must be an event id (a whole number)",
                "Send the id of the last event you received.",
            ),
            Self::EmptyContent => ApiError::invalid(
                ErrorCode::InvalidField,
                "content",
                "must not be empty",
                "Type a message first.",
            ),
            Self::ContentTooLong { max } => ApiError::invalid(
                ErrorCode::InvalidField,
                "content",
                format_args!("is longer than {max} characters"),
                "Split the text into several messages.",
            ),
            Self::OverBudget {
                plan,
                spent,
                resets,
                retry_after,
            } => {
                let plan = plan.as_str();
                let message = match spent {
                    BudgetSpent::Tokens { used, limit } => {
                        format!("You have used {used} of the {limit} tokens your {plan} plan includes this month.")
                    }
                    BudgetSpent::Cost { used, limit } => {
                        format!("You have used {used} of the {limit} your {plan} plan includes this month.")
                    }
                };
                ApiError::retry_later(
                    ErrorCode::OverBudget,
                    message,
                    format!(
                        "The budget resets on {} (UTC). Upgrade your plan to keep planning now.",
                        resets.format("%Y-%m-%d")
                    ),
                    *retry_after,
                )
            }
            Self::Busy { retry_after } => ApiError::wait_and_retry(
                ErrorCode::Busy,
                "The planning agent is busy with many conversations right now.",
                *retry_after,
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PostMessage {
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// `queued`, `streaming`, `complete`, `failed` or `interrupted`.
    pub status: String,
    /// Position in the conversation, from 1.
    pub seq: i64,
    pub step_id: String,
    pub error: Option<MessageErrorView>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// While a reply waits for a busy provider: its place in the queue, from 1.
    pub position: Option<usize>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a reply failed or was interrupted.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageErrorView {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyRef {
    pub id: Uuid,
    pub status: String,
    /// SSE stream of the reply (`token`, `section`, `restart`, `done`, `error` events).
    pub stream_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostMessageResponse {
    pub message: MessageView,
    pub reply: ReplyRef,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub items: Vec<MessageView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins when both are given).
    pub after: Option<u64>,
}

/// One event of a reply's stream as its SSE fields carry it (keep-alive comments aside); the
/// OpenAPI document describes each event of the `text/event-stream` response with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyStreamEvent {
    /// The event's number in the reply's stream: resume after it with `Last-Event-ID`.
    #[schema(pattern = "^[0-9]+$")]
    pub id: String,
    pub event: ReplyEventName,
    /// The event's payload, a JSON object: `token` {text}, `section_draft` {document_id,
    /// section_id, text}, `section` {document_id, section_id, revision}, `restart` {reason},
    /// `done` {reply_id, status}, `error` {code, message}.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// The kinds of event of a reply's stream, by their SSE event names.
// Spelled as `plansmith_domain::ReplyEvent::name` spells them (a test checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyEventName {
    Token,
    SectionDraft,
    Section,
    Restart,
    Done,
    Error,
}

#[cfg(test)]
mod stream_event_tests {
    use super::ReplyEventName;
    use plansmith_domain::{DocumentId, MessageId, MessageStatus, ReplyEvent, RestartReason, Revision};

    /// Exhaustive, so a new kind of event does not compile until it is documented.
    fn documented_name(event: &ReplyEvent) -> ReplyEventName {
        match event {
            ReplyEvent::Token { .. } => ReplyEventName::Token,
            ReplyEvent::SectionDraft { .. } => ReplyEventName::SectionDraft,
            ReplyEvent::Section { .. } => ReplyEventName::Section,
            ReplyEvent::Restart { .. } => ReplyEventName::Restart,
            ReplyEvent::Done { .. } => ReplyEventName::Done,
            ReplyEvent::Error { .. } => ReplyEventName::Error,
        }
    }

    #[test]
    fn the_documented_event_names_are_the_ones_sent() {
        let document = DocumentId(uuid::Uuid::nil());
        let events = [
            ReplyEvent::Token { text: "Hi".into() },
            ReplyEvent::SectionDraft {
                document_id: document,
                section_id: "summary".into(),
                text: "Draft".into(),
            },
            ReplyEvent::Section {
                document_id: document,
                section_id: "summary".into(),
                revision: Revision(2),
            },
            ReplyEvent::Restart {
                reason: RestartReason::Retry,
            },
            ReplyEvent::Done {
                reply_id: MessageId(uuid::Uuid::nil()),
                status: MessageStatus::Complete,
            },
            ReplyEvent::Error {
                code: "provider_error".into(),
                message: "The model provider failed.".into(),
            },
        ];
        for event in &events {
            let documented = serde_json::to_value(documented_name(event)).unwrap();
            assert_eq!(documented, event.name(), "{event:?}");
        }
    }
}

pub fn message_view(m: &Message) -> MessageView {
    MessageView {
        id: m.id.0,
        role: m.role.as_str().into(),
        content: m.content.clone(),
        status: m.status.as_str().into(),
        seq: m.seq,
        step_id: m.step_id.clone(),
        error: m.error_code.as_ref().map(|code| MessageErrorView {
            code: code.clone(),
            message: m.error_message.clone().unwrap_or_default(),
        }),
        provider: m.provider.clone(),
        model: m.model.clone(),
        position: None,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn reply_ref(session: Uuid, m: &Message) -> ReplyRef {
    ReplyRef {
        id: m.id.0,
        status: m.status.as_str().into(),
        stream_url: format!("/api/v1/sessions/{session}/replies/{}/stream", m.id),
    }
}

/// Send a message to the planning agent. The reply is generated in the background; follow
/// it at `reply.stream_url`.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", tag = "messages", operation_id = "post_message",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Resending with the same key returns the first message and reply")),
    request_body = PostMessage,
    responses((status = 202, body = PostMessageResponse), WithJsonBody<MessageError>))]
pub async fn post(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<PostMessageResponse>), MessageError> {
    let client_key = idempotency_key(&headers)?;
    let session = owned(&state, &auth, id).await?;
    // Checked before the budget and queue (the store decides again when it writes).
    session.state().step_for_message()?;
    if state.is_draining() {
        return Err(CommonError::unavailable("server is shutting down").into());
    }
    let content = body.content.trim();
    if content.is_empty() {
        return Err(MessageError::EmptyContent);
    }
    let max = state.settings.limits.max_message_chars;
    if content.chars().count() > max {
        return Err(MessageError::ContentTooLong { max });
    }
    check_budget(&state, &auth).await?;
    if state.generator.gateway().is_full() {
        return Err(MessageError::Busy {
            retry_after: Duration::from_secs(state.settings.llm.queue.max_wait_seconds),
        });
    }
    // A reply's stream lives in Redis when instances share it: without Redis no new reply.
    if let Some(redis) = &state.redis {
        redis.ping().await.map_err(CommonError::unavailable)?;
    }
    let posted = state
        .store
        .post_message(session.id, content, client_key.as_deref(), state.generator.lease())
        .await?;
    let (message, reply) = (posted.message, posted.reply);
    if !posted.replayed {
        // Stored: the reply is generated and saved even if its stream cannot open now (Redis
        // went away since the check); followers then read it from the database.
        if let Err(e) = state.stream_log.open(reply.id.0, 0).await {
            tracing::warn!(reply = %reply.id, error = %e, "the reply's stream log did not open");
        }
        state
            .generator
            .spawn(session, reply.clone(), auth.user.plan != Plan::Free);
    }
    let response = PostMessageResponse {
        message: message_view(&message),
        reply: reply_ref(id, &reply),
    };
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// The client's `Idempotency-Key`: a resend with the same key returns the first answer.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, MessageError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128);
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(MessageError::InvalidIdempotencyKey),
    }
}

/// Refuses a message when the user's plan budget for this calendar month (UTC) is used up.
async fn check_budget(state: &AppState, auth: &AuthUser) -> Result<(), MessageError> {
    let now = Utc::now();
    let month_start = now
        .date_naive()
        .with_day(1)
        .expect("day 1 exists")
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let next_month = month_start
        .checked_add_months(chrono::Months::new(1))
        .expect("dates within range");
    let budget = state.settings.llm.budgets.for_plan(auth.user.plan);
    let used = state.store.usage_since(auth.id(), month_start).await?;
    let used_cost = Money::from_micros(used.cost_micros);
    let spent = if used.tokens as u64 >= budget.monthly_tokens {
        BudgetSpent::Tokens {
            used: used.tokens,
            limit: budget.monthly_tokens,
        }
    } else if used_cost >= budget.monthly_cost_usd {
        BudgetSpent::Cost {
            used: used_cost,
            limit: budget.monthly_cost_usd,
        }
    } else {
        return Ok(());
    };
    Err(MessageError::OverBudget {
        plan: auth.user.plan,
        spent,
        resets: next_month.date_naive(),
        retry_after: (next_month - now).to_std().unwrap_or_default(),
    })
}

/// The conversation, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/messages", tag = "messages", operation_id = "list_messages",
    params(("id" = Uuid, Path)), responses((status = 200, body = MessageList), MessageError))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MessageList>, MessageError> {
    let session = check_owner(&state, &auth, id).await?;
    let gateway = state.generator.gateway();
    let items = state
        .store
        .list_messages(session)
        .await?
        .iter()
        .map(|m| {
            let mut view = message_view(m);
            if m.status == MessageStatus::Queued {
                view.position = gateway.position(&m.id.to_string());
            }
            view
        })
        .collect();
    Ok(Json(MessageList { items }))
}

/// Server-sent events of one reply: replays from `Last-Event-ID` (or `?after=N`), then
/// follows live until `done` or `error`.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/replies/{reply_id}/stream", tag = "messages", operation_id = "stream_reply",
    params(("id" = Uuid, Path), ("reply_id" = Uuid, Path), StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", body = ReplyStreamEvent,
        description = "One `ReplyStreamEvent` per event, until `done` or `error`"), MessageError))]
pub async fn stream(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, reply_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, MessageError> {
    let session = check_owner(&state, &auth, id).await?;
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or(MessageError::InvalidLastEventId)?,
        None => q.after.unwrap_or(0),
    };
    let reply = state
        .store
        .get_message(session, MessageId(reply_id))
        .await?
        .filter(|m| m.role == MessageRole::Assistant)
        .ok_or_else(|| CommonError::not_found("The reply"))?;
    let events: BoxStream<'static, StreamEvent> = match state.stream_log.follow(reply_id, after).await? {
        Some(live) => live,
        None if reply.status.is_terminal() => {
            let saved = state.store.reply_events(reply.id).await?;
            let events: Vec<StreamEvent> = replay_events(&reply, saved.as_deref())
                .into_iter()
                .filter(|e| e.id > after)
                .collect();
            futures::stream::iter(events).boxed()
        }
        None => {
            return Err(CommonError::unavailable(format_args!(
                "reply {reply_id} is {} but has no stream log",
                reply.status.as_str()
            ))
            .into());
        }
    };
    let sse = events
        .map(|e| {
            Ok::<_, Infallible>(
                Event::default()
                    .id(e.id.to_string())
                    .event(e.event.name())
                    .data(e.event.data_json()),
            )
        })
        .boxed();
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()).into_response())
}

/// Generate a failed or interrupted reply again. Its stream continues with a `restart`
/// event; the new text replaces the old.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/replies/{reply_id}/retry", tag = "messages", operation_id = "retry_reply",
    params(("id" = Uuid, Path), ("reply_id" = Uuid, Path)),
    responses((status = 202, body = ReplyRef), MessageError))]
pub async fn retry(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, reply_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<ReplyRef>), MessageError> {
    let session = owned(&state, &auth, id).await?;
    let reply = state
        .store
        .get_message(session.id, MessageId(reply_id))
        .await?
        .filter(|m| m.role == MessageRole::Assistant)
        .ok_or_else(|| CommonError::not_found("The reply"))?;
    if !ReplyTransition::Retry.allows(reply.status) {
        return Err(CommonError::from(ReplyRefusal(ReplyTransition::Retry)).into());
    }
    session.state().step_for_message()?;
    let last_id = match state.stream_log.events(reply_id).await? {
        Some(events) => events.last().map_or(0, |e| e.id),
        None => {
            let saved = state.store.reply_events(reply.id).await?;
            replay_events(&reply, saved.as_deref()).last().map_or(0, |e| e.id)
        }
    };
    let reply = state.store.reset_reply(reply.id, state.generator.lease()).await?;
    state.stream_log.open(reply_id, last_id).await?;
    state
        .stream_log
        .append(
            reply_id,
            plansmith_domain::ReplyEvent::Restart {
                reason: plansmith_domain::RestartReason::Retry,
            },
        )
        .await?;
    state
        .generator
        .spawn(session, reply.clone(), auth.user.plan != Plan::Free);
    Ok((StatusCode::ACCEPTED, Json(reply_ref(id, &reply))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::{assert_listed, read};

    fn over_budget() -> MessageError {
        MessageError::OverBudget {
            plan: Plan::Free,
            spent: BudgetSpent::Cost {
                used: Money::from_dollars(5),
                limit: Money::from_dollars(5),
            },
            resets: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            retry_after: Duration::from_millis(90_500),
        }
    }

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            MessageError::InvalidIdempotencyKey,
            MessageError::InvalidLastEventId,
            MessageError::EmptyContent,
            MessageError::ContentTooLong { max: 10 },
            over_budget(),
            MessageError::Busy {
                retry_after: Duration::from_secs(30),
            },
            MessageError::Common(CommonError::from(ReplyRefusal(ReplyTransition::Retry))),
            MessageError::Common(CommonError::from(ReplyRefusal(ReplyTransition::Finish))),
        ]);
    }

    #[tokio::test]
    async fn busy_and_over_budget_are_429_with_retry_after() {
        let busy = MessageError::Busy {
            retry_after: Duration::from_secs(30),
        };
        let (status, retry_after, error) = read(busy.into_response()).await;
        assert_eq!(
            (status, retry_after.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("30"))
        );
        assert_eq!(error["code"], "busy");
        assert_eq!(error["hint"], "Wait 30 seconds and try again.");

        let (status, retry_after, error) = read(over_budget().into_response()).await;
        assert_eq!(
            (status, retry_after.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("90"))
        );
        assert_eq!(error["code"], "over_budget");
        assert_eq!(
            error["message"],
            "You have used $5.00 of the $5.00 your free plan includes this month."
        );
        assert_eq!(
            error["hint"],
            "The budget resets on 2026-02-01 (UTC). Upgrade your plan to keep planning now."
        );
    }
}
