//! The web app's files: caching, ETags, precompression, client-side routes, and the
//! monitoring endpoints the app reports to.

use crate::helpers::{TestApp, spawn_with};
use plansmith_server::Overrides;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

async fn app_with_web_files() -> (TestApp, tempfile::TempDir) {
    let web = tempfile::TempDir::new().unwrap();
    std::fs::create_dir_all(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Plansmith</title>").unwrap();
    std::fs::write(web.path().join("assets/app-3f2a1b.js"), "console.log('plansmith')").unwrap();
    std::fs::write(web.path().join("assets/app-3f2a1b.js.br"), b"\x0b\x02brotli-bytes").unwrap();
    std::fs::write(web.path().join("assets/app-3f2a1b.js.gz"), b"\x1f\x8bgzip-bytes").unwrap();
    std::fs::write(web.path().join("sw.js"), "self.addEventListener('fetch', () => {})").unwrap();
    let dir = web.path().display().to_string();
    let app = spawn_with(move |s| s.http.web_dir = Some(dir), Overrides::default()).await;
    (app, web)
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_precompressed() {
    let (app, _web) = app_with_web_files().await;
    let response = app
        .client
        .get(app.url("/assets/app-3f2a1b.js"))
        .header(ACCEPT_ENCODING, "identity")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.text().await.unwrap(), "console.log('plansmith')");

    let raw = reqwest::Client::builder().no_brotli().no_gzip().build().unwrap();
    let response = raw
        .get(app.url("/assets/app-3f2a1b.js"))
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let brotli_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"\x0b\x02brotli-bytes");

    // Each encoding is its own representation: its own strong ETag, and a revalidation with
    // another encoding's ETag gets the full body, not a 304.
    let etag_for = |encoding: &'static str| {
        let raw = raw.clone();
        let url = app.url("/assets/app-3f2a1b.js");
        async move {
            let response = raw.get(url).header(ACCEPT_ENCODING, encoding).send().await.unwrap();
            response.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    let identity_etag = etag_for("identity").await;
    let gzip_etag = etag_for("gzip").await;
    let etags: std::collections::BTreeSet<&str> =
        [identity_etag.as_str(), gzip_etag.as_str(), brotli_etag.as_str()].into();
    assert_eq!(etags.len(), 3, "{etags:?}");
    assert!(
        etags.iter().all(|e| e.starts_with('"') && !e.starts_with("W/")),
        "strong: {etags:?}"
    );
    let crossed = raw
        .get(app.url("/assets/app-3f2a1b.js"))
        .header(ACCEPT_ENCODING, "gzip")
        .header(IF_NONE_MATCH, &brotli_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        crossed.status(),
        StatusCode::OK,
        "the brotli ETag does not validate the gzip body"
    );
    let same = raw
        .get(app.url("/assets/app-3f2a1b.js"))
        .header(ACCEPT_ENCODING, "gzip")
        .header(IF_NONE_MATCH, &gzip_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);

    let response = app.client.get(app.url("/assets/missing-000.js")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_app_shell_is_revalidated_and_serves_client_routes() {
    let (app, _web) = app_with_web_files().await;
    let token = app.user().await;
    for path in ["/", "/sessions/01a2-whatever", "/login"] {
        let response = app
            .client
            .get(app.url(path))
            .header(ACCEPT, "text/html")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "nothing user-specific in cached responses"
        );
        assert!(response.text().await.unwrap().contains("<title>Plansmith</title>"));
    }
    let first = app
        .client
        .get(app.url("/"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/"))
        .header(ACCEPT, "text/html")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let sw = app.client.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(sw.status(), StatusCode::OK);
    assert_eq!(sw.headers()[CACHE_CONTROL], "no-cache");

    // API paths keep their JSON 404, even for browsers.
    let response = app
        .client
        .get(app.url("/api/v1/nope"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route_not_found");
    // Paths never leave the web folder.
    let response = app
        .client
        .get(format!("{}/assets/..%2F..%2Fetc%2Fpasswd", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_vitals_are_kept_as_histograms_by_page() {
    let (app, _web) = app_with_web_files().await;
    let response = app
        .client
        .post(app.url("/api/v1/rum"))
        .header(CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(r#"[{"page":"/sessions/:id","name":"LCP","value":812.5},{"page":"/sessions/:id","name":"CLS","value":0.02}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = app
        .client
        .post(app.url("/api/v1/rum"))
        .json(&serde_json::json!({"page": "/", "name": "BOGUS", "value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let metrics = app.metrics().await;
    let lcp_count = metrics
        .lines()
        .find(|l| {
            l.starts_with("plansmith_web_vitals_count")
                && l.contains("name=\"LCP\"")
                && l.contains("page=\"/sessions/:id\"")
        })
        .unwrap_or_else(|| panic!("no LCP histogram in\n{metrics}"));
    assert!(
        lcp_count.trim_end().ends_with(" 1")
            || lcp_count.split_whitespace().last().unwrap().parse::<f64>().unwrap() >= 1.0
    );
    assert!(
        metrics.contains("plansmith_http_requests_total"),
        "request metrics are exported"
    );
}
