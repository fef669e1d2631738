//! Security on: logins, tokens, sessions, the role matrix over every endpoint and
//! WebSocket topic, client isolation, rate limits, and no secret in the logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use taskboard::auth::policy::{self, AdminOnly, Area, Requirement, Role, Scope};
use taskboard::config::{Config, Secret};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;

pub(crate) const SECRET: &str = "a-long-random-test-secret-0123456789";
pub(crate) const PASSWORD: &str = "Corr3ct-Horse!";
const BOT_TOKEN: &str = "12345:test-bot-token";

const USERS: &str = "id,username,telegram_id,role,created_at,updated_at,is_active\n\
1,anna,,admin,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
2,mike,,manager,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
3,sue,,supervisor,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
4,boris,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
5,carl,,client,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
6,olga,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,false\n\
7,tanya_tg,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
8,oldpw,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n";

const ROLE_USERS: [(Role, &str); 5] = [
    (Role::Admin, "anna"),
    (Role::Manager, "mike"),
    (Role::Supervisor, "sue"),
    (Role::Member, "boris"),
    (Role::Client, "carl"),
];

pub(crate) fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| taskboard::auth::password::hash(PASSWORD).unwrap())
}

/// credentials.csv giving users `ids` the test password, changed now.
pub(crate) fn write_credentials(data: &Path, ids: std::ops::RangeInclusive<u64>) {
    let now = taskboard::domain::values::now_timestamp();
    let mut credentials = String::from("user_id,password_hash,password_changed_at\n");
    for id in ids {
        credentials.push_str(&format!("{id},\"{}\",{now}\n", hash()));
    }
    std::fs::write(data.join("credentials.csv"), credentials).unwrap();
}

pub(crate) fn prepare(data: &Path) {
    std::fs::write(data.join("users.csv"), USERS).unwrap();
    let now = taskboard::domain::values::now_timestamp();
    let mut credentials = String::from("user_id,password_hash,password_changed_at\n");
    for id in 1..=6 {
        credentials.push_str(&format!("{id},\"{}\",{now}\n", hash()));
    }
    credentials.push_str(&format!("8,\"{}\",2026-01-01T00:00:00Z\n", hash()));
    std::fs::write(data.join("credentials.csv"), credentials).unwrap();
}

fn secure(c: &mut Config, dir: &Path) {
    c.security.enabled = true;
    c.security.validation_method = taskboard::config::ValidationMethod::Both;
    c.security.rate_limiting.requests_per_minute = 100_000;
    c.secret_key = Secret(SECRET.into());
    c.telegram.bot_token = Secret(BOT_TOKEN.into());
    c.backup.dir = dir.join("backups");
}

pub(crate) async fn secured_app() -> TestApp {
    secured_app_with(|_| {}).await
}

pub(crate) async fn secured_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let backups = tempfile::tempdir().unwrap().keep();
    TestApp::spawn_with(prepare, |c| {
        secure(c, &backups);
        configure(c);
    })
    .await
}

pub(crate) async fn login(app: &TestApp, username: &str) -> Value {
    let r = app.post("/api/auth/login", json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(r.status(), 200, "{username} logs in");
    r.json().await.unwrap()
}

pub(crate) async fn token(app: &TestApp, username: &str) -> String {
    login(app, username).await["access_token"].as_str().unwrap().to_string()
}

pub(crate) async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A task by the client carl, assigned to boris, with a comment and a document.
async fn seed(app: &TestApp, carl: &str) -> (u64, u64, u64) {
    let (s, task) = call(app, "POST", "/api/tasks", Some(carl), Some(json!({"title": "carl's"}))).await;
    assert_eq!(s, 201, "{task}");
    let task = task["id"].as_u64().unwrap();
    let admin = token(app, "anna").await;
    let (s, _) = call(app, "PATCH", &format!("/api/tasks/{task}"), Some(&admin), Some(json!({"assigned_to": 4}))).await;
    assert_eq!(s, 200);
    let path = format!("/api/tasks/{task}/comments");
    let (s, comment) = call(app, "POST", &path, Some(carl), Some(json!({"message": "hi"}))).await;
    assert_eq!(s, 201, "{comment}");
    let r = app
        .client
        .post(app.url(&format!("/api/docs?filename=a.txt&task_id={task}")))
        .bearer_auth(carl)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    (task, comment["id"].as_u64().unwrap(), doc["id"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_meets_every_endpoint_as_the_matrix_says() {
    let app = secured_app().await;
    let mut tokens = BTreeMap::new();
    for (role, name) in ROLE_USERS {
        tokens.insert(role, token(&app, name).await);
    }
    let (task, comment, doc) = seed(&app, &tokens[&Role::Client]).await;
    let (_, spec) = call(&app, "GET", "/api/openapi.json", Some(&tokens[&Role::Admin]), None).await;
    let admin_only = AdminOnly::new(&Config::default().security.admin_only_endpoints);
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    // Deletes last, so nothing the others need is gone.
    operations.sort_by_key(|(m, _)| m == "DELETE");
    assert!(operations.len() > 40, "every operation of the catalog: {}", operations.len());
    let mut checked = 0;
    for (method, template) in &operations {
        // Tested on their own below: they change the caller's own session.
        if matches!(template.as_str(), "/ws" | "/api/auth/logout" | "/api/auth/password") {
            continue;
        }
        let path = template
            .replace("/api/tasks/{id}", &format!("/api/tasks/{task}"))
            .replace("/api/comments/{id}", &format!("/api/comments/{comment}"))
            .replace("/api/docs/{id}", &format!("/api/docs/{doc}"))
            .replace("/api/users/{id}", "/api/users/5")
            .replace("/jobs/{id}", "/jobs/daily_report")
            .replace("{id}", "999")
            .replace("{token}", "none")
            .replace("{name}", "none.tar.gz")
            .replace("{table}", "tasks")
            .replace("{user_id}", "2")
            .replace("{telegram_id}", "7777");
        let requirement = policy::requirement(method, template);
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then(|| json!({}));
        // Without a token: only the public routes answer.
        let (status, answer) = call(&app, method, &path, None, body.clone()).await;
        match requirement {
            // A login route may well answer 401 to an empty body, but not for want of a token.
            Requirement::Public => assert!(!answer.to_string().contains("log in first"), "{method} {path}: {answer}"),
            // /metrics from the loopback address needs no token.
            Requirement::Metrics => assert_eq!(status, 200, "{method} {path}"),
            _ => assert_eq!(status, 401, "{method} {path} needs a token: {answer}"),
        }
        for (role, _) in ROLE_USERS {
            let gate_allows = policy::allows(role, requirement, true)
                && !(role != Role::Admin && admin_only.covers(&path))
                || requirement == Requirement::Metrics;
            let mut request = app.client.request(method.parse().unwrap(), app.url(&path)).bearer_auth(&tokens[&role]);
            if let Some(b) = &body {
                request = request.json(b);
            }
            if method == "DELETE" {
                // A stale If-Match: allowed deletes stop at 412 instead of deleting.
                request = request.header("if-match", "\"stale\"");
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let detail = r.json::<Value>().await.ok().and_then(|v| v["detail"].as_str().map(str::to_string));
            let detail = detail.unwrap_or_default();
            let refused_by_gate = status == 403
                && (detail.contains(&format!("{method} {path}")) || detail.contains("admin_only_endpoints"));
            if gate_allows {
                let token_refused = status == 401 && requirement != Requirement::Public;
                assert!(!token_refused && !refused_by_gate, "{role} {method} {path}: {status} {detail}");
            } else {
                assert!(refused_by_gate, "{role} must be refused {method} {path}: {status} {detail}");
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} role × endpoint pairs");
    app.stop().await;
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(app: &TestApp, token: Option<&str>) -> Socket {
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    let url = format!("{}/ws{query}", app.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.expect("WebSocket connects").0
}

/// The next JSON message (pings skipped), or None within `wait`.
async fn next(ws: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_meets_every_websocket_topic_as_the_matrix_says() {
    let app = secured_app().await;
    let admin_only = AdminOnly::new(&Config::default().security.admin_only_endpoints);
    let topics = [
        ("tasks", Area::Tasks, "/api/tasks"),
        ("comments", Area::Comments, "/api/comments"),
        ("docs", Area::Docs, "/api/docs"),
        ("users", Area::Users, "/api/users"),
        ("events", Area::Events, "/api/events"),
        ("jobs", Area::System, "/api/system/scheduler"),
    ];
    for (role, name) in ROLE_USERS {
        let t = token(&app, name).await;
        // Half the sessions authenticate in the URL, half with their first message.
        let in_url = (role as u8).is_multiple_of(2);
        let mut socket = if in_url { ws(&app, Some(&t)).await } else { ws(&app, None).await };
        if !in_url {
            send(&mut socket, json!({"type": "subscribe", "id": "early", "topic": "tasks"})).await;
            let answer = next(&mut socket, Duration::from_secs(5)).await.unwrap();
            assert!(answer["message"].as_str().unwrap().contains("authenticate first"), "{answer}");
            send(&mut socket, json!({"type": "auth", "token": t})).await;
            let answer = next(&mut socket, Duration::from_secs(5)).await.unwrap();
            assert_eq!(answer["ok"], true, "{answer}");
        }
        for (topic, area, path) in topics {
            let allowed = policy::scope(role, area, policy::Action::Read) != Scope::None
                && !(role != Role::Admin && admin_only.covers(path));
            send(&mut socket, json!({"type": "subscribe", "id": topic, "topic": topic})).await;
            let answer = next(&mut socket, Duration::from_secs(5)).await.unwrap();
            let want = if allowed { "subscribed" } else { "error" };
            assert_eq!(answer["type"], want, "{role} subscribing to {topic}: {answer}");
        }
    }
    // A bad token in the URL does not authenticate; a bad auth message says so.
    let mut socket = ws(&app, Some("not-a-token")).await;
    send(&mut socket, json!({"type": "subscribe", "id": "s", "topic": "tasks"})).await;
    assert_eq!(next(&mut socket, Duration::from_secs(5)).await.unwrap()["type"], "error");
    send(&mut socket, json!({"type": "auth", "token": "forged"})).await;
    assert_eq!(next(&mut socket, Duration::from_secs(5)).await.unwrap()["ok"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_only_their_own_tasks_everywhere() {
    let app = secured_app().await;
    let carl = token(&app, "carl").await;
    let boris = token(&app, "boris").await;
    let (own, _, _) = seed(&app, &carl).await;
    let (s, other) = call(&app, "POST", "/api/tasks", Some(&boris), Some(json!({"title": "boris's"}))).await;
    assert_eq!(s, 201);
    let other = other["id"].as_u64().unwrap();
    // A WebSocket subscription, before the changes below.
    let mut socket = ws(&app, Some(&carl)).await;
    send(&mut socket, json!({"type": "subscribe", "id": "t", "topic": "tasks", "snapshot": true})).await;
    let snapshot = next(&mut socket, Duration::from_secs(5)).await.unwrap();
    let ids: Vec<u64> = snapshot["items"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [own], "snapshot: {snapshot}");
    assert_eq!(next(&mut socket, Duration::from_secs(5)).await.unwrap()["type"], "subscribed");

    let (_, list) = call(&app, "GET", "/api/tasks", Some(&carl), None).await;
    assert_eq!(list["total"], 1, "list: {list}");
    assert_eq!(list["items"][0]["id"], own);
    assert_eq!(call(&app, "GET", &format!("/api/tasks/{other}"), Some(&carl), None).await.0, 404);
    assert_eq!(call(&app, "GET", &format!("/api/tasks/{other}/history"), Some(&carl), None).await.0, 404);
    assert_eq!(call(&app, "GET", &format!("/api/tasks/{other}/comments"), Some(&carl), None).await.0, 404);
    assert_eq!(call(&app, "GET", &format!("/api/tasks/{own}/history"), Some(&carl), None).await.0, 200);
    let (s, _) = call(&app, "PATCH", &format!("/api/tasks/{other}"), Some(&carl), Some(json!({"title": "x"}))).await;
    assert_eq!(s, 404, "a task the client cannot read is not there for them");
    let r = app.client.get(app.url("/api/export/tasks.csv")).bearer_auth(&carl).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(csv.contains("carl's") && !csv.contains("boris's"), "export: {csv}");
    let (_, stats) = call(&app, "GET", "/api/stats", Some(&carl), None).await;
    assert_eq!(stats["total"].as_u64().or(stats["tasks"].as_u64()).unwrap_or(1), 1, "own stats: {stats}");
    // The client changes the title of their own new task, but nothing else.
    let own_path = format!("/api/tasks/{own}");
    assert_eq!(call(&app, "PATCH", &own_path, Some(&carl), Some(json!({"title": "mine"}))).await.0, 200);
    assert_eq!(call(&app, "PATCH", &own_path, Some(&carl), Some(json!({"status": "done"}))).await.0, 403);
    // boris (a member) updates the task assigned to him, and his own; not others'.
    assert_eq!(call(&app, "PATCH", &own_path, Some(&boris), Some(json!({"status": "in_progress"}))).await.0, 200);
    let mike = token(&app, "mike").await;
    let (_, third) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "mike's"}))).await;
    let third_path = format!("/api/tasks/{}", third["id"]);
    assert_eq!(call(&app, "PATCH", &third_path, Some(&boris), Some(json!({"title": "y"}))).await.0, 403);
    // Nobody but an admin says a record was made by someone else, or takes one over.
    let (s, _) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "z", "created_by": 5}))).await;
    assert_eq!(s, 403, "a manager may not hand a task to the client");
    let (s, _) = call(&app, "PATCH", &third_path, Some(&mike), Some(json!({"created_by": 5}))).await;
    assert_eq!(s, 403);
    assert_eq!(call(&app, "PATCH", &own_path, Some(&carl), Some(json!({"title": "late"}))).await.0, 403, "not new");

    // Over the WebSocket: the changes to carl's task arrive, those to the others never.
    let mut seen = Vec::new();
    while let Some(m) = next(&mut socket, Duration::from_millis(800)).await {
        if m["type"] == "change" {
            seen.push(m["id"].as_u64().unwrap());
        }
    }
    assert!(!seen.is_empty() && seen.iter().all(|id| *id == own), "client's feed: {seen:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_unsigned_tokens_are_refused() {
    let app = secured_app().await;
    let good = token(&app, "boris").await;
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&good), None).await.0, 200);
    let parts: Vec<&str> = good.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    // alg none, no signature.
    claims["sub"] = json!("1");
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let forged_claims = b64.encode(claims.to_string());
    let alg_none = format!("{none_header}.{forged_claims}.");
    // The payload changed to the admin's id, the old signature kept.
    let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    // Signed with another key.
    let other = taskboard::auth::tokens::Signer::new(&Secret("another-secret-key-0123456789".into()), 1, 7);
    let (wrong_key, _) = other.issue(1, claims["sid"].as_str().unwrap(), "access", chrono::Utc::now());
    // Signed with the right key, but expired; and one for a session that never was.
    let ours = taskboard::auth::tokens::Signer::new(&Secret(SECRET.into()), 1, 7);
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(3);
    let (expired, _) = ours.issue(4, claims["sid"].as_str().unwrap(), "access", long_ago);
    let (no_session, _) = ours.issue(1, "made-up-session", "access", chrono::Utc::now());
    // A refresh token is not an access token.
    let refresh = login(&app, "boris").await["refresh_token"].as_str().unwrap().to_string();
    for (name, bad) in [
        ("alg none", alg_none.as_str()),
        ("tampered", &tampered),
        ("wrong key", &wrong_key),
        ("expired", &expired),
        ("unknown session", &no_session),
        ("refresh as access", &refresh),
        ("garbage", "abc.def.ghi"),
    ] {
        let (status, body) = call(&app, "GET", "/api/tasks", Some(bad), None).await;
        assert_eq!(status, 401, "{name}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_reuse_revokes_and_logout_survives_a_restart() {
    let app = secured_app().await;
    let first = login(&app, "boris").await;
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let (s, second) = call(&app, "POST", "/api/auth/refresh", None, Some(json!({"refresh_token": old_refresh}))).await;
    assert_eq!(s, 200, "{second}");
    let new_access = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "GET", "/api/auth/me", Some(&new_access), None).await.1["username"], "boris");
    // The old refresh token again: a replay. The whole session ends.
    let (s, _) = call(&app, "POST", "/api/auth/refresh", None, Some(json!({"refresh_token": old_refresh}))).await;
    assert_eq!(s, 401);
    assert_eq!(call(&app, "GET", "/api/auth/me", Some(&new_access), None).await.0, 401, "session revoked");
    let new_refresh = second["refresh_token"].as_str().unwrap();
    let (s, _) = call(&app, "POST", "/api/auth/refresh", None, Some(json!({"refresh_token": new_refresh}))).await;
    assert_eq!(s, 401, "the newer refresh token is revoked with its session");
    let admin = token(&app, "anna").await;
    let (_, events) = call(&app, "GET", "/api/events?type=token.reuse_detected", Some(&admin), None).await;
    assert_eq!(events["total"], 1, "{events}");

    // Logout, then a restart: the token stays refused.
    let access = token(&app, "sue").await;
    assert_eq!(call(&app, "POST", "/api/auth/logout", Some(&access), None).await.0, 204);
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&access), None).await.0, 401);
    let still = token(&app, "mike").await;
    let data = app.data();
    let dir = app.stop().await;
    let mut config = crate::common::test_config(&data);
    secure(&mut config, dir.path());
    let app = TestApp::start_in(dir, config).await;
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&access), None).await.0, 401, "revocation survives");
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&still), None).await.0, 200, "other sessions survive too");
    let (_, events) = call(&app, "GET", "/api/events?type=user.login,user.logout", Some(&still), None).await;
    assert!(events["total"].as_u64().unwrap() >= 5, "{events}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_or_demoting_by_editing_users_csv_applies_at_once() {
    let app = secured_app().await;
    let boris = token(&app, "boris").await;
    let mike = token(&app, "mike").await;
    assert_eq!(call(&app, "GET", "/api/events", Some(&mike), None).await.0, 200, "a manager reads events");
    // A person edits users.csv: boris is deactivated, mike becomes a client.
    let path = app.data().join("users.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text
        .replace(
            "4,boris,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true",
            "4,boris,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,false",
        )
        .replace("2,mike,,manager,", "2,mike,,client,");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let refused = call(&app, "GET", "/api/tasks", Some(&boris), None).await.0 == 401;
        let demoted = call(&app, "GET", "/api/events", Some(&mike), None).await.0 == 403;
        if refused && demoted {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the edit applies within a second or so");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same through the API: the admin deactivates sue; her next request is refused.
    let sue = token(&app, "sue").await;
    let anna = token(&app, "anna").await;
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&sue), None).await.0, 200);
    assert_eq!(call(&app, "DELETE", "/api/users/3", Some(&anna), None).await.0, 200);
    assert_eq!(call(&app, "GET", "/api/tasks", Some(&sue), None).await.0, 401);
    // Deactivated users cannot log in either; olga was never active.
    for name in ["boris", "olga"] {
        let r = app.post("/api/auth/login", json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(r.status(), 401, "{name}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_expire_follow_the_policy_and_brute_force_meets_429() {
    let app = secured_app().await;
    // A password older than 90 days: only changing it is allowed.
    let old = login(&app, "oldpw").await;
    assert_eq!(old["must_change_password"], true);
    let access = old["access_token"].as_str().unwrap();
    assert_eq!(call(&app, "GET", "/api/tasks", Some(access), None).await.0, 403);
    let weak = json!({"current_password": PASSWORD, "new_password": "password"});
    let (s, body) = call(&app, "PUT", "/api/auth/password", Some(access), Some(weak)).await;
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("an upper-case letter"), "{body}");
    let good = json!({"current_password": PASSWORD, "new_password": "N3w-Passw0rd!"});
    let (s, fresh) = call(&app, "PUT", "/api/auth/password", Some(access), Some(good)).await;
    assert_eq!(s, 200, "{fresh}");
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(call(&app, "GET", "/api/tasks", Some(fresh), None).await.0, 200);
    let r = app.post("/api/auth/login", json!({"username": "oldpw", "password": "N3w-Passw0rd!"})).await;
    assert_eq!(r.status(), 200);

    let manager = token(&app, "mike").await;
    // Guessing: slowed down, then locked with Retry-After (the address too).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = app.post("/api/auth/login", json!({"username": "anna", "password": "Wrong-Guess1!"})).await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401), "{statuses:?}");
    let r = app.post("/api/auth/login", json!({"username": "anna", "password": PASSWORD})).await;
    assert_eq!(r.status(), 429, "locked even for the right password");
    let (_, events) = call(&app, "GET", "/api/events?type=user.login_failed", Some(&manager), None).await;
    assert!(events["total"].as_u64().unwrap() >= 8, "{events}");
    let text = events.to_string();
    assert!(text.contains("wrong password") && !text.contains("Wrong-Guess1!"), "the reason, never the password");
    let r = app.post("/api/auth/login", json!({"username": "nobody", "password": "x"})).await;
    assert!(r.status() == 401 || r.status() == 429);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_per_minute_limit_meet_429() {
    let app = secured_app_with(|c| c.security.rate_limiting.requests_per_minute = 5).await;
    let t = token(&app, "boris").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app.client.get(app.url("/api/tasks")).bearer_auth(&t).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait));
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3, "{statuses:?}");
    app.stop().await;
}

/// A Login Widget payload signed as Telegram signs it.
pub(crate) fn widget(fields: &[(&str, String)], bot_token: &str) -> Value {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<_> = fields.to_vec();
    sorted.sort();
    let check = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let key = Sha256::digest(bot_token.as_bytes());
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(check.as_bytes());
    let hash: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut body = serde_json::Map::new();
    for (k, v) in fields {
        body.insert(k.to_string(), json!(v));
    }
    body.insert("hash".into(), json!(hash));
    Value::Object(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_logins_are_verified_and_bound_to_the_account() {
    let app = secured_app().await;
    let now = chrono::Utc::now().timestamp();
    let payload = |id: &str, username: &str, at: i64, token: &str| {
        widget(&[("id", id.into()), ("username", username.into()), ("auth_date", at.to_string())], token)
    };
    let post = |body: Value| async { app.post("/api/auth/telegram", body).await.status().as_u16() };
    // Not signed by our bot, changed after signing, too old, or an unknown user.
    assert_eq!(post(payload("777", "tanya_tg", now, "999:other-bot")).await, 401);
    let mut tampered = payload("777", "tanya_tg", now, BOT_TOKEN);
    tampered["id"] = json!("778");
    assert_eq!(post(tampered).await, 401);
    assert_eq!(post(payload("777", "tanya_tg", now - 2 * 86_400, BOT_TOKEN)).await, 401, "replayed old login");
    assert_eq!(post(payload("555", "stranger", now, BOT_TOKEN)).await, 401, "not in users.csv");
    // The first login binds the Telegram id (usernames match in any case).
    assert_eq!(post(payload("777", "Tanya_TG", now, BOT_TOKEN)).await, 200);
    let users = std::fs::read_to_string(app.data().join("users.csv")).unwrap_or_default();
    let anna = token(&app, "anna").await;
    let (_, tanya) = call(&app, "GET", "/api/users/7", Some(&anna), None).await;
    assert_eq!(tanya["telegram_id"], "777", "{tanya} {users}");
    // Renamed on Telegram: still tanya. Someone else with her username: refused.
    assert_eq!(post(payload("777", "tanya_new_name", now, BOT_TOKEN)).await, 200);
    assert_eq!(post(payload("888", "tanya_tg", now, BOT_TOKEN)).await, 401);
    // A stranger whose Telegram username is a manager's login gets no session: a staff
    // account is first linked through the bot, where an admin confirms it.
    let r = app.post("/api/auth/telegram", payload("999", "mike", now, BOT_TOKEN)).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("through the bot first"));
    let (_, mike) = call(&app, "GET", "/api/users/2", Some(&anna), None).await;
    assert_eq!(mike["telegram_id"], Value::Null, "{mike}");
    app.stop().await;
}

/// The server as a child process with security on and DEBUG logs under `dir/logs`, on
/// the users of `prepare` in `dir/data`: for tests that read the log files.
pub(crate) fn logged_server(dir: &Path, validation: &str, env: &[(&str, &str)]) -> crate::common::ServerProcess {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    prepare(&data);
    let config = dir.join("config.yaml");
    let yaml = format!(
        "security:\n  enabled: true\n  validation_method: {validation}\nlogging:\n  file_path: {}/logs/task_system.log\n  level: DEBUG\n\
         telegram:\n  api_url: http://127.0.0.1:9\n",
        dir.display()
    );
    std::fs::write(&config, yaml).unwrap();
    crate::common::ServerProcess::start_with(&config, &data, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_password_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = logged_server(dir.path(), "both", &[("SECRET_KEY", SECRET), ("TELEGRAM_BOT_TOKEN", BOT_TOKEN)]);
    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        let client = client.clone();
        let url = format!("{}/api/auth/login", server.base);
        async move { client.post(url).json(&json!({"username": "anna", "password": password})).send().await.unwrap() }
    };
    assert_eq!(login("Wrong-Guess1!").await.status(), 401);
    let tokens: Value = login(PASSWORD).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let r = client.get(format!("{}/api/tasks", server.base)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(format!("{}/api/health", server.base)).bearer_auth(&access).send().await.unwrap();
    let health = r.text().await.unwrap();
    assert!(health.contains("\"config\""), "an admin sees the details");
    assert_eq!(client.get(format!("{}/api/health", server.base)).send().await.unwrap().status(), 200);
    assert!(server.terminate().success());
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir.path().join("logs")).unwrap().flatten() {
        logs.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    assert!(logs.contains("login failed"), "the log has the security lines: {logs}");
    for secret in
        [SECRET, BOT_TOKEN, PASSWORD, "Wrong-Guess1!", &access, tokens["refresh_token"].as_str().unwrap(), hash()]
    {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!health.contains(secret), "a secret reached /api/health");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_login_requests_get_clear_errors() {
    let app = secured_app().await;
    let raw = |path: &'static str, body: &'static str| {
        let request = app.client.post(app.url(path)).header("content-type", "application/json").body(body);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap()["detail"].as_str().unwrap_or("").to_string())
        }
    };
    let (s, detail) = raw("/api/auth/login", "{not json").await;
    assert_eq!(s, 400, "{detail}");
    let (s, detail) = raw("/api/auth/login", r#"{"username": "anna"}"#).await;
    assert!(s == 400 && detail.contains("password"), "a missing field is named: {detail}");
    let (s, detail) = raw("/api/auth/login", r#"{"username": "anna", "password": "x", "otp": 1}"#).await;
    assert!(s == 400 && detail.contains("otp"), "an unknown field is named: {detail}");
    let (s, detail) = raw("/api/auth/telegram", r#"{"id": {"nested": true}, "hash": "00"}"#).await;
    assert!(s == 400 && detail.contains("id"), "{detail}");
    let (s, _) = raw("/api/auth/refresh", r#"{"refresh_token": "garbage"}"#).await;
    assert_eq!(s, 401);
    let big = Box::leak(format!(r#"{{"username": "{}", "password": "x"}}"#, "a".repeat(100_000)).into_boxed_str());
    assert_eq!(raw("/api/auth/login", big).await.0, 413, "login bodies are small");
    // None of it logged anyone in or stored anything.
    let anna = token(&app, "anna").await;
    let (_, events) = call(&app, "GET", "/api/events?type=user.login", Some(&anna), None).await;
    assert_eq!(events["total"], 1, "only anna's real login: {events}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_onboards_and_resets_passwords_over_the_api_and_staff_see_the_directory() {
    let app = secured_app().await;
    let admin = token(&app, "anna").await;
    // A weak initial password adds nobody.
    let body = json!({"username": "nina", "role": "member", "password": "short"});
    let (s, problem) = call(&app, "POST", "/api/users", Some(&admin), Some(body)).await;
    assert_eq!(s, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "password", "{problem}");
    let (_, found) = call(&app, "GET", "/api/users?username=nina", Some(&admin), None).await;
    assert_eq!(found["total"], 0);
    // With a good one, the new user logs in at once, without a restart.
    let body = json!({"username": "nina", "role": "member", "password": "Nina-Start-2026!"});
    let (s, nina) = call(&app, "POST", "/api/users", Some(&admin), Some(body)).await;
    assert_eq!(s, 201, "{nina}");
    assert!(nina.get("password").is_none() && nina.get("password_hash").is_none(), "{nina}");
    let nina_id = nina["id"].as_u64().unwrap();
    let login = |pw: &'static str| app.post("/api/auth/login", json!({"username": "nina", "password": pw}));
    let first = login("Nina-Start-2026!").await;
    assert_eq!(first.status(), 200);
    let nina_token = first.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "GET", "/api/auth/me", Some(&nina_token), None).await.0, 200);
    // Reset by the admin: the old password stops working, the new one works, and the
    // sessions opened with the old one end.
    let path = format!("/api/users/{nina_id}/password");
    let (s, _) = call(&app, "PUT", &path, Some(&admin), Some(json!({"password": "Nina-Reset-2026!"}))).await;
    assert_eq!(s, 204);
    assert_eq!(call(&app, "GET", "/api/auth/me", Some(&nina_token), None).await.0, 401, "her old session ended");
    assert_eq!(login("Nina-Start-2026!").await.status(), 401);
    assert_eq!(login("Nina-Reset-2026!").await.status(), 200);
    let (s, _) = call(&app, "PUT", &path, Some(&admin), Some(json!({"pasword": "Nina-Reset-2026!"}))).await;
    assert_eq!(s, 422, "a misspelt field is named, not ignored");
    // Nobody else sets passwords.
    let mike = token(&app, "mike").await;
    let (s, _) = call(&app, "PUT", &path, Some(&mike), Some(json!({"password": "Mike-Took-2026!"}))).await;
    assert_eq!(s, 403);
    // A manager cannot list users, but sees whom work can go to: active users only,
    // with id, username, role, how they are shown, and their phone.
    let (s, _) = call(&app, "GET", "/api/users", Some(&mike), None).await;
    assert_eq!(s, 403);
    let (s, directory) = call(&app, "GET", "/api/directory", Some(&mike), None).await;
    assert_eq!(s, 200, "{directory}");
    let items = directory["items"].as_array().unwrap();
    assert!(
        items.iter().any(|u| u
            == &json!({"id": 4, "username": "boris", "role": "member", "full_name": "", "name": "boris", "phone": ""})),
        "{directory}"
    );
    assert!(!items.iter().any(|u| u["username"] == "olga"), "deactivated users are not offered: {directory}");
    assert!(items.iter().any(|u| u["username"] == "nina"));
    let boris = token(&app, "boris").await;
    assert_eq!(call(&app, "GET", "/api/directory", Some(&boris), None).await.0, 200);
    let carl = token(&app, "carl").await;
    // A client sees only the people on their own requests, by name, without phones.
    let (s, theirs) = call(&app, "GET", "/api/directory", Some(&carl), None).await;
    assert_eq!(s, 200, "{theirs}");
    assert!(theirs["items"].as_array().unwrap().iter().all(|u| u["phone"] == "" && u["role"] == ""), "{theirs}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_typos_lock_their_account_not_everyone_behind_the_same_address() {
    let app = secured_app().await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = app.post("/api/auth/login", json!({"username": "boris", "password": "Wrong-Guess1!"})).await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "boris's account locks: {statuses:?}");
    // Everyone else at the same address (every test request comes from 127.0.0.1) logs in.
    for name in ["anna", "mike", "sue"] {
        let r = app.post("/api/auth/login", json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(r.status(), 200, "{name} is not locked out by boris's typos");
    }
    app.stop().await;
}
