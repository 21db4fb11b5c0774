//! Browser-facing protections: security headers on every response, the sign-in cookie's
//! attributes, the same-origin check of cookie-authenticated writes, and provider error text
//! kept from users.

use crate::helpers::{TestApp, spawn_with};
use plansmith_server::Overrides;
use plansmith_server::config::{ProviderKind, ProviderSettings};
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

async fn app_with_web_files(hsts: bool) -> (TestApp, tempfile::TempDir) {
    let web = tempfile::TempDir::new().unwrap();
    std::fs::create_dir_all(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Plansmith</title>").unwrap();
    std::fs::write(web.path().join("assets/app-3f2a1b.js"), "console.log('plansmith')").unwrap();
    let dir = web.path().display().to_string();
    let app = spawn_with(
        move |s| {
            s.http.web_dir = Some(dir);
            s.http.hsts = Some(hsts);
        },
        Overrides::default(),
    )
    .await;
    (app, web)
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name}", response.url()))
        .to_str()
        .unwrap()
}

fn assert_security_headers(response: &Response) {
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    let csp = header(response, "content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
    };
    assert_eq!(directive("script-src"), "script-src 'self'");
    assert_eq!(directive("object-src"), "object-src 'none'");
    assert_eq!(directive("base-uri"), "base-uri 'none'");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("default-src"), "default-src 'self'");
}

#[tokio::test]
async fn pages_assets_and_api_answers_carry_the_security_headers() {
    let (app, _web) = app_with_web_files(false).await;
    let token = app.user().await;
    let page = app
        .client
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_security_headers(&page);
    assert_eq!(
        header(&page, "cache-control"),
        "no-cache",
        "the shell keeps its caching"
    );
    assert!(
        page.headers().get("strict-transport-security").is_none(),
        "no HSTS by default"
    );

    let asset = app.client.get(app.url("/assets/app-3f2a1b.js")).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_security_headers(&asset);
    assert_eq!(header(&asset, "cache-control"), "public, max-age=31536000, immutable");

    let api = app.request(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(api.status(), StatusCode::OK);
    assert_security_headers(&api);
    assert_eq!(header(&api, "cache-control"), "no-store");
    assert!(api.headers().get("strict-transport-security").is_none());

    // Errors too: of a route, and of a path no route has.
    let unauthorized = app.request(Method::GET, "/api/v1/sessions", None, None).await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert_security_headers(&unauthorized);
    assert_eq!(header(&unauthorized, "cache-control"), "no-store");
    let missing = app
        .request(Method::GET, "/api/v1/nothing-here", Some(&token), None)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing);
    assert_eq!(header(&missing, "cache-control"), "no-store");
}

#[tokio::test]
async fn hsts_is_sent_when_configured() {
    let (app, _web) = app_with_web_files(true).await;
    for path in ["/", "/assets/app-3f2a1b.js", "/api/v1/workflows", "/healthz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            header(&response, "strict-transport-security"),
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

/// Registers and returns (token, `name=value` of the sign-in cookie, its whole `Set-Cookie`).
async fn register(app: &TestApp) -> (String, String, String) {
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
    let set_cookie = header(&response, "set-cookie").to_owned();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    (body["token"].as_str().unwrap().to_owned(), pair, set_cookie)
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn the_cookie_is_not_secure_on_a_loopback_listener_by_default() {
    let app = spawn_with(|_| {}, Overrides::default()).await;
    assert!(app.settings.http.secure_cookies.is_none());
    let (_, pair, set_cookie) = register(&app).await;
    assert!(pair.starts_with("plansmith_session=ps_"), "{set_cookie}");
    let attributes = attributes(&set_cookie);
    assert!(!attributes.contains(&"secure".into()), "{set_cookie}");
    assert!(attributes.contains(&"httponly".into()) && attributes.contains(&"samesite=lax".into()));
}

#[tokio::test]
async fn a_secure_cookie_has_the_host_prefix_and_is_read_under_it() {
    let app = spawn_with(|s| s.http.secure_cookies = Some(true), Overrides::default()).await;
    let (_, pair, set_cookie) = register(&app).await;
    assert!(pair.starts_with("__Host-plansmith_session=ps_"), "{set_cookie}");
    let set = attributes(&set_cookie);
    for expected in ["secure", "httponly", "samesite=lax", "path=/"] {
        assert!(set.contains(&expected.into()), "{expected}: {set_cookie}");
    }
    assert!(!set.iter().any(|a| a.starts_with("domain")), "{set_cookie}");

    let me = |cookie: String| app.client.get(app.url("/api/v1/me")).header(COOKIE, cookie).send();
    assert_eq!(me(pair.clone()).await.unwrap().status(), StatusCode::OK);
    let unprefixed = pair.replacen("__Host-", "", 1);
    assert_eq!(me(unprefixed).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = header(&logout, "set-cookie");
    assert!(cleared.starts_with("__Host-plansmith_session=;"), "{cleared}");
    assert!(attributes(cleared).contains(&"secure".into()), "{cleared}");
}

#[tokio::test]
async fn cookie_writes_from_another_site_are_refused() {
    let app = spawn_with(|_| {}, Overrides::default()).await;
    let (token, cookie, _) = register(&app).await;
    let body = json!({"workflow_id": "quick-brief", "title": "Recipe Box", "idea": "Families share recipes."});
    let create = |headers: &[(&str, &str)], bearer: bool| {
        let mut request = app.client.post(app.url("/api/v1/sessions")).json(&body);
        request = if bearer {
            request.bearer_auth(&token)
        } else {
            request.header(COOKIE, &cookie)
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let own_origin = app.base.clone();
    for refused in [
        vec![(ORIGIN.as_str(), "https://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            (ORIGIN.as_str(), "https://app.evil.example"),
        ],
        vec![(ORIGIN.as_str(), "null")],
    ] {
        let response = create(&refused, false).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{refused:?}");
        assert_eq!(header(&response, "cache-control"), "no-store");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "cross_site_request", "{refused:?}");
        assert!(error["error"]["message"].as_str().unwrap().contains("another site"));
    }
    for allowed in [
        vec![
            ("sec-fetch-site", "same-origin"),
            (ORIGIN.as_str(), own_origin.as_str()),
        ],
        vec![(ORIGIN.as_str(), own_origin.as_str())],
        vec![("sec-fetch-site", "same-origin")],
        // Not a browser (browsers send one of the two on every cross-site POST).
        vec![],
    ] {
        let response = create(&allowed, false).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{allowed:?}");
    }
    // A Bearer token is not sent by browsers on their own: not checked.
    let response = create(
        &[
            (ORIGIN.as_str(), "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        true,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // Reads change nothing and are not checked.
    let read = app
        .client
        .get(app.url("/api/v1/sessions"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    // Signing out is a write too.
    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    assert!(logout.headers().get(SET_COOKIE).is_none());
}

/// A provider that refuses every call with 401 and a body quoting the key it was sent.
async fn refusing_provider() -> String {
    let router = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"error":{"message":"Incorrect API key provided: sk-test-SECRET123. Internal: http://10.0.0.7:8443/v1"}}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_provider_error_text_never_reaches_the_user() {
    let url = refusing_provider().await;
    let app = spawn_with(
        move |s| {
            s.llm.providers = vec![ProviderSettings {
                name: "primary".into(),
                kind: ProviderKind::OpenAi,
                base_url: Some(url),
                api_key_env: None,
                model: Some("gpt-test".into()),
                requests_per_minute: None,
                tokens_per_minute: None,
                max_concurrency: None,
                connect_timeout_ms: 1000,
                first_token_timeout_ms: 2000,
                stall_timeout_ms: 500,
                total_timeout_ms: 10_000,
            }];
            s.llm.route = vec!["primary".into()];
        },
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "Tell me more").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    let reply = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(reply["status"], "failed", "{reply}");
    assert_eq!(reply["error"]["code"], "provider_rejected");
    assert_eq!(
        reply["error"]["message"],
        "The planning agent could not finish this reply: the model provider rejected the request. Retry the reply in a moment."
    );
    let (_, conversation) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    for shown in [reply.to_string(), conversation.to_string()]
        .into_iter()
        .chain(events.iter().map(|e| format!("{} {}", e.event, e.data)))
    {
        assert!(!shown.contains("SECRET123") && !shown.contains("10.0.0.7"), "{shown}");
    }
    assert_eq!(events.last().unwrap().event, "error");
}
