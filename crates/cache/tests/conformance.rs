//! The cache traits behave the same in-process, on one Redis node and on a Redis Cluster.
//! Redis is `PLANSMITH_TEST_REDIS_URL` (default 127.0.0.1:6379) and the Cluster's seed nodes
//! `PLANSMITH_TEST_REDIS_CLUSTER_NODES` (default 127.0.0.1:7101-7103); `scripts/test` starts
//! both when they are not running.

use plansmith_cache::{
    InProcessRateLimiter, InProcessSessionCache, RateLimiter, RedisConn, RedisRateLimiter, RedisSessionCache,
    RedisTarget, SessionCache,
};
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
    cached_values_are_read_replaced_invalidated_and_expire: cache,
);

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
