use crate::helpers::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn drafted_brief(app: &TestApp, token: &str) -> (String, String) {
    let sid = app.session(token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(token, &sid, "draft the rest").await;
    app.wait_reply(token, &sid, sent["reply"]["id"].as_str().unwrap()).await;
    let (status, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(docs["items"].as_array().unwrap().len(), 1);
    assert_eq!(docs["items"][0]["step_id"], "brief");
    assert_eq!(docs["items"][0]["revision"], 1);
    (sid, docs["items"][0]["id"].as_str().unwrap().to_owned())
}

async fn edit(
    app: &TestApp,
    token: &str,
    sid: &str,
    doc: &str,
    section: &str,
    content: &str,
    base: i64,
) -> (StatusCode, Value) {
    app.json(
        Method::PUT,
        &format!("/api/v1/sessions/{sid}/documents/{doc}/sections/{section}"),
        Some(token),
        Some(json!({"content": content, "base_revision": base})),
    )
    .await
}

#[tokio::test]
async fn edits_are_revisions_and_stale_edits_conflict() {
    let app = spawn_app().await;
    let token = app.user().await;
    let (sid, doc) = drafted_brief(&app, &token).await;
    let (status, body) = edit(&app, &token, &sid, &doc, "summary", "My own summary.", 1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], 2);
    let (status, body) = edit(&app, &token, &sid, &doc, "problem", "Based on an old copy.", 1).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "revision_conflict");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("revision 2"),
        "{body}"
    );
    let (_, latest) = app
        .get(&format!("/api/v1/sessions/{sid}/documents/{doc}"), &token)
        .await;
    assert_eq!(latest["revision"], 2);
    assert_eq!(latest["sections"][0]["content"], "My own summary.");
    assert_ne!(
        latest["sections"][1]["content"], "Based on an old copy.",
        "the stale edit changed nothing"
    );
    assert_eq!(latest["content_hash"].as_str().unwrap().len(), 64);

    let (status, body) = edit(&app, &token, &sid, &doc, "nope", "x", 2).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let too_long = "x".repeat(60_000);
    let (status, _) = edit(&app, &token, &sid, &doc, "summary", &too_long, 2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .json(
            Method::PUT,
            &format!("/api/v1/sessions/{sid}/documents/{doc}/sections/summary"),
            Some(&token),
            Some(json!({"content": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("base_revision"),
        "{body}"
    );
}

#[tokio::test]
async fn revisions_can_be_read_listed_restored_and_exported() {
    let app = spawn_app().await;
    let token = app.user().await;
    let (sid, doc) = drafted_brief(&app, &token).await;
    let base = format!("/api/v1/sessions/{sid}/documents/{doc}");
    let (_, v1) = app.get(&base, &token).await;
    edit(&app, &token, &sid, &doc, "summary", "Second thoughts.", 1).await;
    edit(&app, &token, &sid, &doc, "risks", "", 2).await;

    let (status, revisions) = app.get(&format!("{base}/revisions"), &token).await;
    assert_eq!(status, StatusCode::OK);
    let items = revisions["items"].as_array().unwrap();
    let numbers: Vec<i64> = items.iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [3, 2, 1]);
    let authors: Vec<&str> = items.iter().map(|r| r["author"].as_str().unwrap()).collect();
    assert_eq!(authors, ["user", "user", "ai"]);
    assert_eq!(items[2]["content_hash"], v1["content_hash"]);
    assert!(items[2]["created_at"].is_string());
    // Each revision names the sections it changed.
    assert_eq!(items[0]["changed_sections"], json!(["risks"]));
    assert_eq!(items[1]["changed_sections"], json!(["summary"]));
    assert_eq!(
        items[2]["changed_sections"].as_array().unwrap().len(),
        v1["sections"].as_array().unwrap().len(),
        "the first draft wrote every section"
    );
    assert!(items.iter().all(|r| r["restored_from"].is_null()));

    let (status, old) = app.get(&format!("{base}?revision=1"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["sections"], v1["sections"]);
    let (status, empty) = app.get(&format!("{base}?revision=0"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty["sections"].as_array().unwrap().iter().all(|s| s["content"] == ""));
    let (status, _) = app.get(&format!("{base}?revision=9"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, restored) = app
        .post(&format!("{base}/restore"), &token, json!({"revision": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["revision"], 4, "a restore is one new revision");
    assert_eq!(restored["content_hash"], v1["content_hash"]);
    let (_, now) = app.get(&base, &token).await;
    assert_eq!(now["sections"], v1["sections"]);
    let (_, revisions) = app.get(&format!("{base}/revisions"), &token).await;
    assert_eq!(revisions["items"][0]["revision"], 4);
    assert_eq!(revisions["items"][0]["restored_from"], 1, "{revisions}");
    assert_eq!(revisions["items"][0]["changed_sections"], json!(["summary", "risks"]));
    let (status, _) = app
        .post(&format!("{base}/restore"), &token, json!({"revision": 42}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let response = app
        .request(Method::GET, &format!("{base}/export.md"), Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let markdown = response.text().await.unwrap();
    assert!(markdown.starts_with("# Project brief — Recipe Box\n"), "{markdown}");
    assert!(markdown.contains("## Executive summary\n"));
    assert!(markdown.contains(v1["sections"][0]["content"].as_str().unwrap()));
}

#[tokio::test]
async fn the_whole_plan_exports_as_markdown_and_as_a_word_document() {
    let app = spawn_app().await;
    let token = app.user().await;
    let (sid, doc) = drafted_brief(&app, &token).await;
    edit(
        &app,
        &token,
        &sid,
        &doc,
        "summary",
        "**Bold** start & <end>\n\n- one\n- two",
        1,
    )
    .await;

    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/sessions/{sid}/export.md"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"recipe-box.md\""
    );
    let markdown = response.text().await.unwrap();
    assert!(
        markdown.starts_with("# Recipe Box\n\n> An app where families"),
        "{markdown}"
    );
    assert!(
        markdown.contains("## Project brief\n\n### Executive summary\n\n**Bold** start & <end>"),
        "{markdown}"
    );

    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/sessions/{sid}/export.docx"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a zip package");
    // The document part is stored uncompressed: its text is in the file as written.
    let text = String::from_utf8_lossy(&bytes);
    for expected in [
        "word/document.xml",
        "[Content_Types].xml",
        "<w:pStyle w:val=\"Title\"/></w:pPr><w:r><w:t xml:space=\"preserve\">Recipe Box",
        ">Project brief</w:t>",
        ">Executive summary</w:t>",
        "<w:b/></w:rPr><w:t xml:space=\"preserve\">Bold</w:t>",
        "start &amp; ",
        "&lt;end&gt;",
        "• </w:t>",
    ] {
        assert!(text.contains(expected), "{expected} missing");
    }

    // Someone else's plan is not theirs to export.
    let other = app.user().await;
    let (status, _) = app.get(&format!("/api/v1/sessions/{sid}/export.md"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
