//! Outgoing email: messages are queued in the database's outbox and a sender task in each
//! instance drains it. With `email.smtp_url` it sends over SMTP (lettre; rustls on aws-lc-rs),
//! retrying failures with a growing pause (5 s doubling up to 15 min, `email.max_attempts`
//! attempts, each error logged); without it, each email is logged (its text, which may hold
//! a sign-in link, only at debug level) and counted as delivered, and admins read the outbox
//! at `GET /api/v1/admin/emails`.

use crate::admin::{AdminError, AdminUser};
use crate::client::ClientAddr;
use crate::config::{ConfigError, Settings};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use plansmith_store::{EmailClaim, NewEmail, OutboxEmail, Store, User};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use utoipa::{IntoParams, ToSchema};

/// How often the sender looks for emails due again (a new email wakes it at once).
const POLL: Duration = Duration::from_secs(5);
/// Emails one round of the sender takes.
const BATCH: u32 = 20;
const FIRST_RETRY: Duration = Duration::from_secs(5);
const LONGEST_RETRY: Duration = Duration::from_secs(15 * 60);
/// How long a "new sign-in" notice's memory of earlier sign-ins lasts.
const SIGNED_IN_BEFORE_FOR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Queues emails and sends them.
pub struct Mailer {
    from: Mailbox,
    link_base: String,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    max_attempts: u32,
    timeout: Duration,
    wake: Notify,
}

impl Mailer {
    /// `base_url` is the server's own address, the links' base unless `email.link_base` is set.
    pub fn new(settings: &Settings, base_url: &str) -> Result<Self, ConfigError> {
        let email = &settings.email;
        let from = email
            .from
            .parse::<Mailbox>()
            .map_err(|e| ConfigError::Invalid(format!("email.from: {e}")))?;
        let timeout = Duration::from_secs(email.smtp_timeout_seconds);
        let smtp = match email.smtp_url() {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| ConfigError::Invalid(format!("email.smtp_url '{}': {e}", crate::redact_url(url))))?
                    .timeout(Some(timeout))
                    .build(),
            ),
        };
        let link_base = crate::config::given(&email.link_base)
            .unwrap_or(base_url)
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            from,
            link_base,
            smtp,
            max_attempts: email.max_attempts,
            timeout,
            wake: Notify::new(),
        })
    }

    /// A link into the web app.
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.link_base)
    }

    /// A link into the web app carrying a token.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.link_base)
    }

    /// Puts an email in the outbox and wakes the sender.
    pub async fn queue(&self, store: &dyn Store, email: NewEmail) -> Result<(), plansmith_store::StoreError> {
        store.queue_email(email).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Drains the outbox until the task is stopped.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        if self.smtp.is_none() {
            tracing::info!(
                "email.smtp_url is not set: emails are logged, not sent, and listed for admins at GET /api/v1/admin/emails"
            );
        }
        loop {
            match self.send_due(store.as_ref()).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "email outbox: cannot read the due emails"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One round: claims due emails and sends each; returns how many were claimed.
    async fn send_due(&self, store: &dyn Store) -> Result<usize, plansmith_store::StoreError> {
        let now = Utc::now();
        let hold =
            chrono::Duration::from_std(self.timeout * 2 + Duration::from_secs(30)).unwrap_or(chrono::Duration::MAX);
        let claimed = store
            .claim_emails(EmailClaim {
                now,
                hold_until: now + hold,
                max_attempts: i64::from(self.max_attempts),
                limit: BATCH,
            })
            .await?;
        let count = claimed.len();
        for email in claimed {
            let outcome = self.deliver(&email).await;
            let recorded = match outcome {
                Ok(()) => store.email_sent(email.id, Utc::now()).await,
                Err(error) => {
                    let retry_at = Utc::now() + retry_pause(email.attempts);
                    let last = email.attempts >= i64::from(self.max_attempts);
                    tracing::warn!(email = %email.id, kind = %email.kind, attempts = email.attempts, given_up = last, %error, "email not sent");
                    store.email_failed(email.id, &error, retry_at).await
                }
            };
            if let Err(e) = recorded {
                tracing::error!(email = %email.id, error = %e, "email outbox: cannot record the outcome of a send");
            }
        }
        Ok(count)
    }

    async fn deliver(&self, email: &OutboxEmail) -> Result<(), String> {
        let Some(smtp) = &self.smtp else {
            tracing::info!(email = %email.id, kind = %email.kind, to = %email.to, subject = %email.subject,
                "email not sent (no email.smtp_url); listed for admins at GET /api/v1/admin/emails");
            tracing::debug!(email = %email.id, body = %email.body, "email text");
            return Ok(());
        };
        let to = email
            .to
            .parse::<Mailbox>()
            .map_err(|e| format!("the address '{}' is not usable: {e}", email.to))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match tokio::time::timeout(self.timeout, smtp.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("SMTP: {e}")),
            Err(_) => Err(format!("SMTP: no answer within {} s", self.timeout.as_secs())),
        }
    }
}

/// The pause before the next attempt after `attempts` failed ones: 5 s, doubling, at most 15 min.
fn retry_pause(attempts: i64) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let pause = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(LONGEST_RETRY);
    chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::MAX)
}

/// After a successful sign-in: a notice to the account's address when it signed in from an
/// address it was not signed in from before (`login:known:…`, 30 days) — but not on its first
/// sign-in since it was created (or since the shared limiter forgot, after a year), when every
/// address is new. A failure to queue is logged; the sign-in goes on.
pub async fn after_sign_in(state: &AppState, user: &User, account: &str, client: ClientAddr, new_address: bool) {
    let key = format!("login:signed-in:{account}");
    let notify = async {
        let signed_in_before = state.limiter.blocked_for(&key, 1).await?.is_some();
        state.limiter.hit(&key, SIGNED_IN_BEFORE_FOR).await?;
        Ok::<bool, plansmith_cache::CacheError>(new_address && signed_in_before)
    };
    let notify = match notify.await {
        Ok(notify) => notify,
        Err(e) => {
            crate::holds::unchecked("new sign-in notices", &e);
            return;
        }
    };
    if !notify {
        return;
    }
    let mailer = &state.mailer;
    let email = NewEmail {
        to: user.email.clone(),
        subject: "New sign-in to your Plansmith account".into(),
        body: format!(
            "Someone signed in to your Plansmith account ({email}) from the address {client}, \
             which has not signed in to it before, at {at} (UTC).\n\n\
             If this was you, there is nothing to do.\n\n\
             If it was not, reset your password now: {base}/reset-password\n\
             (A reset signs out every device.)\n",
            email = user.email,
            at = Utc::now().format("%Y-%m-%d %H:%M"),
            base = mailer.link_base,
        ),
        kind: "new_sign_in".into(),
    };
    if let Err(e) = mailer.queue(state.store.as_ref(), email).await {
        tracing::error!(user = %user.id, error = %e, "cannot queue the new sign-in notice");
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailsQuery {
    /// The cursor: `next` of the previous page.
    pub before: Option<uuid::Uuid>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailList {
    pub items: Vec<EmailView>,
    /// The cursor of the next (older) page; none on the last.
    pub next: Option<uuid::Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailView {
    pub id: uuid::Uuid,
    pub to: String,
    pub subject: String,
    /// Plain text. Links in it (password reset, email verification) are secrets of the
    /// account they were sent to.
    pub body: String,
    /// `email_verification`, `password_reset` or `new_sign_in`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    /// When it was sent (or logged, without `email.smtp_url`); none while it waits.
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl From<OutboxEmail> for EmailView {
    fn from(e: OutboxEmail) -> Self {
        Self {
            id: e.id,
            to: e.to,
            subject: e.subject,
            body: e.body,
            kind: e.kind,
            created_at: e.created_at,
            sent_at: e.sent_at,
            attempts: e.attempts,
            last_error: e.last_error,
        }
    }
}

/// The email outbox, newest first: what was sent or logged, and what waits or failed.
#[utoipa::path(get, path = "/api/v1/admin/emails", tag = "admin", operation_id = "list_emails", params(EmailsQuery),
    responses((status = 200, body = EmailList), AdminError))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<EmailsQuery>,
) -> Result<Json<EmailList>, AdminError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AdminError::InvalidLimit(limit));
    }
    let items = state.store.list_emails(q.before, limit).await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.id))
        .flatten();
    Ok(Json(EmailList {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_a_limit() {
        let secs = |attempts| retry_pause(attempts).num_seconds();
        assert_eq!((secs(1), secs(2), secs(3)), (5, 10, 20));
        assert_eq!(secs(9), 900);
        assert_eq!(secs(1000), 900);
        assert_eq!(secs(0), 5);
    }
}
