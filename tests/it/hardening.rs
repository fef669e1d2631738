//! What trying the release as a new user, and attacking it, found: each test guards
//! one of those defects, named after what it keeps from coming back.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestApp, USERS_CSV};

async fn app_with_users() -> TestApp {
    TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_only_active_admin_cannot_lock_everyone_out_of_administration() {
    let app = app_with_users().await;
    // anna (1) is the only admin.
    for body in [json!({"role": "member"}), json!({"is_active": false})] {
        let (status, problem) = status_and_body(app.patch("/api/users/1", body.clone()).await).await;
        assert_eq!(status, 409, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("only active admin"), "{problem}");
    }
    let r = app.client.delete(app.url("/api/users/1")).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(app.get_json("/api/users/1").await["role"], "admin");
    assert_eq!(app.get_json("/api/users/1").await["is_active"], true);
    // With a second active admin, the first may step down.
    assert_eq!(app.post("/api/users", json!({"username": "vera", "role": "admin"})).await.status(), 201);
    assert_eq!(app.patch("/api/users/1", json!({"role": "manager"})).await.status(), 200);
    // And now vera is the only one.
    let vera = app.get_json("/api/users?username=vera").await["items"][0]["id"].as_u64().unwrap();
    assert_eq!(app.patch(&format!("/api/users/{vera}"), json!({"is_active": false})).await.status(), 409);
    app.stop().await;
}

#[tokio::test]
async fn a_plain_get_of_the_websocket_path_says_upgrade_required() {
    let app = TestApp::spawn().await;
    let r = app.get("/ws").await;
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["upgrade"], "websocket");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

#[tokio::test]
async fn resume_before_any_subscription_is_refused_not_falsely_resumed() {
    let app = app_with_users().await;
    assert_eq!(app.post("/api/tasks", json!({"title": "missed"})).await.status(), 201);
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(json!({"type": "resume", "after_event_id": 0}).to_string())).await.unwrap();
    let reply = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Text(text) => break serde_json::from_str::<Value>(&text).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("subscribe first"), "{reply}");
    app.stop().await;
}

#[tokio::test]
async fn a_task_due_today_is_not_overdue_before_the_day_ends_in_the_scheduler_zone() {
    let app = app_with_users().await;
    let zone: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
    let today = chrono::Utc::now().with_timezone(&zone).date_naive();
    let yesterday = today.pred_opt().unwrap();
    for (title, due) in [("due today", today), ("due yesterday", yesterday)] {
        let body = json!({"title": title, "due_date": due.format("%Y-%m-%d").to_string()});
        assert_eq!(app.post("/api/tasks", body).await.status(), 201);
    }
    let overdue = app.get_json("/api/tasks?overdue=true").await;
    let titles: Vec<&str> = overdue["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["due yesterday"]);
    assert_eq!(app.get_json("/api/stats").await["overdue"], 1);
    app.stop().await;
}
