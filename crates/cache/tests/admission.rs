//! Model admission limits behave the same counted in the process and shared through Redis (one
//! node, and a Redis Cluster): several `Admission`s — one per instance, each with its own queue
//! and, on Redis, its own connection — take requests, tokens, concurrency slots and user slots
//! from one set of limits. On Redis, slots are leases: renewed while a call runs, back by
//! themselves when their instance dies. Redis is found as in `conformance.rs`.

use plansmith_cache::{RedisAdmission, RedisConn, RedisTarget};
use plansmith_llm::{Admission, AdmissionBackend, Busy, Caller, InProcessAdmission, Limits, Permit, QueueSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn node() -> RedisTarget {
    RedisTarget::Node(std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
}

fn cluster() -> RedisTarget {
    let nodes = std::env::var("PLANSMITH_TEST_REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".into());
    RedisTarget::Cluster(nodes.split(',').map(str::to_owned).collect())
}

async fn connect(target: &RedisTarget) -> RedisConn {
    let conn = RedisConn::open(target).expect("valid address");
    if let Err(e) = conn.ping().await {
        panic!("Redis is not reachable at {target:?} ({e}); start it (scripts/test does) or set the test variables");
    }
    conn
}

/// One target's limits, as every instance sees them.
#[derive(Clone)]
enum Backend {
    InProcess(Arc<InProcessAdmission>),
    Redis { target: RedisTarget, name: String },
}

impl Backend {
    fn in_process() -> Self {
        Self::InProcess(Arc::new(InProcessAdmission::new()))
    }

    /// A target name no other test (or earlier run) uses.
    fn redis(target: RedisTarget) -> Self {
        let name = format!("test-{}", uuid::Uuid::now_v7().simple());
        Self::Redis { target, name }
    }

    /// The limits as one more instance sees them: the same counts in the process, or a
    /// connection of its own to the same keys in Redis.
    async fn instance(&self) -> Arc<dyn AdmissionBackend> {
        match self {
            Self::InProcess(shared) => Arc::clone(shared) as Arc<dyn AdmissionBackend>,
            Self::Redis { target, name } => Arc::new(RedisAdmission::new(connect(target).await, name)),
        }
    }

    /// One instance's admission: its own queue in front of the shared limits.
    async fn admission(&self, limits: Limits, queue: QueueSettings) -> Arc<Admission> {
        Admission::with_backend(limits, queue, self.instance().await)
    }
}

fn caller(user: &str, paid: bool, ticket: &str) -> Caller {
    Caller {
        user: user.into(),
        paid,
        ticket: ticket.into(),
    }
}

fn queue(max_wait: Duration, per_user: u32) -> QueueSettings {
    QueueSettings {
        max_length: 1000,
        max_wait,
        per_user_concurrency: per_user,
    }
}

async fn get(admission: &Arc<Admission>, user: &str, tokens: u64) -> Result<Permit, Busy> {
    admission.acquire(caller(user, false, user), tokens).await
}

/// Waits until the calls of `users` (and all calls) have given back their slots: a released
/// slot comes back at once in the process, within moments on Redis; a leaked one never (or
/// only after its lease, far beyond this wait).
async fn settles(admission: &Admission, users: &[&str]) {
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for user in users {
            let usage = admission.usage(user).await.unwrap();
            if usage.in_flight > 0 || usage.user_in_flight > 0 {
                held.push((user.to_string(), usage));
            }
        }
        if held.is_empty() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "slots still held: {held:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn paid_before_free_and_fifo_within_a_class(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(1),
        ..Default::default()
    };
    let admission = backend.admission(limits, QueueSettings::default()).await;
    let first = get(&admission, "a", 0).await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (name, paid) in [("free1", false), ("free2", false), ("paid1", true), ("paid2", true)] {
        let (admission, order) = (Arc::clone(&admission), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let permit = admission.acquire(caller(name, paid, name), 0).await.unwrap();
            order.lock().unwrap().push(name);
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(permit);
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(admission.position("free1"), Some(3));
    assert_eq!(admission.position("paid1"), Some(1));
    drop(first);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["paid1", "paid2", "free1", "free2"]);
}

async fn a_full_queue_refuses_at_once_and_waits_are_bounded(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(1),
        ..Default::default()
    };
    let queue = QueueSettings {
        max_length: 1,
        max_wait: Duration::from_millis(150),
        per_user_concurrency: 5,
    };
    let admission = backend.admission(limits, queue).await;
    let _held = get(&admission, "a", 0).await.unwrap();
    let waiting = {
        let admission = Arc::clone(&admission);
        tokio::spawn(async move { get(&admission, "b", 0).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(admission.is_full());
    let started = Instant::now();
    assert!(get(&admission, "c", 0).await.is_err());
    assert!(started.elapsed() < Duration::from_millis(20), "refused at once");
    assert!(waiting.await.unwrap().is_err(), "gave up after the maximum wait");
    assert_eq!(admission.depth(), 0);
    assert_eq!(admission.usage("b").await.unwrap().user_in_flight, 0);
}

/// Two instances with 600 requests/min each (a burst of 10, then 10/s) ask for 60 calls over
/// 1.5 s: together they get one instance's share, about 25, not 50.
async fn requests_per_minute_are_shared_by_instances(backend: Backend) {
    let limits = Limits {
        requests_per_minute: Some(600),
        ..Default::default()
    };
    let window = Duration::from_millis(1500);
    let instances = [
        backend.admission(limits, queue(window, 1000)).await,
        backend.admission(limits, queue(window, 1000)).await,
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, admission) in instances.iter().enumerate() {
        for i in 0..30 {
            let admission = Arc::clone(admission);
            tasks.push(tokio::spawn(async move {
                (n, get(&admission, &format!("u{n}-{i}"), 0).await.is_ok())
            }));
        }
    }
    let mut granted = [0; 2];
    for task in tasks {
        let (n, ok) = task.await.unwrap();
        granted[n] += usize::from(ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = granted[0] + granted[1];
    let most = 10.0 + 10.0 * elapsed + 1.0;
    assert!(
        (total as f64) <= most,
        "{granted:?} granted in {elapsed:.2} s: more than one bucket allows ({most:.0})"
    );
    assert!(total >= 18, "{granted:?} granted in {elapsed:.2} s: the bucket refills");
    assert!(granted.iter().all(|&n| n > 0), "both instances are served: {granted:?}");
}

/// Tokens are borrowed at the estimate and the difference comes back (or is taken) when the
/// call reports what it used — on whichever instance asks next.
async fn tokens_are_borrowed_and_reconciled_across_instances(backend: Backend) {
    // 600 tokens/min: a bucket of 10, refilling one token per 100 ms.
    let limits = Limits {
        tokens_per_minute: Some(600),
        ..Default::default()
    };
    let a = backend.admission(limits, queue(Duration::from_millis(200), 100)).await;
    let b = backend.admission(limits, queue(Duration::from_millis(200), 100)).await;
    let mut first = get(&a, "a", 10).await.unwrap();
    let left = a.usage("a").await.unwrap().tokens.unwrap();
    assert!(left < 1.0, "the estimate is borrowed: {left} left");
    assert!(
        get(&b, "b", 8).await.is_err(),
        "the other instance finds the bucket empty"
    );
    first.reconcile(2);
    // Eight came back: the other instance gets them at once.
    let started = Instant::now();
    let mut second = loop {
        // On Redis the tokens come back in a moment, not inline.
        match get(&b, "b", 8).await {
            Ok(permit) => break permit,
            Err(_) if started.elapsed() < Duration::from_millis(150) => {}
            Err(busy) => panic!("the returned tokens are not there: {busy}"),
        }
    };
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // A call that used more than it borrowed leaves the bucket in debt.
    second.reconcile(30);
    let started = Instant::now();
    loop {
        let left = b.usage("b").await.unwrap().tokens.unwrap();
        if left < -15.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{left} left after a call used 22 more"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop((first, second));
}

async fn max_concurrency_is_shared_by_instances(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(2),
        ..Default::default()
    };
    let a = backend.admission(limits, queue(Duration::from_millis(300), 10)).await;
    let b = backend.admission(limits, queue(Duration::from_secs(3), 10)).await;
    let one = get(&a, "a1", 0).await.unwrap();
    let _two = get(&a, "a2", 0).await.unwrap();
    assert_eq!(b.usage("b").await.unwrap().in_flight, 2, "seen from the other instance");
    let short = backend.admission(limits, queue(Duration::from_millis(300), 10)).await;
    assert!(
        get(&short, "b", 0).await.is_err(),
        "both slots are taken, on another instance"
    );
    let waiting = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { get(&b, "b", 0).await.map(|_| Instant::now()) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    let freed = Instant::now();
    drop(one);
    let granted = waiting.await.unwrap().expect("a freed slot goes to the other instance");
    assert!(granted - freed < Duration::from_millis(500), "{:?}", granted - freed);
}

async fn the_per_user_cap_is_global(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(10),
        ..Default::default()
    };
    let a = backend.admission(limits, queue(Duration::from_millis(300), 1)).await;
    let b = backend.admission(limits, queue(Duration::from_millis(300), 1)).await;
    let mine = get(&a, "u", 0).await.unwrap();
    assert!(
        get(&b, "u", 0).await.is_err(),
        "the user's one call runs on the other instance"
    );
    let other = tokio::time::timeout(Duration::from_millis(100), get(&b, "v", 0)).await;
    assert!(other.is_ok_and(|p| p.is_ok()), "another user gets in at once");
    let started = Instant::now();
    let waiting = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { get(&b, "u", 0).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(mine);
    waiting.await.unwrap().expect("the user's slot is free again");
    assert!(started.elapsed() < Duration::from_millis(300));
}

/// The slot goes to a waiter that is not being polled; it stops waiting (its wait ran out, or
/// its reply was abandoned) before or after it sees the grant, or while the grant is being
/// made: the slot, the request and the tokens all come back.
async fn a_grant_to_a_request_that_stopped_waiting_is_given_back(backend: Backend) {
    // 600 tokens/min: a bucket of 10, refilling one token per 100 ms.
    let limits = Limits {
        max_concurrency: Some(1),
        tokens_per_minute: Some(600),
        ..Default::default()
    };
    for pause in [0, 1, 3, 50] {
        let admission = backend.admission(limits, QueueSettings::default()).await;
        settles(&admission, &["a", "b"]).await;
        // A full bucket (the last round's tokens came back, or it refills).
        while admission.usage("a").await.unwrap().tokens.unwrap() < 9.99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let held = get(&admission, "a", 0).await.unwrap();
        let mut waiting = Box::pin(get(&admission, "b", 10));
        assert!(futures::poll!(&mut waiting).is_pending());
        drop(held);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        drop(waiting);
        settles(&admission, &["a", "b"]).await;
        assert_eq!(admission.depth(), 0);
        let left = admission.usage("b").await.unwrap().tokens.unwrap();
        assert!(left > 9.0, "after {pause} ms: {left} tokens left");
        let next = tokio::time::timeout(Duration::from_millis(200), get(&admission, "c", 10)).await;
        let Ok(Ok(mut next)) = next else {
            panic!("after {pause} ms: the next request gets the slot and the tokens");
        };
        next.reconcile(0);
    }
}

async fn a_request_that_stops_waiting_leaves_the_queue_at_once(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(1),
        tokens_per_minute: Some(600),
        ..Default::default()
    };
    let admission = backend.admission(limits, QueueSettings::default()).await;
    let held = get(&admission, "a", 1).await.unwrap();
    let mut waiting = Box::pin(admission.acquire(caller("b", false, "2"), 5));
    assert!(futures::poll!(&mut waiting).is_pending());
    assert_eq!(admission.position("2"), Some(1));
    drop(waiting);
    assert_eq!(admission.depth(), 0);
    assert_eq!(admission.position("2"), None);
    drop(held);
    settles(&admission, &["a", "b"]).await;
    let left = admission.usage("b").await.unwrap().tokens.unwrap();
    assert!(
        left >= 8.9,
        "nobody was granted anything for the abandoned request: {left} left"
    );
}

/// Many short waits on four instances race grants, time-outs and releases: afterwards no slot
/// is held and nobody waits.
async fn racing_waits_and_releases_leave_nothing_behind(backend: Backend) {
    let limits = Limits {
        max_concurrency: Some(2),
        tokens_per_minute: Some(6_000_000),
        ..Default::default()
    };
    let mut instances = Vec::new();
    for max_wait in [1, 3, 10, 200] {
        let admission = backend
            .admission(limits, queue(Duration::from_millis(max_wait), 100))
            .await;
        admission.usage("u0").await.unwrap(); // connected: waits are not spent connecting
        instances.push(admission);
    }
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let admission = Arc::clone(&instances[i % instances.len()]);
            tokio::spawn(async move {
                let Ok(mut permit) = get(&admission, &format!("u{}", i % 7), 10).await else {
                    return false;
                };
                // Held a moment: 300 calls through 2 slots take far longer than the shortest
                // waits, so some run out of time however the tasks are scheduled.
                tokio::time::sleep(Duration::from_millis(2)).await;
                permit.reconcile(10);
                true
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.unwrap());
    }
    // Some got in, others ran out of time: both sides of the race happened.
    assert!(granted > 0 && granted < 300, "{granted} of 300 granted");
    let users: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    for admission in &instances {
        settles(admission, &users).await;
        assert_eq!(admission.depth(), 0);
    }
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                super::$test(Backend::in_process()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$test(Backend::redis(node())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_cluster() {
                super::$test(Backend::redis(cluster())).await;
            }
        }
    )*};
}

on_every_backend!(
    paid_before_free_and_fifo_within_a_class,
    a_full_queue_refuses_at_once_and_waits_are_bounded,
    requests_per_minute_are_shared_by_instances,
    tokens_are_borrowed_and_reconciled_across_instances,
    max_concurrency_is_shared_by_instances,
    the_per_user_cap_is_global,
    a_grant_to_a_request_that_stopped_waiting_is_given_back,
    a_request_that_stops_waiting_leaves_the_queue_at_once,
    racing_waits_and_releases_leave_nothing_behind,
);

/// An instance that dies holding a slot (killed: nothing released, nothing renewed) gives it
/// back when its lease expires — also while other instances keep renewing theirs; a live one
/// keeps its slots by renewing them.
async fn leases_expire_with_their_instance_and_last_while_it_lives(target: RedisTarget) {
    const LEASE: Duration = Duration::from_millis(400);
    let name = format!("test-{}", uuid::Uuid::now_v7().simple());
    let limits = Limits {
        max_concurrency: Some(2),
        ..Default::default()
    };
    let instance = move |conn: RedisConn| -> Arc<dyn AdmissionBackend> {
        Arc::new(RedisAdmission::new(conn, &name).with_lease(LEASE))
    };
    let survivor = Admission::with_backend(
        limits,
        queue(Duration::from_secs(3), 5),
        instance(connect(&target).await),
    );

    // Live calls outlast several lease times: they keep their slots.
    let live = Admission::with_backend(
        limits,
        queue(Duration::from_secs(1), 5),
        instance(connect(&target).await),
    );
    let running = get(&live, "a", 0).await.unwrap();
    let other = get(&live, "b", 0).await.unwrap();
    let impatient = Admission::with_backend(limits, queue(LEASE * 3, 5), instance(connect(&target).await));
    assert!(
        get(&impatient, "c", 0).await.is_err(),
        "running calls' leases are renewed"
    );
    drop(other);
    while survivor.usage("b").await.unwrap().in_flight > 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // An instance (its own runtime, connection and renewal task) dies holding the other slot,
    // while `running` goes on renewing its own.
    let dead_target = target.clone();
    let dead = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let admission = Admission::with_backend(
                limits,
                queue(Duration::from_secs(1), 5),
                instance(connect(&dead_target).await),
            );
            std::mem::forget(get(&admission, "dead", 0).await.unwrap());
        });
    });
    dead.join().unwrap();
    let died = Instant::now();
    assert_eq!(survivor.usage("dead").await.unwrap().in_flight, 2);
    let _third = get(&survivor, "c", 0)
        .await
        .expect("the dead instance's slot comes back");
    let waited = died.elapsed();
    assert!(
        waited >= LEASE / 2 && waited < LEASE + Duration::from_millis(600),
        "the slot came back after {waited:?} (lease {LEASE:?})"
    );
    let usage = survivor.usage("dead").await.unwrap();
    assert_eq!((usage.in_flight, usage.user_in_flight), (2, 0), "{usage:?}");
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_with_their_instance_and_last_while_it_lives_on_redis() {
    leases_expire_with_their_instance_and_last_while_it_lives(node()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_with_their_instance_and_last_while_it_lives_on_a_redis_cluster() {
    leases_expire_with_their_instance_and_last_while_it_lives(cluster()).await;
}

/// Unreachable Redis grants nothing: requests keep waiting (asking again) until the maximum
/// wait, then are refused as busy — no panic, no unlimited admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_keeps_requests_waiting_then_busy() {
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
        let admission = Admission::with_backend(
            Limits::default(),
            queue(Duration::from_millis(600), 5),
            Arc::new(RedisAdmission::new(conn, "unreachable")),
        );
        let started = Instant::now();
        let outcome = get(&admission, "a", 0).await;
        let waited = started.elapsed();
        assert!(outcome.is_err(), "{target:?}: granted without Redis");
        assert!(
            waited >= Duration::from_millis(550) && waited < Duration::from_secs(2),
            "{target:?}: refused after {waited:?}"
        );
        assert_eq!(admission.depth(), 0);
    }
}
