//! Conformance tests of two-factor sign-in, email verification, single-use tokens and the
//! email outbox.

use crate::Backend;
use chrono::{Duration as ChronoDuration, Utc};
use plansmith_domain::{Email, UserId};
use plansmith_store::{EmailClaim, NewEmail, NewOneTimeToken, NewSignIn, NewUser, Store, TokenLife, TokenPurpose};

async fn user(store: &dyn Store) -> UserId {
    let email = Email::parse(&format!("mfa-{}@example.com", uuid::Uuid::now_v7().simple())).unwrap();
    let new = NewUser {
        email,
        name: None,
        password_hash: "$argon2id$old".into(),
    };
    store.create_user(new).await.unwrap().id
}

fn token(hash: &[u8], user: UserId, purpose: TokenPurpose, minutes: i64) -> NewOneTimeToken {
    NewOneTimeToken {
        token_hash: hash.to_vec(),
        user_id: user,
        purpose,
        expires_at: Utc::now() + ChronoDuration::minutes(minutes),
    }
}

pub async fn totp_is_pending_until_enabled_and_each_step_is_used_once(b: Backend) {
    let store = b.store.as_ref();
    let id = user(store).await;
    let fresh = store.account_security(id).await.unwrap().expect("the user exists");
    assert!(!fresh.totp_enabled() && fresh.totp_secret.is_none() && !fresh.email_verified());
    assert!(store.account_security(UserId::new()).await.unwrap().is_none());

    assert!(!store.enable_totp(id, 10, Utc::now()).await.unwrap(), "nothing pending");
    assert!(store.start_totp(id, "FIRSTSECRET").await.unwrap());
    assert!(
        store.start_totp(id, "SECONDSECRET").await.unwrap(),
        "a pending secret is replaced"
    );
    let pending = store.account_security(id).await.unwrap().unwrap();
    assert_eq!(pending.totp_secret.as_deref(), Some("SECONDSECRET"));
    assert!(!pending.totp_enabled());
    assert!(!store.use_totp_step(id, 11).await.unwrap(), "not on yet");

    assert!(store.enable_totp(id, 10, Utc::now()).await.unwrap());
    assert!(!store.enable_totp(id, 12, Utc::now()).await.unwrap(), "already on");
    assert!(
        !store.start_totp(id, "THIRD").await.unwrap(),
        "an active secret is not replaced"
    );
    let on = store.account_security(id).await.unwrap().unwrap();
    assert!(on.totp_enabled());
    assert_eq!(on.totp_last_step, Some(10));
    assert!(
        !store.use_totp_step(id, 10).await.unwrap(),
        "the confirming code's step is used"
    );
    assert!(!store.use_totp_step(id, 9).await.unwrap(), "an earlier step");
    assert!(store.use_totp_step(id, 11).await.unwrap());
    assert!(!store.use_totp_step(id, 11).await.unwrap(), "a code works once");

    assert!(store.disable_totp(id).await.unwrap());
    assert!(!store.disable_totp(id).await.unwrap());
    let off = store.account_security(id).await.unwrap().unwrap();
    assert!(off.totp_secret.is_none() && off.totp_enabled_at.is_none() && off.totp_last_step.is_none());
}

pub async fn a_totp_step_is_accepted_once_under_concurrency(b: Backend) {
    let store = b.store.clone();
    let id = user(store.as_ref()).await;
    store.start_totp(id, "SECRET").await.unwrap();
    store.enable_totp(id, 1, Utc::now()).await.unwrap();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.use_totp_step(id, 2).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for accepted_here in tries {
        accepted += usize::from(accepted_here.await.unwrap());
    }
    assert_eq!(accepted, 1);
}

pub async fn one_time_tokens_work_once_before_they_expire(b: Backend) {
    let store = b.store.as_ref();
    let id = user(store).await;
    let now = Utc::now();
    store
        .create_one_time_token(token(b"verify-1", id, TokenPurpose::EmailVerification, 60))
        .await
        .unwrap();
    store
        .create_one_time_token(token(b"verify-old", id, TokenPurpose::EmailVerification, -1))
        .await
        .unwrap();
    store
        .create_one_time_token(token(b"reset-1", id, TokenPurpose::PasswordReset, 30))
        .await
        .unwrap();
    store
        .create_one_time_token(token(b"reset-2", id, TokenPurpose::PasswordReset, 30))
        .await
        .unwrap();

    assert_eq!(store.confirm_email(b"verify-old", now).await.unwrap(), None, "expired");
    assert_eq!(
        store.confirm_email(b"reset-1", now).await.unwrap(),
        None,
        "another purpose"
    );
    assert_eq!(store.confirm_email(b"unknown", now).await.unwrap(), None);
    assert!(!store.account_security(id).await.unwrap().unwrap().email_verified());
    assert_eq!(store.confirm_email(b"verify-1", now).await.unwrap(), Some(id));
    assert!(store.account_security(id).await.unwrap().unwrap().email_verified());
    assert_eq!(store.confirm_email(b"verify-1", now).await.unwrap(), None, "used");

    store
        .create_auth_token(NewSignIn {
            token_hash: b"signed-in".to_vec(),
            user_id: id,
            expires_at: now + ChronoDuration::hours(1),
            address: None,
            user_agent: None,
        })
        .await
        .unwrap();
    let life = TokenLife {
        now,
        idle: std::time::Duration::from_secs(3600),
    };
    assert!(store.user_by_token(b"signed-in", life).await.unwrap().is_some());
    assert_eq!(
        store.reset_password(b"verify-1", "$argon2id$new", now).await.unwrap(),
        None
    );
    assert_eq!(
        store.reset_password(b"reset-1", "$argon2id$new", now).await.unwrap(),
        Some(id)
    );
    assert!(
        store.user_by_token(b"signed-in", life).await.unwrap().is_none(),
        "a reset revokes every sign-in"
    );
    assert_eq!(
        store.reset_password(b"reset-1", "$argon2id$again", now).await.unwrap(),
        None,
        "used"
    );
    assert_eq!(
        store.reset_password(b"reset-2", "$argon2id$again", now).await.unwrap(),
        None,
        "a reset ends the account's other reset links"
    );
}

pub async fn a_password_reset_sets_the_new_hash(b: Backend) {
    let store = b.store.as_ref();
    let email = Email::parse(&format!("reset-{}@example.com", uuid::Uuid::now_v7().simple())).unwrap();
    let new = NewUser {
        email: email.clone(),
        name: None,
        password_hash: "$argon2id$old".into(),
    };
    let id = store.create_user(new).await.unwrap().id;
    store
        .create_one_time_token(token(b"reset", id, TokenPurpose::PasswordReset, 30))
        .await
        .unwrap();
    store
        .reset_password(b"reset", "$argon2id$new", Utc::now())
        .await
        .unwrap();
    let user = store.user_by_email(&email).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$argon2id$new");
}

fn mail(to: &str) -> NewEmail {
    NewEmail {
        to: to.into(),
        subject: "Subject".into(),
        body: "Body\nwith lines".into(),
        kind: "test".into(),
    }
}

fn claim(now: chrono::DateTime<Utc>, limit: u32) -> EmailClaim {
    EmailClaim {
        now,
        hold_until: now + ChronoDuration::seconds(60),
        max_attempts: 3,
        limit,
    }
}

pub async fn emails_are_claimed_once_retried_and_listed_newest_first(b: Backend) {
    let store = b.store.as_ref();
    let first = store.queue_email(mail("a@example.com")).await.unwrap();
    let second = store.queue_email(mail("b@example.com")).await.unwrap();
    assert_eq!((first.attempts, first.sent_at.as_ref()), (0, None));
    let now = Utc::now() + ChronoDuration::seconds(1);

    let claimed = store.claim_emails(claim(now, 10)).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![first.id, second.id]);
    assert!(claimed.iter().all(|e| e.attempts == 1));
    assert_eq!(claimed[0].body, "Body\nwith lines");
    assert!(
        store.claim_emails(claim(now, 10)).await.unwrap().is_empty(),
        "held by the first claim"
    );

    store.email_sent(first.id, now).await.unwrap();
    store.email_failed(second.id, "connection refused", now).await.unwrap();
    let again = store.claim_emails(claim(now, 10)).await.unwrap();
    assert_eq!(again.len(), 1, "the sent one is done, the failed one is due again");
    assert_eq!((again[0].id, again[0].attempts), (second.id, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    store.email_failed(second.id, "refused again", now).await.unwrap();
    assert_eq!(store.claim_emails(claim(now, 10)).await.unwrap().len(), 1);
    store
        .email_failed(second.id, "refused a third time", now)
        .await
        .unwrap();
    assert!(
        store.claim_emails(claim(now, 10)).await.unwrap().is_empty(),
        "given up after max_attempts"
    );

    let third = store.queue_email(mail("c@example.com")).await.unwrap();
    let page = store.list_emails(None, 2).await.unwrap();
    let ids: Vec<_> = page.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![third.id, second.id]);
    assert_eq!(page[1].attempts, 3);
    assert_eq!(page[1].last_error.as_deref(), Some("refused a third time"));
    let rest = store.list_emails(Some(second.id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, first.id);
    assert!(rest[0].sent_at.is_some() && rest[0].last_error.is_none());
}

pub async fn an_email_is_claimed_by_one_sender_at_a_time(b: Backend) {
    let store = b.store.clone();
    for n in 0..10 {
        store.queue_email(mail(&format!("{n}@example.com"))).await.unwrap();
    }
    let now = Utc::now() + ChronoDuration::seconds(1);
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_emails(claim(now, 3)).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for sender in senders {
        claimed.extend(sender.await.unwrap().into_iter().map(|e| e.id));
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "no email went to two senders");
    assert_eq!(total, 10, "four senders of three take all ten");
}
