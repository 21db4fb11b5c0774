//! Email: password reset and email verification by single-use links, new sign-in notices and
//! the outbox listed for admins. Mails go over real SMTP to a small sink server in the test.

use crate::helpers::{TestApp, spawn_with};
use plansmith_server::Settings;
use plansmith_server::config::BudgetSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const PASSWORD: &str = "correct horse battery";

/// A mail as the sink received it: the envelope's recipients and the message (headers and body).
#[derive(Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The message text with quoted-printable soft breaks and escapes undone.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "");
        let mut out = String::new();
        let mut chars = joined.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '=' {
                let hex: String = chars.clone().take(2).collect();
                if hex.len() == 2
                    && let Ok(byte) = u8::from_str_radix(&hex, 16)
                {
                    out.push(byte as char);
                    chars.next();
                    chars.next();
                    continue;
                }
            }
            out.push(c);
        }
        out
    }

    /// The token of the first link with `?token=` in the text.
    pub fn token(&self) -> String {
        let text = self.text();
        let start = text.find("token=").expect("a link with a token") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// An SMTP server on 127.0.0.1 that accepts every mail and hands it to the test.
pub struct SmtpSink {
    pub url: String,
    mails: mpsc::UnboundedReceiver<Mail>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let (tx, mails) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, tx.clone()));
            }
        });
        Self { url, mails }
    }

    /// The next mail, within 10 seconds.
    pub async fn next(&mut self) -> Mail {
        tokio::time::timeout(Duration::from_secs(10), self.mails.recv())
            .await
            .expect("a mail arrives within 10 s")
            .expect("the sink runs")
    }

    /// The next mail to `to`, skipping mails to others.
    pub async fn next_to(&mut self, to: &str) -> Mail {
        loop {
            let mail = self.next().await;
            if mail.to.iter().any(|t| t.eq_ignore_ascii_case(to)) {
                return mail;
            }
        }
    }

    /// Fails when a mail arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok(Some(mail)) = tokio::time::timeout(wait, self.mails.recv()).await {
            panic!("no mail expected, got {mail:?}");
        }
    }
}

/// One SMTP conversation: greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA … ".", RSET, NOOP, QUIT.
async fn session(stream: tokio::net::TcpStream, mails: mpsc::UnboundedSender<Mail>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut to = Vec::new();
    if write.write_all(b"220 sink.test ESMTP ready\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "MAIL" => {
                to.clear();
                b"250 ok\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 ok\r\n"
            }
            "RCPT" => {
                let address = line
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(address, _)| address.to_owned())
                    .unwrap_or_default();
                to.push(address);
                b"250 ok\r\n"
            }
            "DATA" => {
                if write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.is_err() {
                    return;
                }
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing: a leading dot was doubled by the client.
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                    data.push_str("\r\n");
                }
                let _ = mails.send(Mail {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

pub async fn app_with_sink(configure: impl FnOnce(&mut Settings)) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url.clone();
    let app = spawn_with(
        move |s| {
            s.email.smtp_url = Some(url);
            configure(s);
        },
        Default::default(),
    )
    .await;
    (app, sink)
}

/// Registers an account; its email and token.
pub async fn register(app: &TestApp) -> (String, String) {
    let email = format!("mail-{}@example.com", uuid::Uuid::now_v7().simple());
    let (status, body) = app
        .json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (email, body["token"].as_str().unwrap().to_owned())
}

async fn anonymous(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.json(Method::POST, path, None, Some(body)).await
}

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request sent")
        .status()
}

#[tokio::test]
async fn a_reset_link_works_once_sets_the_password_and_signs_out_everywhere() {
    let (app, mut sink) = app_with_sink(|_| {}).await;
    let (email, token) = register(&app).await;
    sink.next_to(&email).await; // the verification mail

    let (status, _) = anonymous(
        &app,
        "/api/v1/auth/password-reset",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "the same answer for an unknown account");
    let (status, _) = anonymous(
        &app,
        "/api/v1/auth/password-reset",
        json!({"email": email.to_uppercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = sink.next().await;
    assert_eq!(mail.to, vec![email.clone()], "no mail to the unknown address");
    assert!(
        mail.text().contains("Subject: Reset your Plansmith password"),
        "{}",
        mail.text()
    );
    assert!(
        mail.text().contains(&format!("{}/reset-password?token=", app.base)),
        "{}",
        mail.text()
    );
    let reset = mail.token();

    let (status, body) = anonymous(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": reset, "new_password": "short"}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    let (status, body) = anonymous(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": reset, "new_password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the reset signed out every device");
    let login = |password: &'static str| {
        let email = email.clone();
        let app = &app;
        async move {
            anonymous(app, "/api/v1/auth/login", json!({"email": email, "password": password}))
                .await
                .0
        }
    };
    assert_eq!(login(PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("a brand new passphrase").await, StatusCode::OK);

    let (status, body) = anonymous(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": reset, "new_password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_token"))
    );
    assert_eq!(
        login("a brand new passphrase").await,
        StatusCode::OK,
        "the second use changed nothing"
    );

    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let user = store
        .user_by_email(&plansmith_domain::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let query = plansmith_store::SecurityEventQuery {
        user_id: Some(user.id),
        kind: Some("password_changed".into()),
        limit: 10,
        ..Default::default()
    };
    let events = store.security_events(&query).await.unwrap();
    assert_eq!(events.len(), 1, "the reset is in the security log: {events:?}");
    assert_eq!(events[0].outcome, "success");
}

#[tokio::test]
async fn a_reset_link_expires() {
    let (app, mut sink) = app_with_sink(|s| s.auth.password_reset_ttl_seconds = 1).await;
    let (email, _) = register(&app).await;
    sink.next_to(&email).await;
    anonymous(&app, "/api/v1/auth/password-reset", json!({"email": email})).await;
    let reset = sink.next_to(&email).await.token();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = anonymous(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": reset, "new_password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_token"))
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_account_without_telling() {
    let (app, mut sink) = app_with_sink(|s| s.auth.password_resets_per_account_per_hour = 2).await;
    let (email, _) = register(&app).await;
    sink.next_to(&email).await;
    for _ in 0..4 {
        let (status, _) = anonymous(&app, "/api/v1/auth/password-reset", json!({"email": email})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    sink.next_to(&email).await;
    sink.next_to(&email).await;
    sink.assert_quiet(Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn an_unverified_account_gets_the_small_budget_until_it_verifies() {
    let (app, mut sink) = app_with_sink(|s| {
        s.llm.budgets.unverified = BudgetSettings {
            monthly_tokens: 0,
            monthly_cost_usd: plansmith_domain::Money::from_cents(10),
        };
    })
    .await;
    let (email, token) = register(&app).await;
    let mail = sink.next_to(&email).await;
    assert!(
        mail.text().contains("Subject: Confirm your email for Plansmith"),
        "{}",
        mail.text()
    );
    assert!(mail.text().contains("/verify-email?token="));
    let session = app.session(&token, "quick-brief").await;
    let path = format!("/api/v1/sessions/{}/messages", session["id"].as_str().unwrap());
    let (status, body) = app.post(&path, &token, json!({"content": "A recipe app."})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("over_budget"))
    );
    assert_eq!(app.get("/api/v1/me/mfa", &token).await.1["email_verified"], false);

    let verify = mail.token();
    let (status, body) = anonymous(&app, "/api/v1/auth/verify-email", json!({"token": verify})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(app.get("/api/v1/me/mfa", &token).await.1["email_verified"], true);
    let (status, body) = app.post(&path, &token, json!({"content": "A recipe app."})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the plan's budget now: {body}");
    let (status, body) = anonymous(&app, "/api/v1/auth/verify-email", json!({"token": verify})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_token"))
    );
}

#[tokio::test]
async fn a_sign_in_from_a_new_address_is_notified_except_the_first() {
    let (app, mut sink) = app_with_sink(|s| s.http.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let (email, _) = register(&app).await;
    sink.next_to(&email).await;
    assert_eq!(login_from(&app, "203.0.113.5", &email, PASSWORD).await, StatusCode::OK);
    assert_eq!(login_from(&app, "203.0.113.5", &email, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login_from(&app, "198.51.100.7", &email, "wrong password").await,
        StatusCode::UNAUTHORIZED
    );
    sink.assert_quiet(Duration::from_millis(1000)).await;
    assert_eq!(login_from(&app, "198.51.100.7", &email, PASSWORD).await, StatusCode::OK);
    let notice = sink.next().await;
    assert_eq!(notice.to, vec![email.clone()]);
    let text = notice.text();
    assert!(
        text.contains("Subject: New sign-in to your Plansmith account"),
        "{text}"
    );
    assert!(text.contains("198.51.100.7"), "{text}");
    assert_eq!(login_from(&app, "198.51.100.7", &email, PASSWORD).await, StatusCode::OK);
    sink.assert_quiet(Duration::from_millis(1000)).await;
}

#[tokio::test]
async fn without_smtp_emails_are_logged_and_listed_for_admins() {
    let app = spawn_with(|_| {}, Default::default()).await;
    let (email, token) = register(&app).await;
    let (status, body) = app.get("/api/v1/admin/emails", &token).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    store
        .set_user_role(
            &plansmith_domain::Email::parse(&email).unwrap(),
            plansmith_domain::Role::Admin,
        )
        .await
        .unwrap();
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (status, body) = app.get("/api/v1/admin/emails?limit=100", &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        listed = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["to"] == email.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        if !listed["sent_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed["kind"], "email_verification", "{listed}");
    assert!(!listed["sent_at"].is_null(), "logged as delivered: {listed}");
    assert_eq!(listed["attempts"], 1);
    assert!(listed["body"].as_str().unwrap().contains("/verify-email?token="));
    let (status, body) = app.get("/api/v1/admin/emails?limit=0", &token).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_query"))
    );
}

/// Without a mail server no verification mail can reach anyone: the small budget does not
/// apply (the embedded default).
#[tokio::test]
async fn without_a_mail_server_the_unverified_budget_does_not_apply() {
    let app = crate::helpers::spawn_with(
        |s| {
            s.llm.budgets.unverified = BudgetSettings {
                monthly_tokens: 0,
                monthly_cost_usd: plansmith_domain::Money::from_cents(10),
            };
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let path = format!("/api/v1/sessions/{}/messages", session["id"].as_str().unwrap());
    let (status, body) = app.post(&path, &token, json!({"content": "A recipe app."})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
