//! Several real processes: two `plansmith serve` instances on one PostgreSQL database and one
//! Redis. A reply whose instance is killed (`kill -9`) or stopped (SIGTERM, handed over at the
//! end of its grace period) completes through the other instance, and a client following it
//! there reads on: a `restart`, then the new text, ids always increasing. The instances share
//! one provider rate limit.

use crate::helpers::{Server, Sse, read_events, serve, signal, text_of};
use crate::testdb::TestDb;
use serde_json::json;
use std::time::{Duration, Instant};

fn redis_url() -> String {
    std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cluster_nodes() -> String {
    std::env::var("PLANSMITH_TEST_REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".into())
}

/// One instance of a pair: on the shared database and Redis, named `name`.
async fn instance(
    dir: &std::path::Path,
    db: &TestDb,
    redis: (&str, &str),
    name: &str,
    extra: &[(&str, &str)],
) -> Server {
    let mut env = vec![
        ("PLANSMITH_DATABASE_URL", db.url.as_str()),
        redis,
        ("PLANSMITH_GENERATION__INSTANCE_ID", name),
        ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "100"),
    ];
    env.extend_from_slice(extra);
    serve(dir, &env).await
}

/// Follows a reply on `server` from the start until it closes, in the background.
fn follow(server: &Server, url: &str, token: &str) -> tokio::task::JoinHandle<(Vec<Sse>, Vec<Instant>)> {
    let (app, url, token) = (server.app.clone_remote(), url.to_owned(), token.to_owned());
    tokio::spawn(async move {
        let response = app.open_stream(&url, &token, None).await;
        crate::helpers::read_events_timed(response, usize::MAX).await
    })
}

fn assert_increasing(events: &[Sse]) {
    for pair in events.windows(2) {
        assert!(pair[1].id > pair[0].id, "event ids keep increasing: {pair:?}");
    }
}

async fn a_killed_instance_s_reply_completes_through_the_other(redis: (&str, &str)) {
    let dir = tempfile::TempDir::new().unwrap();
    let db = TestDb::create().await;
    // Short in the suite; the recorded drill runs it with the default (10 s).
    let lease_seconds = std::env::var("PLANSMITH_TEST_TAKEOVER_LEASE_SECONDS").unwrap_or_else(|_| "2".into());
    let lease = [("PLANSMITH_GENERATION__LEASE_SECONDS", lease_seconds.as_str())];
    let mut a = instance(dir.path(), &db, redis, "instance-a:1", &lease).await;
    let b_settings = [lease[0], ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "1000")];
    let b = instance(dir.path(), &db, redis, "instance-b:1", &b_settings).await;
    let token = a.app.user().await;
    let sid = a.app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = a.app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    let reply = sent["reply"]["id"].as_str().unwrap().to_owned();

    // A client follows the reply on B while A generates it; A dies mid-reply.
    let follower = follow(&b, &url, &token);
    let seen = read_events(b.app.open_stream(&url, &token, None).await, 5).await;
    signal(&a.child, "-KILL").await;
    let killed = Instant::now();
    a.child.wait().await.unwrap();

    let (events, at) = tokio::time::timeout(Duration::from_secs(90), follower)
        .await
        .expect("the reply completes after the takeover")
        .unwrap();
    assert_increasing(&events);
    let restart = events
        .iter()
        .position(|e| e.event == "restart")
        .expect("a restart marks the takeover");
    assert_eq!(events[restart].data["reason"], json!("instance_lost"));
    assert!(events[restart].id > seen.last().unwrap().id);
    assert_eq!(events.last().unwrap().event, "done");
    println!(
        "kill -9 to the first event after the takeover: {} ms (lease {lease_seconds} s)",
        at[restart].duration_since(killed).as_millis()
    );

    let done = b.app.wait_reply(&token, &sid, &reply).await;
    assert_eq!(done["status"], "complete");
    let content = done["content"].as_str().unwrap();
    assert_eq!(
        text_of(&events),
        content,
        "the saved reply is the text after the restart"
    );
    // A client that saw the start before the crash resumes by Last-Event-ID on B.
    let resumed = b.app.stream_all(&url, &token, Some(seen.last().unwrap().id)).await;
    assert_increasing(&resumed);
    assert_eq!(text_of(&resumed), content);
    let (_, session) = b.app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(
        session["sections_filled"].as_u64().unwrap() > 0,
        "committed once, with its sections"
    );
    let (_, revisions) = b.app.get(&format!("/api/v1/sessions/{sid}/documents"), &token).await;
    assert_eq!(
        revisions["items"][0]["revision"], 1,
        "one revision: the reply was committed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_reply_completes_through_the_other_on_redis() {
    let url = redis_url();
    a_killed_instance_s_reply_completes_through_the_other(("PLANSMITH_REDIS_URL", &url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_reply_completes_through_the_other_on_a_redis_cluster() {
    let nodes = cluster_nodes();
    a_killed_instance_s_reply_completes_through_the_other(("PLANSMITH_REDIS_CLUSTER_NODES", &nodes)).await;
}

/// SIGTERM with a reply still running at the end of the grace period: its lease is released
/// and the other instance takes it over at its next sweep, well before the lease would have run
/// out by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_hands_its_replies_over() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = TestDb::create().await;
    let url = redis_url();
    let redis = ("PLANSMITH_REDIS_URL", url.as_str());
    let settings = [
        ("PLANSMITH_GENERATION__LEASE_SECONDS", "9"),
        ("PLANSMITH_SHUTDOWN__GRACE_SECONDS", "0.5"),
    ];
    let mut a = instance(dir.path(), &db, redis, "instance-a:1", &settings).await;
    let b_settings = [settings[0], ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "1000")];
    let b = instance(dir.path(), &db, redis, "instance-b:1", &b_settings).await;
    let token = a.app.user().await;
    let sid = a.app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = a.app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    let follower = follow(&b, &url, &token);
    read_events(b.app.open_stream(&url, &token, None).await, 3).await;
    signal(&a.child, "-TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(15), a.child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "exit code 0 after SIGTERM, got {status}");
    let exited = Instant::now();

    let (events, at) = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("the reply completes after the hand-over")
        .unwrap();
    assert_increasing(&events);
    let restart = events.iter().position(|e| e.event == "restart").expect("taken over");
    let waited = at[restart].saturating_duration_since(exited);
    assert!(
        waited < Duration::from_secs(5),
        "taken over at the next sweep ({waited:?}), not when the 9 s lease ran out"
    );
    assert_eq!(events.last().unwrap().event, "done");
    let done = b
        .app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(done["status"], "complete");
    assert_eq!(text_of(&events), done["content"].as_str().unwrap());
}

/// With `requests_per_minute = 30` on a provider and both instances holding a backlog, the
/// provider sees one instance's share (30 a minute), not each instance's: the bucket lives in
/// Redis. Counted over a steady window after the first requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_provider_rate_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock_addr = listener.local_addr().unwrap();
    let options = plansmith_mock_llm::MockOptions {
        time_to_first_token: Duration::from_millis(20),
        tokens_per_second: 2000.0,
        reply_tokens: 20,
        ..plansmith_mock_llm::MockOptions::default()
    };
    let (router, stats) = plansmith_mock_llm::router(options);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("plansmith.toml");
    std::fs::write(
        &config,
        format!(
            "[[llm.providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"http://{mock_addr}/v1\"\n\
             model = \"gpt-4o-mini\"\nrequests_per_minute = 30\n\
             [llm]\nroute = [\"mock\"]\n[llm.queue]\nmax_wait_seconds = 300\nper_user_concurrency = 100\n\
             [limits]\nqueued_replies_per_user = 100\n"
        ),
    )
    .unwrap();
    let db = TestDb::create().await;
    let url = redis_url();
    let redis = ("PLANSMITH_REDIS_URL", url.as_str());
    let config = [("PLANSMITH_CONFIG", config.to_str().unwrap())];
    let a = instance(dir.path(), &db, redis, "instance-a:1", &config).await;
    let b = instance(dir.path(), &db, redis, "instance-b:1", &config).await;
    // A backlog on each instance: more replies than a minute's requests.
    for server in [&a, &b] {
        let token = server.app.user().await;
        for n in 0..20 {
            let sid = server.app.session(&token, "quick-brief").await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            server.app.say(&token, &sid, &format!("Idea number {n}")).await;
        }
    }
    let (steady, window) = (Duration::from_secs(4), Duration::from_secs(16));
    let started = Instant::now();
    while stats.arrivals().is_empty() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(steady + window + Duration::from_millis(200)).await;
    let counted = stats
        .arrivals()
        .iter()
        .filter(|at| **at >= steady && **at < steady + window)
        .count();
    // One bucket of 30 a minute allows 8 in 16 s; two would allow 16. (Fewer than 8 happen on a
    // busy machine: the instances are slow to come back for the next request.)
    assert!(
        (3..=10).contains(&counted),
        "the provider saw {counted} requests in {window:?} from two instances at 30 a minute shared"
    );
}

/// Follows a reply in the background and keeps the highest event id seen.
fn watch(app: &crate::helpers::TestApp, url: &str, token: &str) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    use futures::StreamExt;
    let last = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (app, url, token, seen) = (app.clone_remote(), url.to_owned(), token.to_owned(), last.clone());
    tokio::spawn(async move {
        let mut body = app.open_stream(&url, &token, None).await.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            for line in String::from_utf8_lossy(&chunk).lines() {
                if let Some(id) = line.strip_prefix("id:").and_then(|v| v.trim().parse::<u64>().ok()) {
                    seen.fetch_max(id, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    });
    last
}

/// Another instance claims a reply this instance is generating (as when this one stopped
/// renewing for a lease): at its next renewal this instance stops generating it and writes
/// nothing more for it, and only the new holder's commit lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_whose_lease_is_taken_stops_and_cannot_commit() {
    use plansmith_domain::MessageId;
    use plansmith_store::{FinishedReply, Lease, OrphanClaim};
    use std::sync::atomic::Ordering;
    let app = crate::helpers::spawn_with(
        |s| {
            s.generation.lease_seconds = 1;
            s.generation.instance_id = Some("holder:1".into());
            s.llm.offline.tokens_per_second = 100.0;
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let store = plansmith_server::app::open_store(&app.settings, false).await.unwrap();
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let reply = MessageId(sent["reply"]["id"].as_str().unwrap().parse().unwrap());
    let last = watch(&app, url, &token);
    while last.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(store.release_leases("holder:1", &[reply]).await.unwrap(), 1);
    let thief = Lease {
        owner: "thief:1".into(),
        duration: Duration::from_secs(60),
    };
    let claim = OrphanClaim {
        lease: thief,
        own_previous: false,
        regenerate: true,
        limit: 10,
    };
    // A claim skips a reply whose row is locked at that instant (the holder writing a
    // checkpoint), as a sweep does; the next try takes it.
    let mut claimed = Vec::new();
    for _ in 0..50 {
        claimed = store.claim_orphans(&claim).await.unwrap();
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(claimed.iter().map(|o| o.reply.id).collect::<Vec<_>>(), [reply]);
    // The holder renews every third of a second: within a second it has stopped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = last.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        last.load(Ordering::SeqCst),
        stopped_at,
        "no event from the old holder after it lost the lease"
    );
    let finished = FinishedReply {
        reply_id: reply,
        owner: "thief:1".into(),
        provider: "offline".into(),
        model: "m".into(),
        content: "Written by the new holder.".into(),
        events: "[]".into(),
        updates: Vec::new(),
        call: None,
    };
    store.start_reply(reply, "thief:1", "offline", "m").await.unwrap();
    store.finish_reply(finished).await.unwrap();
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    let saved = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == sent["reply"]["id"])
        .unwrap()
        .clone();
    assert_eq!(
        (saved["status"].as_str(), saved["content"].as_str()),
        (Some("complete"), Some("Written by the new holder."))
    );
}
