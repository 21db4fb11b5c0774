//! The Store API's conformance suite. Each backend crate runs every test on its own database
//! with [`conformance_tests!`](crate::conformance_tests).

use crate::Backend;
use chrono::{Duration as ChronoDuration, Utc};
use plansmith_domain::{
    DocumentId, Email, MessageStatus, Plan, Revision, Role, SessionId, SessionStatus, SignInId, UserId,
};
use plansmith_store::{
    Checkpoint, DocumentUpdate, EndedReply, FinishedReply, Lease, LlmCall, NewDocument, NewSecurityEvent, NewSession,
    NewSignIn, NewUser, OrphanClaim, ReplyRefusal, ReplyTransition, SecurityEventQuery, SessionClose, SessionRefusal,
    StepAdvance, Store, StoreError, TokenLife, UserUpdate,
};
use std::sync::Arc;
use std::time::Duration;

/// The instance most tests write as.
const HERE: &str = "here:1";

fn lease(owner: &str, duration: Duration) -> Lease {
    Lease {
        owner: owner.into(),
        duration,
    }
}

/// A lease of [`HERE`] that outlives any test.
fn held() -> Lease {
    lease(HERE, Duration::from_secs(60))
}

fn claim(lease: Lease, own_previous: bool, regenerate: bool) -> OrphanClaim {
    OrphanClaim {
        lease,
        own_previous,
        regenerate,
        limit: 100,
    }
}

fn checkpoint(reply: plansmith_domain::MessageId, content: &str, last_event_id: u64) -> Checkpoint {
    Checkpoint {
        reply_id: reply,
        content: content.into(),
        last_event_id,
    }
}

async fn user(store: &dyn Store, name: &str) -> UserId {
    let email = Email::parse(&format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple())).unwrap();
    store
        .create_user(NewUser {
            email,
            name: None,
            password_hash: "$argon2id$x".into(),
        })
        .await
        .unwrap()
        .id
}

async fn session(store: &dyn Store, user: UserId, title: &str) -> (SessionId, DocumentId) {
    let doc = DocumentId::new();
    let new = NewSession {
        id: SessionId::new(),
        user_id: user,
        workflow_id: "quick-brief".into(),
        title: title.into(),
        idea: "An idea".into(),
        first_step: "brief".into(),
        documents: vec![NewDocument {
            id: doc,
            step_id: "brief".into(),
            title: "Project brief".into(),
        }],
        intro: "Welcome".into(),
        max_active: 1000,
    };
    let created = store.create_session(new).await.unwrap();
    (created.id, doc)
}

pub async fn users_tokens_and_roles(b: Backend) {
    let store = b.store.as_ref();
    let email = Email::parse("Role@Example.com").unwrap();
    let created = store
        .create_user(NewUser {
            email: email.clone(),
            name: Some("R".into()),
            password_hash: "h".into(),
        })
        .await
        .unwrap();
    let dup = store
        .create_user(NewUser {
            email: email.clone(),
            name: None,
            password_hash: "h".into(),
        })
        .await;
    assert!(matches!(dup, Err(StoreError::EmailTaken)), "{dup:?}");
    assert_eq!(store.user_by_email(&email).await.unwrap().unwrap().id, created.id);
    assert!(store.set_user_role(&email, Role::Admin).await.unwrap());
    assert!(
        !store
            .set_user_role(&Email::parse("none@example.com").unwrap(), Role::Admin)
            .await
            .unwrap()
    );

    let now = Utc::now();
    token(store, b"live-token-hash", created.id, now + ChronoDuration::hours(1)).await;
    token(store, b"old-token-hash", created.id, now - ChronoDuration::hours(1)).await;
    let found = store
        .user_by_token(b"live-token-hash", life(now, 3600))
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.user.role, Role::Admin);
    assert!(
        store
            .user_by_token(b"old-token-hash", life(now, 3600))
            .await
            .unwrap()
            .is_none(),
        "expired tokens do not work"
    );
    store.delete_auth_token(b"live-token-hash").await.unwrap();
    assert!(
        store
            .user_by_token(b"live-token-hash", life(now, 3600))
            .await
            .unwrap()
            .is_none()
    );
}

fn life(now: chrono::DateTime<Utc>, idle_seconds: u64) -> TokenLife {
    TokenLife {
        now,
        idle: Duration::from_secs(idle_seconds),
    }
}

async fn token(store: &dyn Store, hash: &[u8], user: UserId, expires_at: chrono::DateTime<Utc>) -> SignInId {
    store
        .create_auth_token(NewSignIn {
            token_hash: hash.to_vec(),
            user_id: user,
            expires_at,
            address: Some("192.0.2.7".into()),
            user_agent: Some("Test/1.0".into()),
        })
        .await
        .unwrap()
}

/// The idle timeout slides with use, which is written at most once per `touch_every`; the
/// absolute expiry holds whatever the use.
pub async fn sign_ins_slide_with_use_and_expire_when_idle(b: Backend) {
    let store = b.store.as_ref();
    let ada = user(store, "ada").await;
    let start = Utc::now();
    let id = token(store, b"sliding", ada, start + ChronoDuration::hours(1)).await;
    let at = |seconds: i64| start + ChronoDuration::seconds(seconds);
    let last_used = || async {
        let sign_ins = store.list_sign_ins(ada, life(at(0), 3600)).await.unwrap();
        assert_eq!(sign_ins.len(), 1);
        assert_eq!(sign_ins[0].id, id);
        sign_ins[0].last_used_at
    };
    let created = last_used().await;
    assert!(
        (created - start).num_seconds().abs() < 5,
        "last used = created at first"
    );

    // Within a minute of the last noted use: found, nothing written.
    let owner = store.user_by_token(b"sliding", life(at(30), 300)).await.unwrap();
    assert_eq!(owner.map(|o| (o.user.id, o.sign_in)), Some((ada, id)));
    assert_eq!(last_used().await, created);
    // Later: the use is noted, and the idle timeout counts from it.
    assert!(
        store
            .user_by_token(b"sliding", life(at(240), 300))
            .await
            .unwrap()
            .is_some()
    );
    let noted = last_used().await;
    assert!(
        (noted - at(240)).num_milliseconds().abs() < 1000,
        "{noted} vs {}",
        at(240)
    );
    assert!(
        store
            .user_by_token(b"sliding", life(at(480), 300))
            .await
            .unwrap()
            .is_some(),
        "480 s after the start but 240 s after the last use: still signed in"
    );
    assert!(
        store
            .user_by_token(b"sliding", life(at(1200), 300))
            .await
            .unwrap()
            .is_none(),
        "idle for longer than the timeout"
    );
    assert!(
        store.list_sign_ins(ada, life(at(1200), 300)).await.unwrap().is_empty(),
        "an idle sign-in is not listed"
    );
    assert!(
        store
            .user_by_token(b"sliding", life(at(7200), 1_000_000))
            .await
            .unwrap()
            .is_none(),
        "past the absolute expiry"
    );
}

pub async fn sign_ins_are_listed_and_revoked_per_user(b: Backend) {
    let store = b.store.as_ref();
    let (ada, bob) = (user(store, "ada").await, user(store, "bob").await);
    let later = Utc::now() + ChronoDuration::hours(1);
    let first = token(store, b"ada-1", ada, later).await;
    let second = token(store, b"ada-2", ada, later).await;
    let third = token(store, b"ada-3", ada, later).await;
    let bobs = token(store, b"bob-1", bob, later).await;
    let now = life(Utc::now(), 3600);
    let listed = store.list_sign_ins(ada, now).await.unwrap();
    let ids: Vec<SignInId> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![third, second, first], "newest first, only the user's");
    assert_eq!(
        (
            listed[0].address.as_deref(),
            listed[0].user_agent.as_deref(),
            listed[0].user_id
        ),
        (Some("192.0.2.7"), Some("Test/1.0"), ada)
    );
    assert!(
        !store.revoke_sign_in(bob, first).await.unwrap(),
        "another user's sign-in is not revoked"
    );
    assert!(store.revoke_sign_in(ada, first).await.unwrap());
    assert!(!store.revoke_sign_in(ada, first).await.unwrap(), "once");
    assert!(store.user_by_token(b"ada-1", now).await.unwrap().is_none());
    assert_eq!(store.revoke_sign_ins(ada, Some(third)).await.unwrap(), 1);
    let left: Vec<SignInId> = store
        .list_sign_ins(ada, now)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![third]);
    assert_eq!(store.revoke_sign_ins(ada, None).await.unwrap(), 1);
    assert!(store.list_sign_ins(ada, now).await.unwrap().is_empty());
    let bob_left: Vec<SignInId> = store
        .list_sign_ins(bob, now)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(bob_left, vec![bobs], "other users keep theirs");
}

pub async fn a_password_change_keeps_only_the_current_sign_in(b: Backend) {
    let store = b.store.as_ref();
    let ada = user(store, "ada").await;
    let later = Utc::now() + ChronoDuration::hours(1);
    let current = token(store, b"current", ada, later).await;
    token(store, b"phone", ada, later).await;
    token(store, b"laptop", ada, later).await;
    assert_eq!(
        store.set_password(ada, "$argon2id$new", Some(current)).await.unwrap(),
        2
    );
    let now = life(Utc::now(), 3600);
    let owner = store.user_by_token(b"current", now).await.unwrap().expect("kept");
    assert_eq!(owner.user.password_hash, "$argon2id$new");
    assert!(store.user_by_token(b"phone", now).await.unwrap().is_none());
    assert!(matches!(
        store.set_password(UserId::new(), "h", None).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn admins_change_roles_plans_and_disable_accounts(b: Backend) {
    let store = b.store.as_ref();
    let ada = user(store, "ada").await;
    let mut ids = vec![ada];
    for n in 0..4 {
        ids.push(user(store, &format!("u{n}")).await);
    }
    ids.reverse();
    let first = store.list_users(None, 3).await.unwrap();
    let second = store.list_users(Some(first[2].id), 3).await.unwrap();
    let seen: Vec<UserId> = first.iter().chain(&second).map(|u| u.id).collect();
    assert_eq!(seen, ids, "newest first, paged");

    token(store, b"ada", ada, Utc::now() + ChronoDuration::hours(1)).await;
    let set = |update: UserUpdate| store.update_user(ada, update);
    let admin = set(UserUpdate {
        role: Some(Role::Admin),
        plan_override: Some(Some(Plan::Team)),
        ..UserUpdate::default()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (admin.role, admin.plan, admin.plan_override, admin.disabled),
        (Role::Admin, Plan::Team, Some(Plan::Team), false),
        "the override is the plan in force"
    );
    let now = life(Utc::now(), 3600);
    assert!(
        store.user_by_token(b"ada", now).await.unwrap().is_some(),
        "still signed in"
    );
    let disabled = set(UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(disabled.disabled && disabled.plan_override == Some(Plan::Team) && disabled.role == Role::Admin);
    assert!(
        store.user_by_token(b"ada", now).await.unwrap().is_none(),
        "sign-ins revoked"
    );
    token(store, b"ada-again", ada, Utc::now() + ChronoDuration::hours(1)).await;
    assert!(
        store.user_by_token(b"ada-again", now).await.unwrap().is_none(),
        "a disabled account's tokens do not work"
    );
    let found = store.user_by_id(ada).await.unwrap().unwrap();
    assert!(found.disabled);
    let email = Email::parse(&found.email).unwrap();
    assert!(store.user_by_email(&email).await.unwrap().unwrap().disabled);
    let enabled = set(UserUpdate {
        disabled: Some(false),
        plan_override: Some(None),
        ..UserUpdate::default()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (enabled.plan, enabled.plan_override, enabled.disabled),
        (Plan::Free, None, false),
        "without the override, the billed plan"
    );
    assert!(
        store.user_by_token(b"ada-again", now).await.unwrap().is_some(),
        "enabled again"
    );
    assert!(
        store
            .update_user(UserId::new(), UserUpdate::default())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_by_id(UserId::new()).await.unwrap().is_none());
}

pub async fn expired_and_idle_tokens_are_purged(b: Backend) {
    let store = b.store.as_ref();
    let ada = user(store, "ada").await;
    let now = Utc::now();
    token(store, b"expired", ada, now - ChronoDuration::minutes(1)).await;
    token(store, b"live", ada, now + ChronoDuration::hours(1)).await;
    token(store, b"idle", ada, now + ChronoDuration::hours(1)).await;
    // 40 minutes on, with a 30-minute idle timeout: "live" was used 10 minutes ago.
    let later = now + ChronoDuration::minutes(30);
    assert!(store.user_by_token(b"live", life(later, 1800)).await.unwrap().is_some());
    let purge_at = life(now + ChronoDuration::minutes(40), 1800);
    assert_eq!(store.purge_auth_tokens(purge_at).await.unwrap(), 2);
    assert_eq!(
        store.purge_auth_tokens(purge_at).await.unwrap(),
        0,
        "nothing left to purge"
    );
    let left = store.list_sign_ins(ada, life(now, 1_000_000)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(store.user_by_token(b"live", purge_at).await.unwrap().is_some());
}

pub async fn security_events_are_filtered_and_paged_newest_first(b: Backend) {
    let store = b.store.as_ref();
    let (ada, bob) = (user(store, "ada").await, user(store, "bob").await);
    let event = |kind: &str, user: Option<UserId>, outcome: &str| NewSecurityEvent {
        kind: kind.into(),
        user_id: user,
        address: Some("192.0.2.7".into()),
        request_id: Some("req-1".into()),
        outcome: outcome.into(),
        detail: Some(format!("{kind} detail")),
    };
    let before = Utc::now() - ChronoDuration::seconds(1);
    let mut recorded = Vec::new();
    for (kind, user, outcome) in [
        ("sign_up", Some(ada), "success"),
        ("sign_in_failed", Some(ada), "failure"),
        ("sign_in", Some(ada), "success"),
        ("sign_up", Some(bob), "success"),
        ("admin_denied", None, "failure"),
    ] {
        recorded.push(store.record_security_event(event(kind, user, outcome)).await.unwrap());
    }
    let after = Utc::now() + ChronoDuration::seconds(1);
    let query = |user: Option<UserId>, kind: Option<&str>| SecurityEventQuery {
        user_id: user,
        kind: kind.map(str::to_owned),
        limit: 100,
        ..SecurityEventQuery::default()
    };
    let kinds =
        |events: Vec<plansmith_store::SecurityEvent>| -> Vec<String> { events.into_iter().map(|e| e.kind).collect() };
    let all = store.security_events(&query(None, None)).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], recorded[4], "stored as recorded");
    assert_eq!(
        kinds(all),
        ["admin_denied", "sign_up", "sign_in", "sign_in_failed", "sign_up"],
        "newest first"
    );
    assert_eq!(
        kinds(store.security_events(&query(Some(ada), None)).await.unwrap()),
        ["sign_in", "sign_in_failed", "sign_up"]
    );
    let bob_sign_ups = store.security_events(&query(Some(bob), Some("sign_up"))).await.unwrap();
    assert_eq!(bob_sign_ups, vec![recorded[3].clone()]);
    let page = SecurityEventQuery {
        limit: 2,
        ..query(None, None)
    };
    let first = store.security_events(&page).await.unwrap();
    let second = store
        .security_events(&SecurityEventQuery {
            before: Some(first[1].id),
            ..page.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        first.iter().chain(&second).map(|e| e.id).collect::<Vec<_>>(),
        vec![recorded[4].id, recorded[3].id, recorded[2].id, recorded[1].id]
    );
    let in_range = SecurityEventQuery {
        from: Some(before),
        to: Some(after),
        ..query(None, Some("sign_up"))
    };
    assert_eq!(store.security_events(&in_range).await.unwrap().len(), 2);
    let earlier = SecurityEventQuery {
        to: Some(before),
        ..query(None, None)
    };
    assert!(store.security_events(&earlier).await.unwrap().is_empty());
    let later = SecurityEventQuery {
        from: Some(after),
        ..query(None, None)
    };
    assert!(store.security_events(&later).await.unwrap().is_empty());
}

pub async fn sessions_are_listed_newest_first_per_user(b: Backend) {
    let store = b.store.as_ref();
    let (ada, bob) = (user(store, "ada").await, user(store, "bob").await);
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(session(store, ada, &format!("S{n}")).await.0);
    }
    session(store, bob, "other").await;
    ids.reverse();
    let first = store.list_sessions(ada, None, 3).await.unwrap();
    let second = store.list_sessions(ada, Some(first[2].id), 3).await.unwrap();
    let third = store.list_sessions(ada, Some(second[2].id), 3).await.unwrap();
    let seen: Vec<SessionId> = first.iter().chain(&second).chain(&third).map(|s| s.id).collect();
    assert_eq!(seen, ids);
    assert!(
        store.get_session(bob, ids[0]).await.unwrap().is_none(),
        "scoped to the owner"
    );
    let got = store.get_session(ada, ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.current_step.as_deref(), got.sections_filled),
        (SessionStatus::Active, Some("brief"), 0)
    );
    let messages = store.list_messages(ids[0]).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!((messages[0].seq, messages[0].content.as_str()), (1, "Welcome"));
}

pub async fn steps_advance_and_sessions_close(b: Backend) {
    let store = b.store.as_ref();
    let (id, _) = session(store, user(store, "s").await, "Steps").await;
    let wrong = store.complete_step(id, "prd", StepAdvance::Finish).await;
    assert!(
        matches!(
            &wrong,
            Err(StoreError::Session(SessionRefusal::StepNotCurrent { step, current }))
                if step == "prd" && current.as_deref() == Some("brief")
        ),
        "{wrong:?}"
    );
    let early = store.close_session(id, SessionClose::Complete).await;
    assert!(
        matches!(&early, Err(StoreError::Session(SessionRefusal::StepsRemain { current })) if current == "brief"),
        "{early:?}"
    );
    let next = StepAdvance::Next {
        step_id: "prd".into(),
        intro: "Now the PRD".into(),
    };
    let s = store.complete_step(id, "brief", next).await.unwrap();
    assert_eq!((s.current_step.as_deref(), s.completed_steps), (Some("prd"), 1));
    let s = store.complete_step(id, "prd", StepAdvance::Finish).await.unwrap();
    assert_eq!(
        (s.status, s.current_step, s.completed_steps),
        (SessionStatus::Completed, None, 2)
    );
    assert!(s.completed_at.is_some());
    let again = store.complete_step(id, "prd", StepAdvance::Finish).await;
    assert!(matches!(
        again,
        Err(StoreError::Session(SessionRefusal::Closed(SessionStatus::Completed)))
    ));
    let same = store.close_session(id, SessionClose::Complete).await.unwrap();
    assert_eq!(
        (same.status, same.completed_at),
        (SessionStatus::Completed, s.completed_at),
        "completing a completed session changes nothing"
    );
    assert!(matches!(
        store.close_session(id, SessionClose::Abandon).await,
        Err(StoreError::Session(SessionRefusal::Closed(SessionStatus::Completed)))
    ));
}

pub async fn message_sequence_stays_gap_free_under_concurrency(b: Backend) {
    let store = b.store.clone();
    let (id, _) = session(store.as_ref(), user(store.as_ref(), "m").await, "Busy").await;
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.post_message(id, &format!("message {n}"), None, &held()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every concurrent message is stored");
    }
    let messages = store.list_messages(id).await.unwrap();
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=101).collect::<Vec<_>>(),
        "intro + 50 × (message, reply), no gap, no duplicate"
    );
    let queued = messages.iter().filter(|m| m.status == MessageStatus::Queued).count();
    assert_eq!(queued, 50);
}

pub async fn stale_concurrent_edits_conflict_and_none_is_lost(b: Backend) {
    let store = b.store.clone();
    let (id, doc) = session(store.as_ref(), user(store.as_ref(), "e").await, "Edits").await;
    // 50 edits all based on revision 0: exactly one wins, the rest get a conflict.
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .edit_section(doc, "summary", &format!("edit {n}"), Revision(0))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(revision) => {
                assert_eq!(revision, Revision(1));
                wins += 1;
            }
            Err(StoreError::RevisionConflict { current }) => assert_eq!(current, Revision(1)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    // 50 writers that re-read and retry on conflict: every edit lands, revisions stay gap-free.
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    let base = store
                        .list_revisions(doc)
                        .await
                        .unwrap()
                        .first()
                        .map_or(Revision(0), |r| r.revision);
                    match store.edit_section(doc, &format!("s{n}"), "x", base).await {
                        Ok(revision) => return revision,
                        Err(StoreError::RevisionConflict { .. }) => tokio::task::yield_now().await,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap());
    }
    revisions.sort();
    assert_eq!(
        revisions,
        (2..=51).map(Revision).collect::<Vec<_>>(),
        "each writer got its own revision"
    );
    let listed: Vec<Revision> = store
        .list_revisions(doc)
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(listed, (1..=51).rev().map(Revision).collect::<Vec<_>>());
    let latest = store.get_document(id, doc, None).await.unwrap().unwrap();
    assert_eq!(latest.content.0.len(), 51, "no lost update: summary + 50 sections");
}

pub async fn replies_commit_with_their_revision(b: Backend) {
    let store = b.store.as_ref();
    let owner = user(store, "r").await;
    let (id, doc) = session(store, owner, "Replies").await;
    let reply = store.post_message(id, "hello", None, &held()).await.unwrap().reply;
    assert_eq!(reply.status, MessageStatus::Queued);
    store
        .start_reply(reply.id, HERE, "offline", "offline-planner-1")
        .await
        .unwrap();
    assert!(matches!(
        store.start_reply(reply.id, HERE, "offline", "m").await,
        Err(StoreError::Reply(ReplyRefusal(ReplyTransition::Start)))
    ));
    store
        .checkpoint_replies(HERE, &[checkpoint(reply.id, "Hal", 3)])
        .await
        .unwrap();
    assert_eq!(store.get_message(id, reply.id).await.unwrap().unwrap().content, "Hal");
    let applied = store
        .finish_reply(FinishedReply {
            reply_id: reply.id,
            owner: HERE.into(),
            provider: "secondary".into(),
            model: "model-b".into(),
            call: Some(call(owner, id, reply.id, "complete", 1200, 300, 4_500)),
            content: "Half done.".into(),
            events: "[]".into(),
            updates: vec![DocumentUpdate {
                document_id: doc,
                sections: vec![("summary".into(), "One".into()), ("users".into(), "Two".into())],
            }],
        })
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].revision, Revision(1), "one revision per reply");
    let message = store.get_message(id, reply.id).await.unwrap().unwrap();
    assert_eq!(
        (message.status, message.content.as_str(), message.provider.as_deref()),
        (MessageStatus::Complete, "Half done.", Some("secondary"))
    );
    let snapshot = store.get_document(id, doc, None).await.unwrap().unwrap();
    assert_eq!(snapshot.content.section("users"), "Two");
    let session = store.get_session(owner, id).await.unwrap().unwrap();
    assert_eq!(session.sections_filled, 2);
    let revisions = store.list_revisions(doc).await.unwrap();
    assert_eq!(revisions[0].message_id, Some(reply.id));

    // A reply that fails keeps its partial text and can be reset for a retry.
    let second = store.post_message(id, "again", None, &held()).await.unwrap().reply;
    store.start_reply(second.id, HERE, "offline", "m").await.unwrap();
    let ended = EndedReply {
        reply_id: second.id,
        owner: HERE.into(),
        status: MessageStatus::Failed,
        content: "Part".into(),
        events: "[]".into(),
        error_code: "provider_unavailable".into(),
        error_message: "Try again".into(),
        call: Some(call(owner, id, second.id, "failed", 0, 0, 0)),
    };
    assert!(store.end_reply(ended.clone()).await.unwrap(), "a streaming reply ends");
    assert!(
        !store
            .end_reply(EndedReply {
                status: MessageStatus::Interrupted,
                call: None,
                ..ended
            })
            .await
            .unwrap(),
        "an ended reply keeps its first ending"
    );
    let failed = store.get_message(id, second.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.content.as_str(), failed.error_code.as_deref()),
        (MessageStatus::Failed, "Part", Some("provider_unavailable"))
    );
    // Both calls are recorded with their replies, in the same transactions.
    let since = Utc::now() - ChronoDuration::hours(1);
    let totals = store.usage_since(owner, since).await.unwrap();
    assert_eq!((totals.tokens, totals.cost_micros), (1500, 4_500));
    let calls = store
        .llm_calls_between(since, Utc::now() + ChronoDuration::seconds(1))
        .await
        .unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].outcome.as_str(), calls[0].provider.as_str(), calls[0].ttft_ms),
        ("complete", "secondary", Some(120))
    );
    assert_eq!(calls[1].outcome, "failed");
    assert!(
        store
            .llm_calls_between(since - ChronoDuration::hours(2), since)
            .await
            .unwrap()
            .is_empty()
    );
    let reset = store.reset_reply(second.id, &held()).await.unwrap();
    assert_eq!(
        (reset.status, reset.content.as_str(), reset.error_code),
        (MessageStatus::Queued, "", None)
    );
    assert!(
        matches!(
            store.reset_reply(reply.id, &held()).await,
            Err(StoreError::Reply(ReplyRefusal(ReplyTransition::Retry)))
        ),
        "a complete reply is not retried"
    );

    // A reply whose instance went away keeps its checkpointed text when it is claimed to be
    // marked interrupted (no regeneration).
    let gone = lease("gone:1", Duration::from_millis(1));
    let third = store.post_message(id, "more", None, &gone).await.unwrap().reply;
    store.start_reply(third.id, "gone:1", "offline", "m").await.unwrap();
    let partial = "Partial \"words\"\n— ü ✓ 'quoted'";
    store
        .checkpoint_replies(
            "gone:1",
            &[
                checkpoint(third.id, partial, 5),
                checkpoint(reply.id, "complete: ignored", 9),
            ],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let claimed = store.claim_orphans(&claim(held(), false, false)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|o| o.reply.id).collect::<Vec<_>>(),
        [third.id],
        "only the expired lease: the reset reply is held"
    );
    assert_eq!(
        (claimed[0].checkpointed.as_str(), claimed[0].last_event_id),
        (partial, 5)
    );
    let ended = EndedReply {
        reply_id: third.id,
        owner: HERE.into(),
        status: MessageStatus::Interrupted,
        content: claimed[0].checkpointed.clone(),
        events: "[]".into(),
        error_code: "interrupted".into(),
        error_message: "Retry it".into(),
        call: None,
    };
    assert!(store.end_reply(ended).await.unwrap());
    let cut = store.get_message(id, third.id).await.unwrap().unwrap();
    assert_eq!(
        (cut.status, cut.content.as_str(), cut.error_message.as_deref()),
        (MessageStatus::Interrupted, partial, Some("Retry it"))
    );
    assert_eq!(
        store.get_message(id, reply.id).await.unwrap().unwrap().content,
        "Half done."
    );
}

pub async fn an_expired_lease_is_claimed_once_and_only_its_holder_writes(b: Backend) {
    let store = b.store.as_ref();
    let owner = user(store, "l").await;
    let (id, _) = session(store, owner, "Leases").await;
    let a = lease("a:1", Duration::from_millis(400));
    let reply = store.post_message(id, "hello", None, &a).await.unwrap().reply;
    store.start_reply(reply.id, "a:1", "offline", "m").await.unwrap();
    store
        .checkpoint_replies("a:1", &[checkpoint(reply.id, "Par", 7)])
        .await
        .unwrap();
    // Another instance's progress is ignored, and event numbers never go back.
    store
        .checkpoint_replies("b:1", &[checkpoint(reply.id, "Not mine", 99)])
        .await
        .unwrap();
    store
        .checkpoint_replies("a:1", &[checkpoint(reply.id, "Part", 6)])
        .await
        .unwrap();
    assert_eq!(store.get_message(id, reply.id).await.unwrap().unwrap().content, "Part");
    assert_eq!(store.renew_leases(&a).await.unwrap(), [reply.id]);
    let (b1, c1) = (
        lease("b:1", Duration::from_secs(60)),
        lease("c:1", Duration::from_secs(60)),
    );
    assert!(
        store
            .claim_orphans(&claim(b1.clone(), true, true))
            .await
            .unwrap()
            .is_empty(),
        "a held lease is not claimed"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (by_b, by_c) = (claim(b1.clone(), false, true), claim(c1.clone(), false, true));
    let (first, second) = tokio::join!(store.claim_orphans(&by_b), store.claim_orphans(&by_c));
    let mut claimed: Vec<_> = first.unwrap().into_iter().map(|o| ("b:1", o)).collect();
    claimed.extend(second.unwrap().into_iter().map(|o| ("c:1", o)));
    assert_eq!(claimed.len(), 1, "one claimant wins");
    let (winner, orphan) = claimed.pop().unwrap();
    assert_eq!(
        (
            orphan.reply.id,
            orphan.reply.status,
            orphan.reply.content.as_str(),
            orphan.previous_owner.as_deref(),
            orphan.last_event_id,
            orphan.checkpointed.as_str(),
            orphan.user_id,
            orphan.plan,
        ),
        (
            reply.id,
            MessageStatus::Queued,
            "",
            Some("a:1"),
            7,
            "Part",
            owner,
            plansmith_domain::Plan::Free
        )
    );
    // The old holder can no longer renew, start, save, finish or end it.
    assert!(store.renew_leases(&a).await.unwrap().is_empty());
    assert!(store.start_reply(reply.id, "a:1", "offline", "m").await.is_err());
    let finished = FinishedReply {
        reply_id: reply.id,
        owner: "a:1".into(),
        provider: "offline".into(),
        model: "m".into(),
        content: "Stale".into(),
        events: "[]".into(),
        updates: Vec::new(),
        call: None,
    };
    store.start_reply(reply.id, winner, "offline", "m").await.unwrap();
    assert!(matches!(
        store.finish_reply(finished.clone()).await,
        Err(StoreError::Reply(ReplyRefusal(ReplyTransition::Finish)))
    ));
    let stale_end = EndedReply {
        reply_id: reply.id,
        owner: "a:1".into(),
        status: MessageStatus::Failed,
        content: String::new(),
        events: "[]".into(),
        error_code: "x".into(),
        error_message: "x".into(),
        call: None,
    };
    assert!(!store.end_reply(stale_end).await.unwrap());
    let fresh = FinishedReply {
        owner: winner.into(),
        content: "Fresh".into(),
        ..finished
    };
    store.finish_reply(fresh).await.unwrap();
    let done = store.get_message(id, reply.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.content.as_str()), (MessageStatus::Complete, "Fresh"));
    assert!(
        store
            .renew_leases(&lease(winner, Duration::from_secs(60)))
            .await
            .unwrap()
            .is_empty()
    );

    // At start-up an instance claims its own previous run's replies at once (their lease
    // has not expired yet), keeping their text when they are not to be generated again.
    let mine = store.post_message(id, "again", None, &b1).await.unwrap().reply;
    store.start_reply(mine.id, "b:1", "offline", "m").await.unwrap();
    store
        .checkpoint_replies("b:1", &[checkpoint(mine.id, "Kept", 2)])
        .await
        .unwrap();
    assert!(
        store
            .claim_orphans(&claim(c1.clone(), true, true))
            .await
            .unwrap()
            .is_empty()
    );
    let restarted = store.claim_orphans(&claim(b1.clone(), true, false)).await.unwrap();
    assert_eq!(restarted.len(), 1);
    assert_eq!(
        (
            restarted[0].previous_owner.as_deref(),
            restarted[0].reply.content.as_str()
        ),
        (Some("b:1"), "Kept")
    );

    // A released lease is free at once, its holder's renewals do not take it back, and only its
    // holder can release it.
    assert_eq!(store.release_leases("c:1", &[mine.id]).await.unwrap(), 0);
    assert_eq!(store.release_leases("b:1", &[mine.id]).await.unwrap(), 1);
    assert!(store.renew_leases(&b1).await.unwrap().is_empty());
    let taken = store.claim_orphans(&claim(c1, false, true)).await.unwrap();
    assert_eq!(taken.iter().map(|o| o.reply.id).collect::<Vec<_>>(), [mine.id]);
    assert_eq!(taken[0].previous_owner, None, "a released lease names nobody");
}

fn call(
    user: UserId,
    session: SessionId,
    reply: plansmith_domain::MessageId,
    outcome: &str,
    input: i64,
    output: i64,
    cost: i64,
) -> LlmCall {
    LlmCall {
        user_id: user,
        session_id: session,
        reply_id: reply,
        provider: "secondary".into(),
        model: "model-b".into(),
        input_tokens: input,
        output_tokens: output,
        cost_micros: cost,
        latency_ms: 900,
        ttft_ms: (outcome == "complete").then_some(120),
        attempts: 2,
        outcome: outcome.into(),
        created_at: Utc::now(),
    }
}

pub async fn corrupted_revisions_are_detected_on_read(b: Backend) {
    let store = b.store.as_ref();
    let (id, doc) = session(store, user(store, "c").await, "Corrupt").await;
    store
        .edit_section(doc, "summary", "Trustworthy", Revision(0))
        .await
        .unwrap();
    b.execute("UPDATE document_revisions SET content = '{\"summary\":\"Tampered\"}'")
        .await;
    let read = store.get_document(id, doc, None).await;
    match read {
        Err(StoreError::Integrity(message)) => assert!(message.contains("content hash"), "{message}"),
        other => panic!("corruption must not pass silently: {other:?}"),
    }
    let edit = store.edit_section(doc, "summary", "x", Revision(1)).await;
    assert!(
        matches!(edit, Err(StoreError::Integrity(_))),
        "nothing is built on corrupted data: {edit:?}"
    );
}

pub async fn restore_makes_one_new_revision(b: Backend) {
    let store = b.store.as_ref();
    let (id, doc) = session(store, user(store, "x").await, "Restore").await;
    store.edit_section(doc, "summary", "First", Revision(0)).await.unwrap();
    store.edit_section(doc, "summary", "Second", Revision(1)).await.unwrap();
    let first = store.get_document(id, doc, Some(Revision(1))).await.unwrap().unwrap();
    assert_eq!(store.restore_revision(doc, Revision(1)).await.unwrap(), Revision(3));
    let now = store.get_document(id, doc, None).await.unwrap().unwrap();
    assert_eq!(
        (now.revision, now.content_hash.as_str()),
        (Revision(3), first.content_hash.as_str())
    );
    assert!(matches!(
        store.restore_revision(doc, Revision(9)).await,
        Err(StoreError::RevisionNotFound(Revision(9)))
    ));
    assert_eq!(
        store.restore_revision(doc, Revision(0)).await.unwrap(),
        Revision(4),
        "revision 0 is the empty document"
    );
    assert_eq!(
        store
            .get_document(id, doc, None)
            .await
            .unwrap()
            .unwrap()
            .content
            .filled(),
        0
    );
}

pub async fn a_sessions_documents_are_read_at_their_current_revision(b: Backend) {
    let store = b.store.as_ref();
    let owner = user(store, "d").await;
    let (brief, prd) = (DocumentId::new(), DocumentId::new());
    let session = store
        .create_session(NewSession {
            id: SessionId::new(),
            user_id: owner,
            workflow_id: "full-plan".into(),
            title: "Two documents".into(),
            idea: "An idea".into(),
            first_step: "brief".into(),
            documents: vec![
                NewDocument {
                    id: brief,
                    step_id: "brief".into(),
                    title: "Project brief".into(),
                },
                NewDocument {
                    id: prd,
                    step_id: "prd".into(),
                    title: "PRD".into(),
                },
            ],
            intro: "Welcome".into(),
            max_active: 1000,
        })
        .await
        .unwrap()
        .id;
    store
        .edit_section(brief, "summary", "First", Revision(0))
        .await
        .unwrap();
    store
        .edit_section(brief, "summary", "Second \"quoted\" ✓", Revision(1))
        .await
        .unwrap();
    let docs = store.current_documents(session).await.unwrap();
    let seen: Vec<_> = docs
        .iter()
        .map(|d| (d.id, d.step_id.as_str(), d.revision, d.content.section("summary")))
        .collect();
    assert_eq!(
        seen,
        vec![
            (brief, "brief", Revision(2), "Second \"quoted\" ✓"),
            (prd, "prd", Revision(0), "")
        ],
        "workflow order, current revision, content as written"
    );
    let one = store.get_document(session, brief, None).await.unwrap().unwrap();
    assert_eq!(
        (one.revision, one.content_hash.as_str()),
        (Revision(2), docs[0].content_hash.as_str())
    );
    let older = store
        .get_document(session, brief, Some(Revision(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (older.revision, older.content.section("summary")),
        (Revision(1), "First")
    );
    assert!(matches!(
        store.get_document(session, brief, Some(Revision(3))).await,
        Err(StoreError::RevisionNotFound(Revision(3)))
    ));
    assert!(
        store
            .get_document(SessionId::new(), brief, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.current_documents(SessionId::new()).await.unwrap().is_empty());
    b.execute("UPDATE document_revisions SET content = '{\"summary\":\"Tampered\"}' WHERE revision = 2")
        .await;
    assert!(matches!(
        store.current_documents(session).await,
        Err(StoreError::Integrity(_))
    ));
}

pub async fn closed_sessions_take_no_messages_steps_or_edits(b: Backend) {
    let store = b.store.as_ref();
    let (id, doc) = session(store, user(store, "closed").await, "Closed").await;
    store.edit_section(doc, "summary", "Kept", Revision(0)).await.unwrap();
    let first = store.close_session(id, SessionClose::Abandon).await.unwrap();
    assert_eq!(first.status, SessionStatus::Abandoned);
    let again = store.close_session(id, SessionClose::Abandon).await.unwrap();
    assert_eq!(again.updated_at, first.updated_at, "abandoning twice changes nothing");
    let closed = |r: &Result<_, StoreError>| {
        matches!(
            r,
            Err(StoreError::Session(SessionRefusal::Closed(SessionStatus::Abandoned)))
        )
    };
    assert!(closed(&store.close_session(id, SessionClose::Complete).await.map(drop)));
    assert!(closed(&store.post_message(id, "late", None, &held()).await.map(drop)));
    assert!(closed(
        &store.complete_step(id, "brief", StepAdvance::Finish).await.map(drop)
    ));
    assert!(closed(
        &store.edit_section(doc, "summary", "x", Revision(1)).await.map(drop)
    ));
    assert!(closed(&store.restore_revision(doc, Revision(0)).await.map(drop)));
    assert_eq!(store.list_messages(id).await.unwrap().len(), 1, "only the intro");
    let kept = store.get_document(id, doc, None).await.unwrap().unwrap();
    assert_eq!((kept.revision, kept.content.section("summary")), (Revision(1), "Kept"));
}

pub async fn a_resent_message_returns_the_first_answer(b: Backend) {
    let store = b.store.as_ref();
    let (id, _) = session(store, user(store, "resend").await, "Resend").await;
    let first = store.post_message(id, "Hello", Some("key-1"), &held()).await.unwrap();
    assert!(!first.replayed);
    let again = store
        .post_message(id, "Hello (resent)", Some("key-1"), &held())
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.message.id, again.reply.id, again.message.content.as_str()),
        (first.message.id, first.reply.id, "Hello")
    );
    let other = store.post_message(id, "Next", Some("key-2"), &held()).await.unwrap();
    assert!(!other.replayed);
    assert_eq!(other.message.seq, first.reply.seq + 1);
    assert_eq!(store.list_messages(id).await.unwrap().len(), 5, "intro + two pairs");
    // Once the session is closed a resend still gets its first answer, a new message does not.
    store.close_session(id, SessionClose::Abandon).await.unwrap();
    assert!(
        store
            .post_message(id, "Hello", Some("key-1"), &held())
            .await
            .unwrap()
            .replayed
    );
    assert!(store.post_message(id, "New", Some("key-3"), &held()).await.is_err());
}

/// SQLite takes one writer at a time; the store queues writers instead of failing them.
pub async fn sqlite_serves_200_concurrent_writers_without_lock_errors(b: Backend) {
    let store = b.store.clone();
    let owner = user(store.as_ref(), "w").await;
    let mut sessions = Vec::new();
    for n in 0..20 {
        sessions.push(session(store.as_ref(), owner, &format!("W{n}")).await);
    }
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            let (id, _) = sessions[n % sessions.len()];
            tokio::spawn(async move {
                if n % 2 == 0 {
                    store.post_message(id, "hello", None, &held()).await.map(drop)
                } else {
                    store
                        .create_user(NewUser {
                            email: Email::parse(&format!("writer{n}@example.com")).unwrap(),
                            name: None,
                            password_hash: "h".into(),
                        })
                        .await
                        .map(drop)
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("no 'database is locked'");
    }
}

/// A user's active sessions are capped when sessions are created, also when they are created
/// at once; a closed session makes room; other users are not affected.
pub async fn active_sessions_are_capped_per_user(b: Backend) {
    let store = b.store.clone();
    let owner = user(store.as_ref(), "cap").await;
    let new = |max_active| NewSession {
        id: SessionId::new(),
        user_id: owner,
        workflow_id: "quick-brief".into(),
        title: "Capped".into(),
        idea: "An idea".into(),
        first_step: "brief".into(),
        documents: vec![NewDocument {
            id: DocumentId::new(),
            step_id: "brief".into(),
            title: "Project brief".into(),
        }],
        intro: "Welcome".into(),
        max_active,
    };
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (store, new) = (Arc::clone(&store), new(5));
            tokio::spawn(async move { store.create_session(new).await })
        })
        .collect();
    let (mut created, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(session) => created.push(session.id),
            Err(StoreError::TooManyActiveSessions { max: 5 }) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((created.len(), refused), (5, 7));
    store.close_session(created[0], SessionClose::Abandon).await.unwrap();
    store.create_session(new(5)).await.expect("a closed session makes room");
    assert!(matches!(
        store.create_session(new(5)).await,
        Err(StoreError::TooManyActiveSessions { max: 5 })
    ));
    let other = user(store.as_ref(), "cap-other").await;
    session(store.as_ref(), other, "Not capped by another user").await;
}

pub async fn activity_is_counted_for_the_business_gauges(b: Backend) {
    let store = b.store.as_ref();
    let (worker, other) = (user(store, "worker").await, user(store, "other").await);
    user(store, "payer").await;
    b.execute("UPDATE users SET plan = 'pro' WHERE email LIKE 'payer-%'")
        .await;
    let (kept, _) = session(store, worker, "Kept").await;
    let (dropped, _) = session(store, worker, "Dropped").await;
    session(store, other, "Other").await;
    store.close_session(dropped, SessionClose::Abandon).await.unwrap();
    let now = Utc::now();
    let counts = store.activity_counts(now).await.unwrap();
    assert_eq!(
        (counts.users, counts.paying_users, counts.sessions_in_progress),
        (3, 1, 2)
    );
    assert_eq!((counts.active_1d, counts.active_7d, counts.active_30d), (2, 2, 2));
    let later = store.activity_counts(now + ChronoDuration::days(3)).await.unwrap();
    assert_eq!((later.active_1d, later.active_7d, later.active_30d), (0, 2, 2));
    let much_later = store.activity_counts(now + ChronoDuration::days(40)).await.unwrap();
    assert_eq!(much_later.active_30d, 0);
    store.close_session(kept, SessionClose::Complete).await.ok();
}

pub async fn errors_are_grouped_and_exactly_one_recorder_sees_a_new_group(b: Backend) {
    let store = b.store.clone();
    let event = |fingerprint: &str, detail: &str, at| plansmith_store::NewErrorEvent {
        fingerprint: fingerprint.into(),
        kind: "http_5xx".into(),
        title: "GET /api/v1/sessions/{id}: 500 internal_error".into(),
        detail: detail.into(),
        request_id: Some(format!("req-{detail}")),
        user_id: None,
        release: "1.0.0".into(),
        at,
    };
    let t0 = Utc::now() - ChronoDuration::minutes(5);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (store, e) = (Arc::clone(&store), event("aaa", &i.to_string(), t0));
            tokio::spawn(async move { store.record_error(e).await })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<i64>>(), "every occurrence counted once");
    let owner = user(store.as_ref(), "err").await;
    let mut later = event("bbb", "last", t0 + ChronoDuration::minutes(1));
    later.kind = "panic".into();
    later.user_id = Some(owner);
    assert_eq!(store.record_error(later).await.unwrap(), 1);
    let groups = store.list_error_groups(10).await.unwrap();
    assert_eq!(groups.len(), 2);
    let (newest, oldest) = (&groups[0], &groups[1]);
    assert_eq!(
        (newest.fingerprint.as_str(), newest.kind.as_str(), newest.count),
        ("bbb", "panic", 1)
    );
    assert_eq!(newest.sample_user_id, Some(owner));
    assert_eq!(newest.sample_request_id.as_deref(), Some("req-last"));
    assert_eq!((oldest.fingerprint.as_str(), oldest.count), ("aaa", 10));
    assert_eq!(oldest.first_seen.timestamp(), t0.timestamp());
    assert_eq!(store.list_error_groups(1).await.unwrap().len(), 1);
}

pub async fn migrations_go_down_and_up_again_with_data(b: Backend) {
    let store = b.store.as_ref();
    let applied = |list: &[plansmith_store::MigrationInfo]| list.iter().filter(|m| m.applied).count();
    let all = store.migrations().await.unwrap();
    assert!(all.len() >= 7 && applied(&all) == all.len(), "{all:?}");
    let owner = user(store, "migrations").await;
    let (sid, _) = session(store, owner, "Kept through the migrations").await;
    store
        .record_security_event(NewSecurityEvent {
            kind: "sign_in".into(),
            user_id: Some(owner),
            address: None,
            request_id: None,
            outcome: "success".into(),
            detail: None,
        })
        .await
        .unwrap();

    // Down to 3: what 4 and later added is gone, what 1–3 hold is kept.
    let reverted = store.migrate_down(3).await.unwrap();
    assert_eq!(reverted, all.len() - 3);
    let now = store.migrations().await.unwrap();
    assert_eq!(applied(&now), 3, "3 stays applied: {now:?}");
    assert!(now.iter().take(3).all(|m| m.applied));
    assert_eq!(b.scalar("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(b.scalar("SELECT COUNT(*) FROM planning_sessions").await, 1);
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM messages").await,
        1,
        "the session's introduction"
    );

    // Up again: the data is still there and the store works on it.
    store.migrate().await.unwrap();
    assert_eq!(applied(&store.migrations().await.unwrap()), all.len());
    assert!(store.user_by_id(owner).await.unwrap().is_some());
    assert!(store.get_session(owner, sid).await.unwrap().is_some());
    session(store, owner, "Made after going up again").await;

    // Down to nothing and up: an empty, working database.
    store.migrate_down(0).await.unwrap();
    assert_eq!(applied(&store.migrations().await.unwrap()), 0);
    store.migrate().await.unwrap();
    assert!(store.user_by_id(owner).await.unwrap().is_none());
    user(store, "fresh").await;
}

pub async fn flags_are_stored_replaced_listed_and_deleted(b: Backend) {
    let store = b.store.as_ref();
    assert!(store.list_flags().await.unwrap().is_empty());
    let admin = user(store, "flags").await;
    let flag = |key: &str, definition: &str| plansmith_store::StoredFlag {
        key: key.into(),
        definition: definition.into(),
        updated_at: Utc::now(),
        updated_by: Some(admin),
    };
    store.put_flag(flag("b.gallery", r#"{"enabled":false}"#)).await.unwrap();
    store.put_flag(flag("a.workflow", r#"{"enabled":true}"#)).await.unwrap();
    store
        .put_flag(flag("b.gallery", r#"{"enabled":true,"rollout_percent":10}"#))
        .await
        .unwrap();
    let flags = store.list_flags().await.unwrap();
    let keys: Vec<&str> = flags.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["a.workflow", "b.gallery"], "by key, replaced not duplicated");
    assert_eq!(flags[1].definition, r#"{"enabled":true,"rollout_percent":10}"#);
    assert_eq!(flags[1].updated_by, Some(admin));
    assert!(store.delete_flag("b.gallery").await.unwrap());
    assert!(!store.delete_flag("b.gallery").await.unwrap());
    assert_eq!(store.list_flags().await.unwrap().len(), 1);
}

/// Signs with a fixed key id, as the server's keyring does with its current key.
struct TestSigner(&'static str);

impl plansmith_store::audit::AuditSigner for TestSigner {
    fn sign(&self, message: &[u8]) -> (String, String) {
        use sha2::Digest;
        let mac = sha2::Sha256::digest([self.0.as_bytes(), message].concat());
        (self.0.into(), mac.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn verify(&self, key_id: &str, message: &[u8], mac: &str) -> Result<bool, String> {
        match ["k1", "k2"].into_iter().find(|k| *k == key_id) {
            Some(k) => Ok(TestSigner(k).sign(message).1 == mac),
            None => Err(format!("key id '{key_id}' is not configured")),
        }
    }
}

async fn verify_chain(store: &dyn Store, signer: &TestSigner) -> plansmith_store::audit::ChainReport {
    let mut check = plansmith_store::audit::ChainCheck::new(signer, store.audit_checkpoints().await.unwrap()).unwrap();
    let mut after = 0;
    loop {
        let page = store.audit_chain(after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            check.feed(e).unwrap();
        }
    }
    check.finish().unwrap()
}

pub async fn the_audit_chain_holds_under_concurrent_appends_and_prunes_to_a_checkpoint(b: Backend) {
    use plansmith_store::audit::{AuditActor, AuditQuery, CHECKPOINT_EVERY, NewAuditEntry};
    let store = b.store.clone();
    let (alice, bob) = (user(store.as_ref(), "alice").await, user(store.as_ref(), "bob").await);
    let session = SessionId(uuid::Uuid::now_v7());
    let entry = move |who: UserId, action: &str| {
        let mut e = NewAuditEntry::new(AuditActor::User, action);
        e.actor_id = Some(who);
        e.user_id = Some(who);
        e.session_id = (who == alice).then_some(session);
        e.network = Some("127.0.0.0/24".into());
        e
    };
    // Four appenders at once (several instances): one gap-free chain.
    let mut tasks = Vec::new();
    for n in 0..4 {
        let store = Arc::clone(&store);
        let who = if n % 2 == 0 { alice } else { bob };
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let batch = (0..3).map(|_| entry(who, "sessions.read")).collect();
                store
                    .append_audit(batch, Arc::new(TestSigner("k1")), false)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let signer = TestSigner("k1");
    let report = verify_chain(store.as_ref(), &signer).await;
    assert_eq!(
        (report.entries, report.first_seq, report.last_seq),
        (60, Some(1), Some(60))
    );
    assert_eq!(report.checkpoints, 0, "none asked for, none crossed");

    // Filters; newest first; the cursor pages.
    let mine = store
        .audit_entries(&AuditQuery {
            session_id: Some(session),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 30);
    assert!(mine.iter().all(|e| e.entry.user_id == Some(alice)));
    assert!(mine.windows(2).all(|w| w[0].seq > w[1].seq));
    let page = store
        .audit_entries(&AuditQuery {
            user_id: Some(bob),
            before: Some(mine[0].seq),
            limit: 5,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 5);
    assert!(page.iter().all(|e| e.entry.user_id == Some(bob) && e.seq < mine[0].seq));
    let stamp = mine[10].entry.at;
    let until = store
        .audit_entries(&AuditQuery {
            action: Some("sessions.read".into()),
            to: Some(stamp),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(until.iter().all(|e| e.entry.at < stamp), "to is exclusive");
    assert_eq!(mine[5].entry, {
        let read = store.audit_chain(mine[5].seq - 1, 1).await.unwrap();
        read[0].entry.clone()
    });

    // A checkpoint on request, and one where an append crosses CHECKPOINT_EVERY.
    let last = store
        .append_audit(vec![entry(alice, "sessions.update")], Arc::new(TestSigner("k1")), true)
        .await
        .unwrap();
    assert_eq!(last, 61);
    let big: Vec<_> = (0..CHECKPOINT_EVERY).map(|_| entry(bob, "sessions.read")).collect();
    store
        .append_audit(big, Arc::new(TestSigner("k1")), false)
        .await
        .unwrap();
    let checkpoints = store.audit_checkpoints().await.unwrap();
    assert_eq!(
        checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [61, 61 + CHECKPOINT_EVERY]
    );
    assert_eq!(
        verify_chain(store.as_ref(), &signer).await.entries,
        61 + CHECKPOINT_EVERY as u64
    );

    // Retention: everything up to the newest checkpoint taken before the cut goes; the chain
    // then verifies from that checkpoint.
    let cut = Utc::now() + ChronoDuration::seconds(1);
    let pruned = store.prune_audit(cut).await.unwrap();
    assert_eq!(pruned, 61 + CHECKPOINT_EVERY as u64);
    store
        .append_audit(vec![entry(alice, "sessions.read")], Arc::new(TestSigner("k1")), false)
        .await
        .unwrap();
    let report = verify_chain(store.as_ref(), &signer).await;
    assert_eq!((report.entries, report.first_seq), (1, Some(62 + CHECKPOINT_EVERY)));
    assert_eq!(
        store.prune_audit(Utc::now() - ChronoDuration::days(1)).await.unwrap(),
        0
    );

    // Rotation re-signs every checkpoint with the new key.
    assert_eq!(
        store
            .resign_audit_checkpoints(Arc::new(TestSigner("k2")))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .audit_checkpoints()
            .await
            .unwrap()
            .iter()
            .all(|c| c.key_id == "k2")
    );
    verify_chain(store.as_ref(), &signer).await;
}

pub async fn incident_notices_reach_their_recipients_and_record_read_receipts(b: Backend) {
    use plansmith_store::incidents::NewIncident;
    let store = b.store.as_ref();
    let (ana, ben, cy) = (
        user(store, "ana").await,
        user(store, "ben").await,
        user(store, "cy").await,
    );
    let at = Utc::now();
    let notice = |user_ids: Option<Vec<UserId>>| NewIncident {
        id: uuid::Uuid::now_v7(),
        severity: "sev2".into(),
        title: "Replies were delayed".into(),
        body: "Replies took up to ten minutes between 10:00 and 10:40 UTC.".into(),
        user_ids,
        created_by: Some(ana),
        at,
    };
    // Listed accounts only (an unknown id is skipped); everyone.
    let some = notice(Some(vec![ben, UserId(uuid::Uuid::now_v7())]));
    let recipients = store.create_incident(some.clone()).await.unwrap();
    assert_eq!(recipients.iter().map(|(u, _)| *u).collect::<Vec<_>>(), [ben]);
    let all = notice(None);
    let everyone = store.create_incident(all.clone()).await.unwrap();
    assert_eq!(everyone.len(), 3);

    store.incident_notified(some.id, &[ben], at).await.unwrap();
    assert!(store.read_incident(some.id, ben, at).await.unwrap());
    let later = at + ChronoDuration::minutes(5);
    assert!(
        store.read_incident(some.id, ben, later).await.unwrap(),
        "again: still addressed"
    );
    assert!(!store.read_incident(some.id, cy, at).await.unwrap(), "not cy's");

    let (incident, recipients) = store.incident(some.id).await.unwrap().unwrap();
    assert_eq!(incident.audience, "users");
    assert_eq!(
        (incident.recipient_count, incident.notified_count, incident.read_count),
        (1, 1, 1)
    );
    assert_eq!(recipients[0].user_id, ben);
    let read_at = recipients[0].read_at.unwrap();
    assert!((read_at - at).num_milliseconds().abs() < 1000, "the first read counts");
    assert!(store.incident(uuid::Uuid::now_v7()).await.unwrap().is_none());

    let listed = store.list_incidents(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().find(|i| i.id == all.id).unwrap().audience, "all");
    let bens = store.user_incidents(ben, at - ChronoDuration::days(1)).await.unwrap();
    assert_eq!(bens.len(), 2);
    assert!(bens.iter().find(|i| i.id == some.id).unwrap().read_at.is_some());
    assert_eq!(
        store
            .user_incidents(cy, at - ChronoDuration::days(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .user_incidents(cy, at + ChronoDuration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A past session is written whole with its own times: the conversation in order, its
/// documents' first revisions, ratings and survey; its messages make the time-to-plan. A batch
/// with a session in error, or an id already taken, writes nothing.
pub async fn past_sessions_are_written_whole_with_their_feedback(b: Backend) {
    use chrono::TimeZone;
    use plansmith_domain::{MessageId, MessageRole};
    use plansmith_store::history::{PastDocument, PastMessage, PastSession};
    use plansmith_store::quality::{DocumentRating, SessionSurvey};
    let store = b.store.as_ref();
    let owner = user(store, "past").await;
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2019, 3, 10, h, m, 0).unwrap();
    let id = SessionId::new();
    let (brief, prd) = (DocumentId::new(), DocumentId::new());
    let said = |role: MessageRole, text: &str, when| PastMessage {
        id: MessageId::new(),
        role,
        step_id: "brief".into(),
        content: text.into(),
        provider: (role == MessageRole::Assistant).then(|| "anthropic".into()),
        model: (role == MessageRole::Assistant).then(|| "claude-x".into()),
        at: when,
    };
    let (user_says, agent_says) = (MessageRole::User, MessageRole::Assistant);
    let past = PastSession {
        id,
        user: owner,
        workflow_id: "product-plan".into(),
        title: "Clinic queue".into(),
        idea: "Patients wait at home".into(),
        status: SessionStatus::Completed,
        current_step: None,
        completed_steps: 1,
        created_at: at(10, 0),
        updated_at: at(13, 40),
        completed_at: Some(at(13, 30)),
        // Active time: the gaps of 30 minutes or less, 5 + 1 + 14 + 1 + 1 = 22 minutes.
        messages: vec![
            said(agent_says, "Welcome", at(10, 0)),
            said(user_says, "Receptionists juggle calls", at(10, 5)),
            said(agent_says, "Drafted the summary", at(10, 6)),
            said(user_says, "Patients and clinics", at(10, 20)),
            said(agent_says, "Drafted the problem", at(10, 21)),
            said(user_says, "Works on any phone", at(13, 21)),
            said(agent_says, "Done", at(13, 22)),
        ],
        documents: vec![
            PastDocument {
                id: brief,
                step_id: "brief".into(),
                title: "Project brief".into(),
                sections: vec![
                    ("summary".into(), "Patients wait at home.".into()),
                    ("problem".into(), "Crowded waiting rooms.".into()),
                ],
                at: at(13, 30),
            },
            PastDocument {
                id: prd,
                step_id: "prd".into(),
                title: "PRD".into(),
                sections: vec![],
                at: at(10, 0),
            },
        ],
        ratings: vec![DocumentRating {
            document: brief,
            session: id,
            user: owner,
            rating: 4,
            useful: true,
            comment: Some("Clear".into()),
            at: at(13, 35),
        }],
        survey: Some(SessionSurvey {
            session: id,
            user: owner,
            csat: 5,
            hours_without: 10.0,
            comment: None,
            at: at(13, 40),
        }),
    };
    store.import_sessions(vec![past.clone()]).await.unwrap();

    let session = store.get_session(owner, id).await.unwrap().unwrap();
    assert_eq!(
        (session.status, session.completed_steps, session.current_step.clone()),
        (SessionStatus::Completed, 1, None)
    );
    assert_eq!(
        (session.created_at, session.completed_at, session.first_message_at),
        (at(10, 0), Some(at(13, 30)), Some(at(10, 5)))
    );
    assert_eq!(session.sections_filled, 2);
    let messages = store.list_messages(id).await.unwrap();
    let seen: Vec<_> = messages
        .iter()
        .map(|m| (m.seq, m.role, m.content.as_str(), m.created_at, m.status))
        .collect();
    let expected: Vec<_> = past
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| (i as i64 + 1, m.role, m.content.as_str(), m.at, MessageStatus::Complete))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(messages[2].model.as_deref(), Some("claude-x"));
    let docs = store.current_documents(id).await.unwrap();
    let seen: Vec<_> = docs
        .iter()
        .map(|d| (d.id, d.revision, d.content.section("problem")))
        .collect();
    assert_eq!(
        seen,
        vec![(brief, Revision(1), "Crowded waiting rooms."), (prd, Revision(0), "")]
    );
    let feedback = store.session_feedback(id, owner).await.unwrap();
    assert_eq!(feedback.ratings, past.ratings);
    assert_eq!(feedback.survey, past.survey);
    let someone_else = user(store, "past-other").await;
    assert_eq!(
        store.session_feedback(id, someone_else).await.unwrap(),
        Default::default()
    );

    let sums = store.quality_sums(at(0, 0), at(23, 0)).await.unwrap();
    let by_model: Vec<_> = sums.by_model.iter().map(|g| (g.group.clone(), g.ratings)).collect();
    assert_eq!(by_model, vec![(vec!["anthropic".to_owned(), "claude-x".to_owned()], 1)]);
    let measure = |name: &str| {
        sums.time_to_plan
            .iter()
            .find(|q| q.measure == name)
            .map(|q| (q.sessions, (q.p50 * 60.0).round() as i64))
    };
    assert_eq!(measure("elapsed"), Some((1, 210)), "{:?}", sums.time_to_plan);
    assert_eq!(measure("active"), Some((1, 22)), "{:?}", sums.time_to_plan);
    assert_eq!(measure("saved"), Some((1, 578)), "{:?}", sums.time_to_plan);

    // A batch is written whole or not at all.
    let fresh = |title: &str| {
        let mut s = past.clone();
        s.id = SessionId::new();
        s.title = title.into();
        s.messages.iter_mut().for_each(|m| m.id = MessageId::new());
        s.documents.iter_mut().for_each(|d| d.id = DocumentId::new());
        s.ratings.clear();
        s.survey = None;
        s
    };
    let good = fresh("Good");
    let mut late = fresh("Out of order");
    late.messages.swap(1, 2);
    let refused = store.import_sessions(vec![good.clone(), late]).await;
    assert!(
        matches!(refused, Err(StoreError::Integrity(ref m)) if m.contains("oldest first")),
        "{refused:?}"
    );
    let mut taken = fresh("Taken");
    taken.id = id;
    let refused = store.import_sessions(vec![good.clone(), taken]).await;
    assert!(matches!(refused, Err(StoreError::Duplicate)), "{refused:?}");
    assert!(
        store.get_session(owner, good.id).await.unwrap().is_none(),
        "nothing of a refused batch"
    );
    store.import_sessions(vec![good.clone()]).await.unwrap();
    assert_eq!(store.list_messages(good.id).await.unwrap().len(), 7);
}
