//! Records of two-factor sign-in (TOTP), email verification, single-use tokens sent by email
//! (password reset, email verification) and the outbox of emails.

use chrono::{DateTime, Utc};
use plansmith_domain::UserId;

/// A user's second factor and email verification.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AccountSecurity {
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Base32; pending while `totp_enabled_at` is `None`.
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    /// The 30-second step of the last code accepted (codes of it and before are refused).
    pub totp_last_step: Option<i64>,
}

impl AccountSecurity {
    pub fn totp_enabled(&self) -> bool {
        self.totp_enabled_at.is_some() && self.totp_secret.is_some()
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// Debug output leaves the secret out.
impl std::fmt::Debug for AccountSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSecurity")
            .field("email_verified_at", &self.email_verified_at)
            .field("totp_secret", &self.totp_secret.as_ref().map(|_| "…"))
            .field("totp_enabled_at", &self.totp_enabled_at)
            .field("totp_last_step", &self.totp_last_step)
            .finish()
    }
}

/// What a single-use token sent by email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// A single-use token to store: only its SHA-256 is kept.
#[derive(Clone)]
pub struct NewOneTimeToken {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewOneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOneTimeToken")
            .field("user_id", &self.user_id)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An email to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// `password_reset`, `email_verification`, `new_sign_in`, ... (the server owns the list).
    pub kind: String,
}

/// An email in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEmail {
    /// UUIDv7: the order of the outbox.
    pub id: uuid::Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Attempts to send it so far (counted when the sender claims it).
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

/// How [`crate::Store::claim_emails`] claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailClaim {
    pub now: DateTime<Utc>,
    /// The claimed emails are not due again before this (another sender leaves them alone);
    /// the sender sets the real time of the next attempt when one fails.
    pub hold_until: DateTime<Utc>,
    /// Emails attempted this many times are given up.
    pub max_attempts: i64,
    pub limit: u32,
}
