//! The database going away and coming back: requests in between get a clear 503 with
//! Retry-After, and service resumes without a restart. A small TCP proxy between the server
//! and PostgreSQL plays the network.

use crate::helpers::spawn_with;
use crate::testdb::TestDb;
use plansmith_server::Overrides;
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy that can cut every connection through it and refuse new ones, then let them
/// through again.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub(crate) async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (target, accept_up, accept_links) = (target.to_owned(), up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused in effect
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accept_links.lock().unwrap().push(link);
            }
        });
        Self { addr, up, links }
    }

    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_recovers_without_restart() {
    let db = TestDb::create().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let url = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = spawn_with(
        move |s| {
            s.database.url = url;
            s.database.acquire_timeout_ms = 1500;
            s.database.min_connections = 1;
        },
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    app.session(&token, "quick-brief").await;

    proxy.cut();
    let started = std::time::Instant::now();
    let response = app
        .client
        .get(app.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a clear answer, not a hang"
    );
    assert_eq!(response.headers()["retry-after"], "5");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(!body.to_string().contains("5432"), "no connection details leak: {body}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let mut recovered = false;
    for _ in 0..20 {
        let response = app
            .client
            .get(app.url("/api/v1/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["items"].as_array().unwrap().len(), 1, "nothing was lost");
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the server serves again once the database is back");
}
