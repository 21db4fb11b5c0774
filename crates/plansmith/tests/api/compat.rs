//! N-1 compatibility: while a new schema is in place the previous release keeps working.
//!
//! `tests/compat/previous-release.json` was recorded from the previous release (`PLANSMITH_RECORD_COMPAT=1`
//! when it was tagged, `docs/migrations.md`): its clients' request set with the answers they
//! got, and every SQL statement its binary sends (the query macros' offline data and the
//! SQLite writer's statements) with the columns each returned. This build replays the requests
//! and prepares each old statement against its own, newest schema: an answer that lost a field
//! or changed its type, or a statement that no longer prepares (a dropped or renamed column,
//! a dropped table), fails here before the release that would break the old binary ships.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Map, Value, json};
use sqlx::{Column, Connection, Executor};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

fn recording_path() -> PathBuf {
    compat_dir().join("previous-release.json")
}

/// Keys whose values (not only their types) a client relies on.
const COMPARED_VALUES: &[&str] = &["code", "status", "role", "step_id", "author"];

/// `{name}` in `text` replaced by captured values; a string that is one placeholder becomes
/// the captured JSON value itself (a number stays a number).
fn fill(value: &Value, captured: &BTreeMap<String, Value>) -> Value {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
                && let Some(v) = captured.get(name)
            {
                return v.clone();
            }
            let mut out = s.clone();
            for (name, v) in captured {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                out = out.replace(&format!("{{{name}}}"), &text);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, captured)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, captured))).collect()),
        other => other.clone(),
    }
}

/// What one request got: status, and the JSON body, the text's kind or the stream's events.
async fn exchange(app: &TestApp, request: &Value, captured: &mut BTreeMap<String, Value>) -> Value {
    let method = Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap();
    let path = fill(&request["path"], captured).as_str().unwrap().to_owned();
    let token = (request["auth"] != false)
        .then(|| captured.get("token").and_then(|t| t.as_str()).map(str::to_owned))
        .flatten();
    let body = request.get("body").map(|b| fill(b, captured));
    if request["stream"] == true {
        let events = app
            .stream_all(&path, token.as_deref().expect("a stream needs the token"), None)
            .await;
        let mut names: Vec<String> = Vec::new();
        for e in &events {
            if !names.contains(&e.event) {
                names.push(e.event.clone());
            }
        }
        return json!({"status": 200, "events": names, "last": events.last().map(|e| e.event.clone())});
    }
    let response = app.request(method, &path, token.as_deref(), body).await;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    if kind == "application/json" {
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        if let Some(capture) = request.get("capture").and_then(Value::as_object) {
            for (name, pointer) in capture {
                let value = body
                    .pointer(pointer.as_str().unwrap())
                    .unwrap_or_else(|| panic!("{}: no {pointer} in {body}", request["name"]));
                captured.insert(name.clone(), value.clone());
            }
        }
        json!({"status": status, "body": body})
    } else {
        json!({"status": status, "content_type": kind, "empty": text.is_empty()})
    }
}

/// Where `new` stopped answering what a client of `old` read: a missing key, another type,
/// another value of a key clients branch on, an empty list that had items.
fn incompatible(at: &str, old: &Value, new: &Value, problems: &mut Vec<String>) {
    match (old, new) {
        (Value::Null, _) => {}
        (Value::Object(o), Value::Object(n)) => {
            for (key, ov) in o {
                let here = format!("{at}/{key}");
                match n.get(key) {
                    None => problems.push(format!("{here}: missing (was {ov})")),
                    Some(nv) if COMPARED_VALUES.contains(&key.as_str()) && ov.is_string() && ov != nv => {
                        problems.push(format!("{here}: {ov} became {nv}"))
                    }
                    Some(nv) => incompatible(&here, ov, nv, problems),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            if !o.is_empty() && n.is_empty() {
                problems.push(format!("{at}: empty, had {} items", o.len()));
            }
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                incompatible(&format!("{at}/{i}"), ov, nv, problems);
            }
        }
        (Value::Bool(_), Value::Bool(_)) | (Value::String(_), Value::String(_)) => {}
        (Value::Number(_), Value::Number(_)) => {}
        _ => problems.push(format!("{at}: was {old}, now {new}")),
    }
}

/// Every SQL statement this build sends, with the columns each answers, from the query
/// macros' offline data and the SQLite writer's statements.
fn statements_of_this_build() -> Value {
    let crates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let from_offline_data = |krate: &str| -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(crates.join(krate).join(".sqlx"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let data: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                let columns: Vec<Value> = data["describe"]["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].clone())
                    .collect();
                json!({"sql": data["query"], "columns": columns})
            })
            .collect()
    };
    let mut sqlite = from_offline_data("store-sqlite");
    for (_, sql) in plansmith_store_sqlite::writer_statements() {
        sqlite.push(json!({"sql": sql, "columns": null}));
    }
    json!({"postgres": from_offline_data("store-postgres"), "sqlite": sqlite})
}

/// Prepares each statement on the database (the newest schema) and lists what no longer
/// prepares or answers other columns.
async fn statements_that_break(url: &str, statements: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    macro_rules! check_all {
        ($conn:expr) => {
            for statement in statements {
                let sql = statement["sql"].as_str().unwrap();
                match $conn
                    .describe(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                        sql.to_owned(),
                    )))
                    .await
                {
                    Err(e) => problems.push(format!("{e}\n    in: {sql}")),
                    Ok(described) => {
                        let columns: Vec<Value> = described.columns().iter().map(|c| json!(c.name())).collect();
                        if let Some(old) = statement["columns"].as_array()
                            && *old != columns
                        {
                            problems.push(format!("columns {old:?} became {columns:?}\n    in: {sql}"));
                        }
                    }
                }
            }
        };
    }
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("PostgreSQL connects");
        check_all!(conn);
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("SQLite opens");
        check_all!(conn);
    }
    problems
}

async fn run_requests(app: &TestApp, requests: &[Value]) -> Vec<Value> {
    let mut captured = BTreeMap::from([(
        "unique".to_owned(),
        Value::String(uuid::Uuid::now_v7().simple().to_string()),
    )]);
    let mut answers = Vec::new();
    for request in requests {
        answers.push(exchange(app, request, &mut captured).await);
    }
    answers
}

/// With `PLANSMITH_RECORD_COMPAT=1`: records this build as the release the next one must stay
/// compatible with (run when a release is tagged).
#[tokio::test]
async fn the_previous_release_keeps_working_on_the_new_schema() {
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(compat_dir().join("requests.json")).unwrap()).unwrap();
    let requests = set["requests"].as_array().unwrap();
    let app = spawn_app().await;
    let answers = run_requests(&app, requests).await;

    if std::env::var("PLANSMITH_RECORD_COMPAT").is_ok_and(|v| v == "1") {
        let exchanges: Vec<Value> = requests
            .iter()
            .zip(&answers)
            .map(|(request, answer)| json!({"name": request["name"], "answer": answer}))
            .collect();
        let mut recording = Map::new();
        recording.insert("release".into(), json!(env!("CARGO_PKG_VERSION")));
        recording.insert("exchanges".into(), Value::Array(exchanges));
        recording.insert("statements".into(), statements_of_this_build());
        let text = serde_json::to_string_pretty(&Value::Object(recording)).unwrap();
        std::fs::write(recording_path(), text + "\n").unwrap();
        return;
    }

    let recording: Value = serde_json::from_str(&std::fs::read_to_string(recording_path()).unwrap()).unwrap();
    let release = recording["release"].as_str().unwrap();
    let mut problems = Vec::new();
    let exchanges = recording["exchanges"].as_array().unwrap();
    assert_eq!(
        exchanges.len(),
        requests.len(),
        "record the request set again: it changed"
    );
    for (recorded, answer) in exchanges.iter().zip(&answers) {
        let name = recorded["name"].as_str().unwrap();
        let old = &recorded["answer"];
        if old["status"] != answer["status"] {
            problems.push(format!(
                "{name}: status {} became {} ({answer})",
                old["status"], answer["status"]
            ));
            continue;
        }
        if let Some(events) = old["events"].as_array() {
            let now = answer["events"].as_array().unwrap();
            for e in events.iter().filter(|e| !now.contains(e)) {
                problems.push(format!("{name}: the stream no longer sends {e} events"));
            }
            if old["last"] != answer["last"] {
                problems.push(format!(
                    "{name}: the stream ended with {} instead of {}",
                    answer["last"], old["last"]
                ));
            }
        }
        if old.get("content_type") != answer.get("content_type") {
            problems.push(format!(
                "{name}: content type {} became {}",
                old["content_type"], answer["content_type"]
            ));
        }
        incompatible(name, &old["body"], &answer["body"], &mut problems);
    }
    let backend = if app.settings.database.url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let statements = recording["statements"][backend].as_array().unwrap();
    assert!(!statements.is_empty(), "the recording holds no {backend} statements");
    problems.extend(statements_that_break(&app.settings.database.url, statements).await);
    assert!(
        problems.is_empty(),
        "release {release} would break on this schema or API ({} problems):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The check itself: an answer that dropped a field, changed a type or an error code, and a
/// statement on a dropped column, are all caught.
#[tokio::test]
async fn incompatible_answers_and_statements_are_caught() {
    let old = json!({"id": "a", "items": [{"n": 1, "status": "active"}], "error": {"code": "not_found"}});
    let mut problems = Vec::new();
    incompatible(
        "x",
        &old,
        &json!({"id": "a", "items": [{"n": 1, "status": "active"}], "error": {"code": "not_found"}, "new": 1}),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    incompatible(
        "x",
        &old,
        &json!({"items": [{"n": "1", "status": "done"}], "error": {"code": "gone"}}),
        &mut problems,
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
    incompatible("x", &json!({"items": [1]}), &json!({"items": []}), &mut problems);
    assert_eq!(problems.len(), 5, "{problems:?}");

    let app = spawn_app().await;
    let url = &app.settings.database.url;
    let ok = json!({"sql": "SELECT key, definition FROM feature_flags", "columns": ["key", "definition"]});
    assert!(statements_that_break(url, std::slice::from_ref(&ok)).await.is_empty());
    let gone = json!({"sql": "SELECT key, colour FROM feature_flags", "columns": ["key", "colour"]});
    let renamed = json!({"sql": "SELECT key AS name FROM feature_flags", "columns": ["key"]});
    assert_eq!(statements_that_break(url, &[gone, renamed]).await.len(), 2);
}
