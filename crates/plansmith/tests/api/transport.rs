//! The listener and the links: HTTPS with a certificate reloaded on SIGHUP, the limits on slow,
//! idle and too many connections, the request timeout (streams excepted), and PostgreSQL and
//! Redis over TLS, each against a real server with certificates made here.

use crate::helpers::{serve, signal, spawn_with};
use plansmith_server::{Application, Overrides};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A certificate authority of its own, so clients trust exactly what a test says.
struct Ca(CertifiedIssuer<'static, KeyPair>);

/// A server certificate for 127.0.0.1 and localhost, with its key.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    fn pem(&self) -> String {
        self.0.as_ref().pem()
    }

    fn leaf(&self) -> Leaf {
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// An HTTPS client trusting this authority only, reporting the peer's certificate.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()])
            .tls_info(true)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
}

impl Leaf {
    /// Writes `NAME.crt` and `NAME.key` (owner-only, as servers require of keys).
    fn write(&self, dir: &Path, name: &str) -> (String, String) {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        (cert.display().to_string(), key.display().to_string())
    }
}

/// The certificate the server at `base` presents to a new client (one without a session to
/// resume: a resumed session shows the certificate of its first handshake).
async fn served_certificate(ca: &Ca, base: &str) -> Vec<u8> {
    let response = ca.client().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a peer certificate").to_vec()
}

#[tokio::test]
async fn https_serves_the_configured_certificate_with_hsts_and_secure_cookies() {
    let certs = tempfile::TempDir::new().unwrap();
    let ca = Ca::new("Plansmith test CA");
    let leaf = ca.leaf();
    let (cert, key) = leaf.write(certs.path(), "server");
    let mut app = spawn_with(
        |s| {
            s.http.tls_cert = Some(cert);
            s.http.tls_key = Some(key);
        },
        Overrides::default(),
    )
    .await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    app.client = ca.client();
    assert_eq!(served_certificate(&ca, &app.base).await, leaf.der);

    let response = app.client.get(app.url("/api/v1/workflows")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains",
        "HSTS is on by default when the server serves TLS"
    );
    let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-plansmith_session=") && cookie.contains("; Secure"),
        "the sign-in cookie is Secure over TLS, even on loopback: {cookie}"
    );

    let plain = app.base.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new().get(format!("{plain}/healthz")).send().await;
    assert!(
        refused.is_err(),
        "plain HTTP is not answered on the TLS port: {refused:?}"
    );
    let stranger = Ca::new("Another CA").client();
    let untrusted = stranger.get(app.url("/healthz")).send().await;
    assert!(untrusted.is_err(), "a client that does not trust the certificate stops");
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_naming_the_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let ca = Ca::new("Plansmith test CA");
    let (cert, key) = ca.leaf().write(dir.path(), "server");
    let (_, other_key) = ca.leaf().write(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let garbage = garbage.display().to_string();
    let missing = dir.path().join("missing.key").display().to_string();
    let cases = [
        (
            cert.clone(),
            missing.clone(),
            vec![missing.as_str(), "http.tls_key", "No such file"],
        ),
        (
            garbage.clone(),
            key.clone(),
            vec![garbage.as_str(), "http.tls_cert", "BEGIN CERTIFICATE"],
        ),
        (
            cert.clone(),
            garbage.clone(),
            vec![garbage.as_str(), "http.tls_key", "PRIVATE KEY"],
        ),
        (
            cert.clone(),
            other_key.clone(),
            vec![other_key.as_str(), cert.as_str(), "does not belong"],
        ),
    ];
    for (cert, key, expected) in cases {
        let mut settings = crate::helpers::test_settings(dir.path());
        settings.http.tls_cert = Some(cert.clone());
        settings.http.tls_key = Some(key.clone());
        let Err(error) = Application::build(settings).await else {
            panic!("{cert} with {key} started");
        };
        let message = error.to_string();
        for part in expected {
            assert!(message.contains(part), "{cert} with {key}: `{part}` not in: {message}");
        }
    }
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.http.tls_cert = Some(cert);
    let Err(error) = Application::build(settings).await else {
        panic!("a certificate without its key started");
    };
    assert!(error.to_string().contains("set both"), "{error}");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_a_failed_reload_keeps_the_one_in_use() {
    let dir = tempfile::TempDir::new().unwrap();
    let ca = Ca::new("Plansmith test CA");
    let first = ca.leaf();
    let (cert, key) = first.write(dir.path(), "tls");
    let env = [
        ("PLANSMITH_HTTP__TLS_CERT", cert.as_str()),
        ("PLANSMITH_HTTP__TLS_KEY", key.as_str()),
    ];
    let mut server = serve(dir.path(), &env).await;
    let base = server.app.base.clone();
    assert!(base.starts_with("https://"), "{base}");
    assert_eq!(served_certificate(&ca, &base).await, first.der);

    let renewed = ca.leaf();
    renewed.write(dir.path(), "tls");
    assert_eq!(
        served_certificate(&ca, &base).await,
        first.der,
        "new files alone change nothing"
    );
    signal(&server.child, "-HUP").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while served_certificate(&ca, &base).await != renewed.der {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is served after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    signal(&server.child, "-HUP").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "a failed reload does not stop the server"
    );
    assert_eq!(
        served_certificate(&ca, &base).await,
        renewed.der,
        "the certificate in use stays"
    );
    signal(&server.child, "-TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The address of an app on plain HTTP.
fn address(base: &str) -> &str {
    base.strip_prefix("http://").expect("plain HTTP")
}

/// Whether the server closed the connection within `wait` (an answer fails the test).
async fn closed_within(tcp: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    match tokio::time::timeout(wait, tcp.read(&mut buffer)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!("the server answered: {}", String::from_utf8_lossy(&buffer[..n])),
        Err(_) => false,
    }
}

/// Sends a GET and reads its whole answer (by its Content-Length); returns the status line.
async fn exchange(tcp: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buffer))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before the answer was whole");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        if received.len() >= end + 4 + length {
            return text.lines().next().unwrap().to_owned();
        }
    }
}

#[tokio::test]
async fn a_slow_client_sending_headers_a_byte_a_second_is_cut_off() {
    let app = spawn_with(|s| s.http.header_read_timeout_seconds = 2, Overrides::default()).await;
    let addr = address(&app.base);
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n";
    let mut sent = 0;
    let mut cut = false;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        sent += 1;
        if closed_within(&mut slow, Duration::from_secs(1)).await {
            cut = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(cut, "the whole head went through, a byte a second");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5),
        "cut after {elapsed:?} and {sent} of {} bytes",
        head.len()
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(1)).await,
        "a connection that sends nothing is closed too"
    );
    let mut prompt = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut prompt, "/healthz").await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_time_not_the_header_time() {
    let app = spawn_with(
        |s| {
            s.http.header_read_timeout_seconds = 1;
            s.http.keep_alive_idle_seconds = 3;
        },
        Overrides::default(),
    )
    .await;
    let mut tcp = TcpStream::connect(address(&app.base)).await.unwrap();
    assert_eq!(exchange(&mut tcp, "/healthz").await, "HTTP/1.1 200 OK");
    assert!(
        !closed_within(&mut tcp, Duration::from_secs(2)).await,
        "idle longer than the header time, still open"
    );
    assert_eq!(exchange(&mut tcp, "/healthz").await, "HTTP/1.1 200 OK");
    let answered = Instant::now();
    assert!(
        closed_within(&mut tcp, Duration::from_secs(6)).await,
        "closed when idle"
    );
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(2900) && idle < Duration::from_millis(4500),
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_with(|s| s.http.max_connections = 2, Overrides::default()).await;
    let addr = address(&app.base);
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut first, "/healthz").await, "HTTP/1.1 200 OK");
    assert_eq!(exchange(&mut second, "/healthz").await, "HTTP/1.1 200 OK");
    let mut third = TcpStream::connect(addr).await.expect("queued in the listen backlog");
    let waiting = tokio::spawn(async move {
        let line = exchange(&mut third, "/healthz").await;
        (line, Instant::now())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection is not served while two are open"
    );
    let closed = Instant::now();
    drop(first);
    let (line, answered) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(line, "HTTP/1.1 200 OK");
    assert!(answered - closed < Duration::from_secs(2));
    assert_eq!(
        exchange(&mut second, "/healthz").await,
        "HTTP/1.1 200 OK",
        "open ones keep working"
    );
}

#[tokio::test]
async fn a_slow_request_answers_unavailable_but_a_longer_reply_stream_is_not_cut() {
    let slow = axum::Router::new().route(
        "/api/v1/test/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "too late"
        }),
    );
    let app = spawn_with(
        |s| {
            s.http.request_timeout_seconds = 1;
            s.llm.offline.tokens_per_second = 100.0;
        },
        Overrides {
            routes: Some(slow),
            ..Overrides::default()
        },
    )
    .await;
    let started = Instant::now();
    let response = app.client.get(app.url("/api/v1/test/slow")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(
        body["error"]["message"],
        "The server did not finish this request within 1 seconds."
    );
    assert_eq!(body["error"]["request_id"], request_id.as_str());

    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &session, "draft the rest").await;
    let started = Instant::now();
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    let lasted = started.elapsed();
    assert_eq!(events.last().unwrap().event, "done", "the stream ends by itself");
    assert!(
        lasted > Duration::from_secs(2),
        "the stream outlasted the request timeout ({lasted:?})"
    );
}

/// A port nothing listens on at the moment.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A program of PostgreSQL's, from the newest installed version (Debian's layout) or the PATH.
fn postgres_program(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

/// A command run as the `postgres` user when the tests run as root (PostgreSQL refuses root).
fn as_postgres_user(program: &Path) -> tokio::process::Command {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return tokio::process::Command::new(program);
    }
    // setpriv replaces itself with the program, so the child is the server itself.
    let mut command = tokio::process::Command::new("setpriv");
    command
        .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
        .arg(program);
    command
}

/// A PostgreSQL cluster of its own on a spare port that accepts only TLS connections.
struct TlsPostgres {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsPostgres {
    async fn start(server: &Leaf) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let (cert, key) = server.write(dir.path(), "server");
        let data = dir.path().join("data");
        if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
            let chown = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let initdb = as_postgres_user(&postgres_program("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--locale=C",
                "--encoding=UTF8",
            ])
            .output()
            .await
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        // TLS or nothing: a plain connection finds no entry.
        std::fs::write(data.join("pg_hba.conf"), "hostssl all all 127.0.0.1/32 trust\n").unwrap();
        let port = free_port();
        let child = as_postgres_user(&postgres_program("postgres"))
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args([
                "-c",
                "ssl=on",
                "-c",
                &format!("ssl_cert_file={cert}"),
                "-c",
                &format!("ssl_key_file={key}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL with TLS did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, port, _dir: dir }
    }

    fn url(&self, query: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?{query}", self.port)
    }
}

impl Drop for TlsPostgres {
    /// A fast shutdown (SIGINT), waited for: killed outright, the server would leave its
    /// shared memory segment behind.
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_certificate() {
    let ca = Ca::new("Database CA");
    let db = TlsPostgres::start(&ca.leaf()).await;
    let certs = tempfile::TempDir::new().unwrap();
    let root = ca.write(certs.path(), "db-ca").display().to_string();
    let stranger = Ca::new("Another CA")
        .write(certs.path(), "other-ca")
        .display()
        .to_string();
    let mut settings = crate::helpers::test_settings(certs.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    settings.database.url = db.url(&format!("sslmode=verify-full&sslrootcert={root}"));
    let store = loop {
        match plansmith_server::open_store(&settings, true).await {
            Ok(store) => break store,
            // Accepting connections a moment before it accepts logins.
            Err(e) if Instant::now() < deadline && e.to_string().contains("starting up") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("verify-full with the right CA: {e}"),
        }
    };
    assert!(store.ping().await.is_ok());
    let pg = plansmith_store_postgres::PgStore::connect(&settings.database.url, &Default::default())
        .await
        .unwrap();
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert!(encrypted, "the connection is encrypted");

    settings.database.url = db.url("sslmode=require");
    assert!(
        plansmith_server::open_store(&settings, false).await.is_ok(),
        "require encrypts without checking the certificate"
    );
    for (query, expected) in [
        (format!("sslmode=verify-full&sslrootcert={stranger}"), "certificate"),
        ("sslmode=disable".to_owned(), "no encryption"),
    ] {
        settings.database.url = db.url(&query);
        settings.database.acquire_timeout_ms = 2_000;
        let Err(error) = plansmith_server::open_store(&settings, false).await else {
            panic!("{query} connected");
        };
        let message = error.to_string().to_lowercase();
        assert!(message.contains(expected), "{query}: {message}");
    }
}

#[tokio::test]
async fn rediss_connects_to_a_redis_with_tls_and_checks_its_certificate() {
    let dir = tempfile::TempDir::new().unwrap();
    let ca = Ca::new("Cache CA");
    let (cert, key) = ca.leaf().write(dir.path(), "redis");
    let root = ca.write(dir.path(), "cache-ca").display().to_string();
    let port = free_port();
    let _redis = tokio::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &root,
        ])
        .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (built with TLS) is installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "Redis with TLS did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("rediss://127.0.0.1:{port}");
    // What /readyz says of Redis, once it says it (or after 5 s).
    async fn redis_check(app: &crate::helpers::TestApp, expected: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, body) = app.json(Method::GET, "/readyz", None, None).await;
            if body["checks"]["redis"] == expected || Instant::now() >= deadline {
                return body["checks"]["redis"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The Redis client trusts the system's roots; SSL_CERT_FILE names them.
    let trusted = serve(
        dir.path(),
        &[("PLANSMITH_REDIS_URL", url.as_str()), ("SSL_CERT_FILE", root.as_str())],
    )
    .await;
    assert_eq!(redis_check(&trusted.app, "up").await, "up");
    let token = trusted.app.user().await;
    assert_eq!(trusted.app.get("/api/v1/me", &token).await.0, StatusCode::OK);
    drop(trusted);

    let stranger = Ca::new("Another CA")
        .write(dir.path(), "other-ca")
        .display()
        .to_string();
    let distrusting = serve(
        dir.path(),
        &[
            ("PLANSMITH_REDIS_URL", url.as_str()),
            ("SSL_CERT_FILE", stranger.as_str()),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        redis_check(&distrusting.app, "down").await,
        "down",
        "a Redis whose certificate is not trusted is not used"
    );
}
