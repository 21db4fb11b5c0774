//! The cache traits behave the same in-process, on one Redis node and on a Redis Cluster.
//! Redis is `PLANSMITH_TEST_REDIS_URL` (default 127.0.0.1:6379) and the Cluster's seed nodes
//! `PLANSMITH_TEST_REDIS_CLUSTER_NODES` (default 127.0.0.1:7101-7103); `scripts/test` starts
//! both when they are not running.

use futures::StreamExt;
use plansmith_cache::{
    InProcessRateLimiter, InProcessSessionCache, InProcessStreamLog, RateLimiter, RedisConn, RedisRateLimiter,
    RedisSessionCache, RedisStreamLog, RedisTarget, SessionCache, StreamEvent, StreamLog,
};
use plansmith_domain::{MessageId, MessageStatus, ReplyEvent, RestartReason};
use std::sync::Arc;
use std::time::Duration;

fn node() -> RedisTarget {
    RedisTarget::Node(std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
}

fn cluster() -> RedisTarget {
    let nodes = std::env::var("PLANSMITH_TEST_REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".into());
    RedisTarget::Cluster(nodes.split(',').map(str::to_owned).collect())
}

/// A connection that has answered a ping, or a panic that says how to get one.
async fn connect(target: RedisTarget) -> RedisConn {
    let conn = RedisConn::open(&target).expect("valid address");
    if let Err(e) = conn.ping().await {
        panic!("Redis is not reachable at {target:?} ({e}); start it (scripts/test does) or set the test variables");
    }
    conn
}

/// A key no other test (or earlier run) uses.
fn fresh(name: &str) -> String {
    format!("test:{name}:{}", uuid::Uuid::now_v7().simple())
}

async fn counts_hits_and_blocks_until_the_window_ends(limiter: Arc<dyn RateLimiter>) {
    let key = fresh("window");
    let window = Duration::from_millis(600);
    assert_eq!(limiter.blocked_for(&key, 3).await.unwrap(), None, "no hits yet");
    for expected in 1..=3 {
        assert_eq!(limiter.hit(&key, window).await.unwrap(), expected);
    }
    let left = limiter
        .blocked_for(&key, 3)
        .await
        .unwrap()
        .expect("blocked at the limit");
    assert!(left > Duration::ZERO && left <= window, "{left:?}");
    assert_eq!(
        limiter.blocked_for(&key, 4).await.unwrap(),
        None,
        "a higher limit still has room"
    );
    tokio::time::sleep(window + Duration::from_millis(150)).await;
    assert_eq!(limiter.blocked_for(&key, 3).await.unwrap(), None, "the window ended");
    assert_eq!(limiter.hit(&key, window).await.unwrap(), 1, "a new window starts");
}

async fn reset_clears_a_counter(limiter: Arc<dyn RateLimiter>) {
    let (key, other) = (fresh("reset"), fresh("other"));
    limiter.hit(&key, Duration::from_secs(60)).await.unwrap();
    limiter.hit(&key, Duration::from_secs(60)).await.unwrap();
    limiter.hit(&other, Duration::from_secs(60)).await.unwrap();
    limiter.reset(&key).await.unwrap();
    assert_eq!(limiter.blocked_for(&key, 1).await.unwrap(), None);
    assert_eq!(limiter.hit(&key, Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(
        limiter.hit(&other, Duration::from_secs(60)).await.unwrap(),
        2,
        "other keys keep counting"
    );
}

async fn concurrent_hits_are_each_counted(limiter: Arc<dyn RateLimiter>) {
    let key = fresh("concurrent");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (limiter, key) = (Arc::clone(&limiter), key.clone());
            tokio::spawn(async move { limiter.hit(&key, Duration::from_secs(60)).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u32>>(), "every hit got its own count");
}

/// 50 concurrent attempts at a limit of 5: exactly 5 are taken, the rest are told when the
/// window ends; a returned attempt can be taken again.
async fn concurrent_attempts_take_at_most_the_limit(limiter: Arc<dyn RateLimiter>) {
    let key = fresh("take");
    let window = Duration::from_secs(60);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (limiter, key) = (Arc::clone(&limiter), key.clone());
            tokio::spawn(async move { limiter.take(&key, 5, window).await.unwrap() })
        })
        .collect();
    let mut refused = Vec::new();
    for task in tasks {
        if let Some(wait) = task.await.unwrap() {
            refused.push(wait);
        }
    }
    assert_eq!(refused.len(), 45, "exactly the limit was taken");
    assert!(
        refused.iter().all(|w| *w > Duration::ZERO && *w <= window),
        "{refused:?}"
    );
    limiter.give_back(&key).await.unwrap();
    assert_eq!(limiter.take(&key, 5, window).await.unwrap(), None, "a returned attempt");
    assert!(limiter.take(&key, 5, window).await.unwrap().is_some());
    let short = fresh("take-window");
    assert_eq!(limiter.take(&short, 1, Duration::from_millis(300)).await.unwrap(), None);
    assert!(
        limiter
            .take(&short, 1, Duration::from_millis(300))
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        limiter.take(&short, 1, Duration::from_millis(300)).await.unwrap(),
        None,
        "a new window"
    );
}

/// After the free attempts every attempt waits for a pause that doubles, up to the maximum.
async fn paced_attempts_wait_longer_each_time(limiter: Arc<dyn RateLimiter>) {
    let key = fresh("paced");
    let (window, max_pause) = (Duration::from_secs(60), Duration::from_secs(2));
    for _ in 0..2 {
        assert_eq!(limiter.take_paced(&key, 3, window, max_pause).await.unwrap(), None);
    }
    // The third (last free) attempt goes; a pause of 1 s follows it.
    assert_eq!(limiter.take_paced(&key, 3, window, max_pause).await.unwrap(), None);
    let wait = limiter
        .take_paced(&key, 3, window, max_pause)
        .await
        .unwrap()
        .expect("paused after the free attempts");
    assert!(
        wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(limiter.take_paced(&key, 3, window, max_pause).await.unwrap(), None);
    let wait = limiter
        .take_paced(&key, 3, window, max_pause)
        .await
        .unwrap()
        .expect("a longer pause");
    assert!(
        wait > Duration::from_millis(1500) && wait <= max_pause,
        "doubled: {wait:?}"
    );
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(limiter.take_paced(&key, 3, window, max_pause).await.unwrap(), None);
    let wait = limiter
        .take_paced(&key, 3, window, max_pause)
        .await
        .unwrap()
        .expect("paused");
    assert!(wait <= max_pause, "never above the maximum: {wait:?}");
    // A returned attempt takes its pause with it.
    limiter.give_back(&key).await.unwrap();
    assert_eq!(limiter.take_paced(&key, 3, window, max_pause).await.unwrap(), None);
    // Concurrent attempts during a pause are all refused.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (limiter, key) = (Arc::clone(&limiter), key.clone());
            tokio::spawn(async move { limiter.take_paced(&key, 3, window, max_pause).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_some());
    }
}

/// Holds fit in the capacity by weight, are given back on release, lapse without renewal and
/// stay while renewed; concurrent holders never exceed the capacity.
async fn holds_fit_the_capacity_and_lapse_unless_renewed(limiter: Arc<dyn RateLimiter>) {
    let key = fresh("hold");
    let long = Duration::from_secs(60);
    assert!(limiter.hold(&key, "a", 3, 5, long).await.unwrap());
    assert!(limiter.hold(&key, "b", 2, 5, long).await.unwrap());
    assert!(!limiter.hold(&key, "c", 1, 5, long).await.unwrap(), "full");
    assert!(
        limiter.hold(&key, "a", 2, 5, long).await.unwrap(),
        "a hold's weight is replaced"
    );
    assert!(limiter.hold(&key, "c", 1, 5, long).await.unwrap());
    limiter.release(&key, "b").await.unwrap();
    assert!(
        limiter.hold(&key, "d", 2, 5, long).await.unwrap(),
        "a release gives room"
    );

    let short = fresh("lapse");
    let ttl = Duration::from_millis(400);
    assert!(limiter.hold(&short, "kept", 1, 2, ttl).await.unwrap());
    assert!(limiter.hold(&short, "lost", 1, 2, ttl).await.unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        limiter.renew(&short, &["kept".to_owned()], ttl).await.unwrap();
    }
    // "lost" lapsed (its holder died); "kept" is still held.
    assert!(limiter.hold(&short, "new", 1, 2, ttl).await.unwrap());
    assert!(!limiter.hold(&short, "more", 1, 2, ttl).await.unwrap());
    limiter.renew(&short, &["lost".to_owned()], ttl).await.unwrap();
    assert!(
        !limiter.hold(&short, "more", 1, 2, ttl).await.unwrap(),
        "a lapsed hold is not renewed"
    );

    let crowded = fresh("crowded");
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let (limiter, key) = (Arc::clone(&limiter), crowded.clone());
            tokio::spawn(async move { limiter.hold(&key, &format!("h{n}"), 1, 7, long).await.unwrap() })
        })
        .collect();
    let mut held = 0;
    for task in tasks {
        held += usize::from(task.await.unwrap());
    }
    assert_eq!(held, 7);
}

async fn cached_values_are_read_replaced_invalidated_and_expire(cache: Arc<dyn SessionCache>) {
    let key = fresh("owner");
    assert_eq!(cache.get(&key).await.unwrap(), None);
    cache.put(&key, "user-1".into()).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some("user-1"));
    cache.put(&key, "user-2".into()).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some("user-2"));
    cache.invalidate(&key).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap(), None);
    cache.put(&key, "user-3".into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        cache.get(&key).await.unwrap(),
        None,
        "entries expire after the cache's ttl"
    );
}

fn token(text: &str) -> ReplyEvent {
    ReplyEvent::Token { text: text.into() }
}

fn done(reply: uuid::Uuid) -> ReplyEvent {
    ReplyEvent::Done {
        reply_id: MessageId(reply),
        status: MessageStatus::Complete,
    }
}

fn names(events: &[StreamEvent]) -> Vec<(u64, &'static str)> {
    events.iter().map(|e| (e.id, e.event.name())).collect()
}

async fn followers_replay_then_go_live_and_end_at_done(log: Arc<dyn StreamLog>) {
    let reply = uuid::Uuid::now_v7();
    log.open(reply, 0).await.unwrap();
    assert_eq!(log.append(reply, token("a")).await.unwrap(), 1);
    assert_eq!(log.append(reply, token("b")).await.unwrap(), 2);
    let from_start = log.follow(reply, 0).await.unwrap().expect("an open log");
    let resumed = log.follow(reply, 1).await.unwrap().expect("an open log");
    let writer = Arc::clone(&log);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append(reply, token("c")).await.unwrap();
        writer.append(reply, done(reply)).await.unwrap();
    });
    let within = |f| tokio::time::timeout(Duration::from_secs(10), f);
    let all: Vec<StreamEvent> = within(from_start.collect()).await.expect("the log closes");
    assert_eq!(names(&all), [(1, "token"), (2, "token"), (3, "token"), (4, "done")]);
    assert_eq!(all[2].event, token("c"));
    let rest: Vec<StreamEvent> = within(resumed.collect()).await.expect("the log closes");
    assert_eq!(
        names(&rest),
        [(2, "token"), (3, "token"), (4, "done")],
        "resumed after event 1"
    );
    assert_eq!(
        log.events(reply).await.unwrap().unwrap(),
        all,
        "the whole log, in order"
    );
}

async fn a_retry_continues_numbering_and_old_errors_do_not_end_followers(log: Arc<dyn StreamLog>) {
    let reply = uuid::Uuid::now_v7();
    log.open(reply, 0).await.unwrap();
    log.append(reply, token("x")).await.unwrap();
    let error = ReplyEvent::Error {
        code: "failed".into(),
        message: "Try again".into(),
    };
    assert_eq!(log.append(reply, error).await.unwrap(), 2);
    log.open(reply, 2).await.unwrap();
    let restart = ReplyEvent::Restart {
        reason: RestartReason::Retry,
    };
    assert_eq!(log.append(reply, restart).await.unwrap(), 3);
    let follower = log.follow(reply, 0).await.unwrap().unwrap();
    log.append(reply, token("y")).await.unwrap();
    log.append(reply, done(reply)).await.unwrap();
    let got: Vec<StreamEvent> = tokio::time::timeout(Duration::from_secs(10), follower.collect())
        .await
        .expect("the log closes");
    assert_eq!(
        names(&got),
        [(1, "token"), (2, "error"), (3, "restart"), (4, "token"), (5, "done")]
    );
}

async fn a_follower_resuming_after_the_closing_event_ends(log: Arc<dyn StreamLog>) {
    let reply = uuid::Uuid::now_v7();
    log.open(reply, 0).await.unwrap();
    log.append(reply, token("a")).await.unwrap();
    // Resumed past the end of a reply still being written (a client's wrong Last-Event-ID).
    let ahead = log.follow(reply, 9).await.unwrap().expect("an open log");
    assert_eq!(log.append(reply, done(reply)).await.unwrap(), 2);
    let rest: Vec<StreamEvent> = tokio::time::timeout(Duration::from_secs(10), ahead.collect())
        .await
        .expect("ends once the log closes");
    assert!(rest.is_empty(), "{rest:?}");
    // Resumed at or after the closing event of a finished reply: ends at once.
    for after in [2, 9] {
        let follower = log.follow(reply, after).await.unwrap().expect("a closed log is held");
        let rest: Vec<StreamEvent> = tokio::time::timeout(Duration::from_secs(1), follower.collect())
            .await
            .unwrap_or_else(|_| panic!("a follower after event {after} of a closed log waits for nothing"));
        assert!(rest.is_empty(), "{rest:?}");
    }
}

async fn a_reopened_log_numbers_after_the_saved_events(log: Arc<dyn StreamLog>) {
    // After the log expired, a retry reopens it after the last event the database kept.
    let reply = uuid::Uuid::now_v7();
    log.open(reply, 7).await.unwrap();
    assert_eq!(log.append(reply, token("z")).await.unwrap(), 8);
    log.open(reply, 3).await.unwrap();
    assert_eq!(log.append(reply, token("z")).await.unwrap(), 9, "numbers never go back");
}

async fn unknown_logs_are_none_and_closed_logs_expire(log: Arc<dyn StreamLog>) {
    let reply = uuid::Uuid::now_v7();
    assert!(log.follow(reply, 0).await.unwrap().is_none());
    assert!(log.events(reply).await.unwrap().is_none());
    log.open(reply, 0).await.unwrap();
    log.append(reply, done(reply)).await.unwrap();
    log.expire(reply, Duration::from_millis(100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(log.events(reply).await.unwrap().is_none(), "expired");
    // An expiry set before a retry reopened the log leaves the reopened log alone.
    let again = uuid::Uuid::now_v7();
    log.open(again, 0).await.unwrap();
    log.append(again, done(again)).await.unwrap();
    log.expire(again, Duration::from_millis(100)).await.unwrap();
    log.open(again, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(log.events(again).await.unwrap().is_some(), "a reopened log stays");
}

const CACHE_TTL: Duration = Duration::from_millis(400);

macro_rules! on_every_backend {
    ($($test:ident: $make:ident),* $(,)?) => {$(
        mod $test {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                super::$test($make::in_process()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$test($make::redis(node()).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_cluster() {
                super::$test($make::redis(cluster()).await).await;
            }
        }
    )*};
}

mod limiter {
    use super::*;
    pub fn in_process() -> Arc<dyn RateLimiter> {
        Arc::new(InProcessRateLimiter::new())
    }
    pub async fn redis(target: RedisTarget) -> Arc<dyn RateLimiter> {
        Arc::new(RedisRateLimiter::new(connect(target).await))
    }
}

mod stream_log {
    use super::*;
    pub fn in_process() -> Arc<dyn StreamLog> {
        Arc::new(InProcessStreamLog::new())
    }
    pub async fn redis(target: RedisTarget) -> Arc<dyn StreamLog> {
        Arc::new(RedisStreamLog::new(connect(target).await))
    }
}

mod cache {
    use super::*;
    pub fn in_process() -> Arc<dyn SessionCache> {
        Arc::new(InProcessSessionCache::new(1000, CACHE_TTL))
    }
    pub async fn redis(target: RedisTarget) -> Arc<dyn SessionCache> {
        Arc::new(RedisSessionCache::new(connect(target).await, CACHE_TTL))
    }
}

on_every_backend!(
    counts_hits_and_blocks_until_the_window_ends: limiter,
    reset_clears_a_counter: limiter,
    concurrent_hits_are_each_counted: limiter,
    concurrent_attempts_take_at_most_the_limit: limiter,
    paced_attempts_wait_longer_each_time: limiter,
    holds_fit_the_capacity_and_lapse_unless_renewed: limiter,
    cached_values_are_read_replaced_invalidated_and_expire: cache,
    followers_replay_then_go_live_and_end_at_done: stream_log,
    a_retry_continues_numbering_and_old_errors_do_not_end_followers: stream_log,
    a_follower_resuming_after_the_closing_event_ends: stream_log,
    a_reopened_log_numbers_after_the_saved_events: stream_log,
    unknown_logs_are_none_and_closed_logs_expire: stream_log,
);

/// A reply written through one instance's connection is followed live through another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_written_on_one_instance_is_followed_on_another() {
    for target in [node(), cluster()] {
        let writer = RedisStreamLog::new(connect(target.clone()).await);
        let reader = RedisStreamLog::new(connect(target).await);
        let reply = uuid::Uuid::now_v7();
        writer.open(reply, 0).await.unwrap();
        writer.append(reply, token("first")).await.unwrap();
        let follower = reader
            .follow(reply, 0)
            .await
            .unwrap()
            .expect("visible on the other instance");
        let live = tokio::spawn(async move { follower.collect::<Vec<_>>().await });
        for n in 0..20 {
            writer.append(reply, token(&format!("t{n}"))).await.unwrap();
        }
        writer.append(reply, done(reply)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), live)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 22);
        assert!(got.windows(2).all(|w| w[1].id == w[0].id + 1), "no gap, no duplicate");
        assert_eq!(got.last().unwrap().event, done(reply));
    }
}

/// What one instance counts, every instance sees: two connections, one counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_their_counters_and_cache() {
    for target in [node(), cluster()] {
        let (a, b) = (connect(target.clone()).await, connect(target).await);
        let key = fresh("shared");
        RedisRateLimiter::new(a.clone())
            .hit(&key, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            RedisRateLimiter::new(b.clone())
                .hit(&key, Duration::from_secs(60))
                .await
                .unwrap(),
            2
        );
        RedisSessionCache::new(a, Duration::from_secs(60))
            .put(&key, "owner".into())
            .await
            .unwrap();
        let seen = RedisSessionCache::new(b, Duration::from_secs(60))
            .get(&key)
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("owner"));
    }
}

/// Unreachable Redis is an error the caller can act on, soon, not a hang or a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_unavailable_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for target in [
        RedisTarget::Node(format!("redis://127.0.0.1:{port}")),
        RedisTarget::Cluster(vec![format!("redis://127.0.0.1:{port}")]),
    ] {
        let conn = RedisConn::open(&target).expect("a valid address opens without connecting");
        let started = std::time::Instant::now();
        let limiter = RedisRateLimiter::new(conn);
        let outcome = limiter.hit("anything", Duration::from_secs(1)).await;
        assert!(
            matches!(outcome, Err(plansmith_cache::CacheError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    }
}

/// An append sent again with its token (its answer was lost) is not appended twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_resent_with_its_token_is_appended_once() {
    for target in [node(), cluster()] {
        let log = RedisStreamLog::new(connect(target).await);
        let reply = uuid::Uuid::now_v7();
        log.open(reply, 0).await.unwrap();
        let first = log.append_once(reply, token("a"), 11).await.unwrap();
        assert_eq!(
            log.append_once(reply, token("a"), 11).await.unwrap(),
            first,
            "the same id"
        );
        let second = log.append_once(reply, token("a"), 12).await.unwrap();
        assert_eq!(second, first + 1, "the same text with a new token is a new event");
        let events = log.events(reply).await.unwrap().unwrap();
        assert_eq!(events.len(), 2);
    }
}
