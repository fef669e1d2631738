//! API keys: issued once and kept as a hash, acting as their user within their scope
//! over REST and the WebSocket, refused when revoked, expired or sent in a URL, moved
//! along by the status job and announced once by the notice job; never in a file or a
//! log in plain text.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::security::{PASSWORD, SECRET, call, logged_server, secured_app, token};

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn issue(app: &TestApp, by: &str, body: Value) -> Value {
    let (s, key) = call(app, "POST", "/api/keys", Some(by), Some(body)).await;
    assert_eq!(s, 201, "{key}");
    key
}

async fn with_key(app: &TestApp, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    call(app, method, path, Some(key), body).await
}

async fn ws_auth(app: &TestApp, key: &str) -> (Value, Value) {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(json!({"type": "auth", "token": key}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "subscribe", "id": "t", "topic": "tasks", "snapshot": true}).to_string()))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => got.push(serde_json::from_str::<Value>(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
            other => panic!("the WebSocket said nothing more: {other:?} after {got:?}"),
        }
    }
    (got[0].clone(), got[1].clone())
}

#[tokio::test]
async fn a_key_acts_as_its_user_within_its_scope_over_rest_and_the_websocket() {
    let app = secured_app().await;
    let (anna, boris) = (token(&app, "anna").await, token(&app, "boris").await);
    let read =
        issue(&app, &anna, json!({"name": "dashboard", "user_id": 4, "scope": "read", "expires_at": in_days(30)}))
            .await;
    let read_key = read["key"].as_str().unwrap().to_string();
    assert!(read_key.starts_with("tbk_") && read_key.len() == 68, "{read}");
    assert_eq!(read["status"], "active");
    assert!(read.get("key_hash").is_none(), "the hash is never served: {read}");

    // Read: GET works (Bearer or X-API-Key), anything else is refused.
    assert_eq!(with_key(&app, "GET", "/api/tasks", &read_key, None).await.0, 200);
    let r = app.client.get(app.url("/api/auth/me")).header("x-api-key", &read_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "boris");
    let (s, body) = with_key(&app, "POST", "/api/tasks", &read_key, Some(json!({"title": "nope"}))).await;
    assert_eq!(s, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("read-only"), "{body}");

    // Write: acts as boris, no more than his role (a member may not manage users).
    let write = issue(&app, &boris, json!({"name": "ci", "scope": "write", "expires_at": in_days(30)})).await;
    let write_key = write["key"].as_str().unwrap().to_string();
    assert_eq!(write["user_id"], 4, "a user's own key by default");
    let (s, task) = with_key(&app, "POST", "/api/tasks", &write_key, Some(json!({"title": "from CI"}))).await;
    assert_eq!(s, 201, "{task}");
    assert_eq!(task["created_by"], 4);
    assert_eq!(
        with_key(&app, "POST", "/api/users", &write_key, Some(json!({"username": "x", "role": "admin"}))).await.0,
        403
    );
    // Keys and passwords belong to a login, not to a key.
    let (s, _) = with_key(
        &app,
        "POST",
        "/api/keys",
        &write_key,
        Some(json!({"name": "more", "scope": "write", "expires_at": in_days(3)})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = with_key(
        &app,
        "PUT",
        "/api/auth/password",
        &write_key,
        Some(json!({"current_password": PASSWORD, "new_password": "An0ther-Pass!"})),
    )
    .await;
    assert_eq!(s, 403);

    // The WebSocket: a key in the first message works; in the URL it is refused.
    let (auth, snapshot) = ws_auth(&app, &read_key).await;
    assert_eq!(auth["ok"], true, "{auth}");
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let url = format!("{}/ws?token={read_key}", app.base.replace("http://", "ws://"));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a key in a URL must be refused: {other:?}"),
    }
    let r = app.client.get(app.url(&format!("/api/tasks?token={read_key}"))).send().await.unwrap();
    assert_eq!(r.status(), 401, "nor does a key in a query string authenticate a REST call");

    // Others: a member does not issue keys for someone else, nor see or revoke theirs.
    let (s, _) = call(
        &app,
        "POST",
        "/api/keys",
        Some(&boris),
        Some(json!({"name": "x", "user_id": 1, "scope": "read", "expires_at": in_days(3)})),
    )
    .await;
    assert_eq!(s, 403);
    let mike = token(&app, "mike").await;
    let (s, list) = call(&app, "GET", "/api/keys", Some(&mike), None).await;
    assert_eq!((s, list["total"].as_u64()), (200, Some(0)), "{list}");
    let (s, _) = call(&app, "DELETE", &format!("/api/keys/{}", read["id"]), Some(&mike), None).await;
    assert_eq!(s, 404);
    let (s, list) = call(&app, "GET", "/api/keys", Some(&anna), None).await;
    assert_eq!((s, list["total"].as_u64()), (200, Some(2)));
    assert!(!list.to_string().contains("tbk_") && !list.to_string().contains("key_hash"), "{list}");

    // Revoked: refused at once, over REST and at the open WebSocket's next delivery.
    let (s, revoked) = call(&app, "DELETE", &format!("/api/keys/{}", write["id"]), Some(&boris), None).await;
    assert_eq!((s, revoked["status"].as_str()), (200, Some("revoked")), "{revoked}");
    let (s, body) = with_key(&app, "GET", "/api/tasks", &write_key, None).await;
    assert_eq!(s, 401);
    assert!(body["detail"].as_str().unwrap().contains("revoked"), "{body}");
    // Bad requests name their field.
    for (bad, field) in [
        (json!({"name": "x", "scope": "admin", "expires_at": in_days(3)}), "scope"),
        (json!({"name": "x", "scope": "read", "expires_at": in_days(-1)}), "expires_at"),
        (json!({"name": " ", "scope": "read", "expires_at": in_days(3)}), "name"),
        (json!({"name": "x", "scope": "read", "expires_at": "soon"}), "expires_at"),
    ] {
        let (s, body) = call(&app, "POST", "/api/keys", Some(&anna), Some(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // last_used_at is kept (written in the background, at most once a minute).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, list) = call(&app, "GET", &format!("/api/keys?id={}", read["id"]), Some(&anna), None).await;
        if list["items"][0]["last_used_at"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last_used_at stayed empty: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_status_job_moves_keys_along_and_the_notice_job_tells_owners_once() {
    let app = secured_app().await;
    let anna = token(&app, "anna").await;
    let soon =
        issue(&app, &anna, json!({"name": "soon", "user_id": 4, "scope": "read", "expires_at": in_days(3)})).await;
    assert_eq!(soon["status"], "expiring", "within 7 days at issue");
    let later =
        issue(&app, &anna, json!({"name": "later", "user_id": 4, "scope": "read", "expires_at": in_days(30)})).await;
    assert_eq!(later["status"], "active");
    // A key whose expiry has passed (written by hand, with its hash, as a file edit).
    let dead_key = "tbk_0000000000000000000000000000000000000000000000000000000000000001";
    let path = app.data().join("api_keys.csv");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&path).unwrap_or_default().contains("later") {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut file = std::fs::read_to_string(&path).unwrap();
    file.push_str(&format!(
        "3,old,4,{},read,active,2026-01-01T00:00:00Z,,2025-12-01T00:00:00Z,2025-12-01T00:00:00Z\n",
        taskboard::service::keys::hash_of(dead_key)
    ));
    std::fs::write(&path, file).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, list) = call(&app, "GET", "/api/keys", Some(&anna), None).await;
        if list["total"] == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the edit was not read: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, body) = with_key(&app, "GET", "/api/tasks", dead_key, None).await;
    assert_eq!(s, 401, "an expired key is refused even before the job runs: {body}");
    assert!(body["detail"].as_str().unwrap().contains("expired"), "{body}");

    let run = |job: &'static str| {
        let anna = anna.clone();
        let app = &app;
        async move {
            let (s, body) =
                call(app, "POST", &format!("/api/system/scheduler/jobs/{job}/run"), Some(&anna), None).await;
            assert_eq!(s, 202, "{body}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    run("key_status").await;
    let (_, list) = call(&app, "GET", "/api/keys?sort=id", Some(&anna), None).await;
    let statuses: Vec<&str> = list["items"].as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["expiring", "active", "expired"], "{list}");

    run("key_notices").await;
    run("key_notices").await;
    let (_, events) = call(&app, "GET", "/api/events?entity=api_key&sort=id", Some(&anna), None).await;
    let notices: Vec<(String, u64, u64)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("api_key.expir"))
        .map(|e| {
            (e["type"].as_str().unwrap().to_string(), e["entity_id"].as_u64().unwrap(), e["user_id"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(notices, [("api_key.expiring".into(), 1, 4), ("api_key.expired".into(), 3, 4)], "once each: {events}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_key_reaches_a_file_or_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = logged_server(dir.path(), "password", &[("SECRET_KEY", SECRET)]);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"username": "anna", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap();
    let issued: Value = client
        .post(format!("{}/api/keys", server.base))
        .bearer_auth(access)
        .json(&json!({"name": "export", "scope": "read", "expires_at": in_days(10)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = issued["key"].as_str().unwrap().to_string();
    for path in ["/api/tasks", "/api/export/tasks.csv", "/api/health"] {
        let r = client.get(format!("{}{path}", server.base)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client.get(format!("{}/api/tasks?token={key}", server.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(format!("{}/api/system/backups", server.base)).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(server.terminate().success());
    let mut seen = Vec::new();
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(key.len()).any(|w| w == key.as_bytes()) {
            seen.push(entry.display().to_string());
        }
    }
    assert!(seen.is_empty(), "the key in plain text in {seen:?}");
    let keys_file = std::fs::read_to_string(data.join("api_keys.csv")).unwrap();
    assert!(keys_file.contains(&taskboard::service::keys::hash_of(&key)), "only its hash is kept: {keys_file}");
}

/// Every file below `dir` (backups are tar.gz: compressed, so the key could hide in
/// them only as the hash already checked; the data and logs are plain).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
