//! Edits to the CSV files while the server runs, and the WebSocket change feed, with a
//! real WebSocket client.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestApp, USERS_CSV};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp) -> Socket {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.expect("WebSocket connects").0
}

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The JSON messages that arrive within `wait` (pings skipped).
async fn collect(ws: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Text(text) = message {
            out.push(serde_json::from_str(&text).unwrap());
        }
    }
    out
}

/// Waits for the first message of `kind`, returning it and what came before.
async fn until(ws: &mut Socket, kind: &str, wait: Duration) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == kind {
                    return (value, before);
                }
                before.push(value);
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no {kind:?} message within {wait:?} ({other:?}); got {before:?}"),
        }
    }
}

fn changes(messages: &[Value]) -> Vec<(String, u64, String)> {
    messages
        .iter()
        .filter(|m| m["type"] == "change")
        .map(|m| {
            (
                m["op"].as_str().unwrap().to_string(),
                m["id"].as_u64().unwrap(),
                m["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn app_with_tasks(n: usize) -> TestApp {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    for i in 1..=n {
        assert_eq!(app.post("/api/tasks", json!({"title": format!("task {i}")})).await.status(), 201);
    }
    if !crate::common::pg::shared_suites_on_postgres() {
        wait_folded(&app.data().join("tasks.csv"), &format!("{n},task {n},")).await;
    }
    app
}

async fn wait_folded(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(path).unwrap_or_default().contains(needle) {
        assert!(Instant::now() < deadline, "{needle:?} reaches {}", path.display());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_of_saving_a_file_gives_exactly_its_changes_and_own_writes_give_none() {
    if crate::common::pg::skip_on_postgres(
        "every_way_of_saving_a_file_gives_exactly_its_changes_and_own_writes_give_none",
        "a person's edit of a CSV file",
    ) {
        return;
    }
    let app = app_with_tasks(3).await;
    let path = app.data().join("tasks.csv");
    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "s1", "topic": "tasks"})).await;
    until(&mut ws, "subscribed", Duration::from_secs(2)).await;

    // The server's own write: one change from the API, then nothing when it is folded.
    app.patch("/api/tasks/1", json!({"title": "from the api"})).await;
    let got = collect(&mut ws, Duration::from_millis(1500)).await;
    assert_eq!(changes(&got), [("update".into(), 1, "api".into())], "{got:?}");

    // In place (vim with backupcopy=yes): the same file truncated and rewritten.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    f.write_all(text.replace("2,task 2,", "2,edited in place,").as_bytes()).unwrap();
    drop(f);
    let got = collect(&mut ws, Duration::from_millis(1000)).await;
    assert_eq!(changes(&got), [("update".into(), 2, "file".into())], "{got:?}");
    let change = got.iter().find(|m| m["type"] == "change").unwrap();
    assert_eq!(
        (change["before"]["title"].as_str(), change["after"]["title"].as_str()),
        (Some("task 2"), Some("edited in place"))
    );

    // A script appending a line.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"4,appended by a script,,new,low,,,,,,\n").unwrap();
    drop(f);
    let got = collect(&mut ws, Duration::from_millis(1000)).await;
    assert_eq!(changes(&got), [("create".into(), 4, "file".into())], "{got:?}");

    // Most editors and LibreOffice: a temporary file renamed over the table.
    let text = std::fs::read_to_string(&path).unwrap();
    let temp = app.data().join("tasks.csv.swp~");
    std::fs::write(&temp, text.replace("3,task 3,,new,", "3,task 3,,in_progress,")).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let got = collect(&mut ws, Duration::from_millis(1000)).await;
    assert_eq!(changes(&got), [("update".into(), 3, "file".into())], "{got:?}");

    // Delete and recreate.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&path, text.lines().filter(|l| !l.starts_with("4,")).map(|l| format!("{l}\n")).collect::<String>())
        .unwrap();
    let got = collect(&mut ws, Duration::from_millis(1000)).await;
    assert_eq!(changes(&got), [("delete".into(), 4, "file".into())], "{got:?}");

    // Each file change is also an event with source file.
    let events = app.get_json("/api/events?source=file&fields=type,entity_id").await;
    assert_eq!(events["total"], 4, "{events}");
    assert_eq!(app.get_json("/api/tasks/2").await["title"], "edited in place");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_edits_lose_nothing_and_a_true_conflict_is_recorded() {
    if crate::common::pg::skip_on_postgres(
        "racing_edits_lose_nothing_and_a_true_conflict_is_recorded",
        "a person's edit of a CSV file",
    ) {
        return;
    }
    let app = app_with_tasks(8).await;
    let path = app.data().join("tasks.csv");
    // The person opens the file...
    let opened = std::fs::read_to_string(&path).unwrap();
    // ...meanwhile the API changes task 5, and task 6's title.
    app.patch("/api/tasks/5", json!({"status": "done"})).await;
    app.patch("/api/tasks/6", json!({"title": "api title"})).await;
    wait_folded(&path, "5,task 5,,done,").await;
    // ...and the person saves their copy with their own changes to tasks 7 and 6.
    let saved = opened.replace("7,task 7,,new,", "7,task 7,,in_progress,").replace("6,task 6,", "6,person title,");
    std::fs::write(&path, saved).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while app.get_json("/api/tasks/7").await["status"] != "in_progress" {
        assert!(Instant::now() < deadline, "the person's change is taken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.get_json("/api/tasks/5").await["status"], "done", "a stale value in the file does not undo the API");
    assert_eq!(app.get_json("/api/tasks/6").await["title"], "person title", "on a true conflict the file wins");
    let conflicts = app.get_json("/api/events?type=conflict.merged").await;
    assert_eq!(conflicts["total"], 1);
    assert_eq!(conflicts["items"][0]["data"]["server"], "api title", "and the other value is kept in the event");
    let dir = app.stop().await;
    let text = std::fs::read_to_string(dir.path().join("data/tasks.csv")).unwrap();
    assert!(
        text.contains("5,task 5,,done,") && text.contains("7,task 7,,in_progress,") && text.contains("6,person title,"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_filter_with_snapshot_and_left() {
    let app = app_with_tasks(3).await;
    app.patch("/api/tasks/3", json!({"status": "done"})).await;
    let mut ws = connect(&app).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "new", "topic": "tasks", "filter": {"status": "new"}, "snapshot": true}),
    )
    .await;
    let (snapshot, _) = until(&mut ws, "snapshot", Duration::from_secs(2)).await;
    let ids: Vec<u64> = snapshot["items"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2]);
    until(&mut ws, "subscribed", Duration::from_secs(2)).await;
    app.patch("/api/tasks/1", json!({"status": "in_progress"})).await; // leaves the filter
    app.patch("/api/tasks/3", json!({"status": "new"})).await; // enters it
    app.patch("/api/tasks/2", json!({"priority": "high"})).await; // stays in it
    let got = collect(&mut ws, Duration::from_millis(800)).await;
    let kinds: Vec<(String, u64)> =
        got.iter().map(|m| (m["type"].as_str().unwrap().to_string(), m["id"].as_u64().unwrap_or(0))).collect();
    assert_eq!(kinds, [("left".into(), 1), ("change".into(), 3), ("change".into(), 2)], "{got:?}");
    // One record's topic, ping, and bad input.
    send(&mut ws, json!({"type": "subscribe", "id": "one", "topic": "tasks/2"})).await;
    send(&mut ws, json!({"type": "ping"})).await;
    send(&mut ws, json!({"type": "subscribe", "id": "bad", "topic": "secrets"})).await;
    let got = collect(&mut ws, Duration::from_millis(500)).await;
    assert!(got.iter().any(|m| m["type"] == "pong"));
    assert!(got.iter().any(|m| m["type"] == "error" && m["sub"] == "bad"));
    app.patch("/api/tasks/2", json!({"title": "renamed"})).await;
    let got = collect(&mut ws, Duration::from_millis(500)).await;
    let subs: Vec<&str> = got.iter().filter(|m| m["type"] == "change").map(|m| m["sub"].as_str().unwrap()).collect();
    assert_eq!(subs.len(), 2, "both subscriptions see task 2: {got:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_restart_loses_nothing() {
    let app = app_with_tasks(2).await;
    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "s", "topic": "tasks"})).await;
    let (subscribed, _) = until(&mut ws, "subscribed", Duration::from_secs(2)).await;
    let seen = subscribed["event_id"].as_u64().unwrap();
    drop(ws);
    let config = crate::common::test_config(&app.data());
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, config.clone()).await;
    app.patch("/api/tasks/1", json!({"status": "done"})).await;
    app.post("/api/tasks", json!({"title": "made while the client was away"})).await;
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, config).await;
    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "s", "topic": "tasks"})).await;
    send(&mut ws, json!({"type": "resume", "after_event_id": seen})).await;
    let (resumed, before) = until(&mut ws, "resumed", Duration::from_secs(2)).await;
    let got = changes(&before);
    assert_eq!(got, [("update".into(), 1, "api".into()), ("create".into(), 3, "api".into())], "{before:?}");
    assert_eq!(resumed["event_id"], seen + 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_delay_another() {
    let app = app_with_tasks(1).await;
    let mut stuck = connect(&app).await;
    send(&mut stuck, json!({"type": "subscribe", "id": "s", "topic": "tasks"})).await;
    let mut live = connect(&app).await;
    send(&mut live, json!({"type": "subscribe", "id": "s", "topic": "tasks"})).await;
    until(&mut live, "subscribed", Duration::from_secs(2)).await;
    // `stuck` never reads again. Writes go on; `live` gets each one promptly.
    let big = "y".repeat(4000);
    let mut worst = Duration::ZERO;
    for i in 0..300 {
        app.patch("/api/tasks/1", json!({"description": format!("{i} {big}")})).await;
        let sent = Instant::now();
        let (change, _) = until(&mut live, "change", Duration::from_secs(2)).await;
        worst = worst.max(sent.elapsed());
        assert!(change["after"]["description"].as_str().unwrap().starts_with(&format!("{i} ")));
    }
    assert!(worst < Duration::from_millis(500), "the live client waited {worst:?}");
    assert_eq!(app.get("/api/health").await.status(), 200);
    drop(stuck);
    app.stop().await;
}

#[tokio::test]
async fn the_feed_tells_each_records_etag_so_a_board_can_change_what_it_was_shown() {
    let app = app_with_tasks(2).await;
    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "t", "topic": "tasks", "snapshot": true})).await;
    let (snapshot, _) = until(&mut ws, "snapshot", Duration::from_secs(5)).await;
    let shown = snapshot["etags"]["1"].as_str().expect("the snapshot names task 1's ETag").to_string();
    let current = app.get("/api/tasks/1").await.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(shown, current);
    // A change made elsewhere arrives with the new ETag, which then works in If-Match.
    let r = app
        .client
        .patch(app.url("/api/tasks/1"))
        .header("if-match", &shown)
        .json(&json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (change, _) = until(&mut ws, "change", Duration::from_secs(5)).await;
    let next = change["etag"].as_str().expect("a live change carries the ETag").to_string();
    assert_eq!(next, r.headers()["etag"].to_str().unwrap());
    let stale = app
        .client
        .patch(app.url("/api/tasks/1"))
        .header("if-match", &shown)
        .json(&json!({"status": "new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412, "the version the board was shown before is stale now");
    let fresh = app
        .client
        .patch(app.url("/api/tasks/1"))
        .header("if-match", &next)
        .json(&json!({"status": "new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    app.stop().await;
}

/// `GET /api/live/{topic}`: where a board starts, over HTTP so that it is compressed;
/// only the columns asked for, each record's ETag, and an event id that /ws resumes
/// from without missing a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_view_starts_from_a_compressed_projection_and_resumes_from_its_event_id() {
    let app = app_with_tasks(3).await;
    app.patch("/api/tasks/2", json!({"description": "a long description the cards do not need"})).await;
    let plain = app.client.get(app.url("/api/live/tasks?fields=title,status")).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    let start: Value = plain.json().await.unwrap();
    let items = start["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for item in items {
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 3, "id, title and status only: {item}");
        assert!(keys.contains(&"id") && keys.contains(&"title") && keys.contains(&"status"), "{item}");
    }
    assert_eq!(start["etags"].as_object().unwrap().len(), 3);
    let from = start["event_id"].as_u64().unwrap();

    // Compressed when the client accepts it (reqwest here is built without gzip, so
    // the bytes are read as they come).
    let raw = app.client.get(app.url("/api/live/tasks")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(raw.headers()["content-encoding"], "gzip");
    let bytes = raw.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
    assert!(text.contains("a long description"), "without fields, every column: {text}");

    // Refused clearly: an unknown column, an unknown topic, an unknown parameter.
    for (path, status) in
        [("/api/live/tasks?fields=title,nope", 400), ("/api/live/events", 404), ("/api/live/tasks?page=2", 400)]
    {
        let r = app.get(path).await;
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{path}: {body}");
    }

    // A change made after the start reaches a socket that resumes from its event id.
    app.patch("/api/tasks/1", json!({"status": "done"})).await;
    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "t", "topic": "tasks"})).await;
    send(&mut ws, json!({"type": "resume", "after_event_id": from})).await;
    let (_, before) = until(&mut ws, "resumed", Duration::from_secs(2)).await;
    assert_eq!(changes(&before), [("update".into(), 1, "api".into())], "{before:?}");
    // The socket's own snapshot takes the same projection.
    send(&mut ws, json!({"type": "subscribe", "id": "cards", "topic": "tasks", "snapshot": true, "fields": ["title"]}))
        .await;
    let (snapshot, _) = until(&mut ws, "snapshot", Duration::from_secs(2)).await;
    for item in snapshot["items"].as_array().unwrap() {
        assert_eq!(item.as_object().unwrap().len(), 2, "id and title: {item}");
    }
    send(&mut ws, json!({"type": "subscribe", "id": "bad", "topic": "tasks", "snapshot": true, "fields": "title"}))
        .await;
    let (error, _) = until(&mut ws, "error", Duration::from_secs(2)).await;
    assert!(error["message"].as_str().unwrap().contains("fields"), "{error}");
    app.stop().await;
}

/// A live view tells when each task turns overdue (`due_at`), by the server's rule: a
/// date alone ends at midnight in `scheduler.timezone`, a timestamp is that moment; a
/// change to the due date brings the new moment with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_view_carries_when_each_task_turns_overdue() {
    let app = TestApp::spawn_with(|_| {}, |c| c.scheduler.timezone = "Europe/Moscow".into()).await;
    for (title, due) in [("date", "2026-12-01"), ("moment", "2026-12-01T09:00:00Z")] {
        assert_eq!(app.post("/api/tasks", json!({"title": title, "due_date": due})).await.status(), 201);
    }
    assert_eq!(app.post("/api/tasks", json!({"title": "undated"})).await.status(), 201);
    let start: Value = app.get("/api/live/tasks?fields=title,due_date").await.json().await.unwrap();
    let due_at = |title: &str| {
        start["items"].as_array().unwrap().iter().find(|t| t["title"] == title).unwrap().get("due_at").cloned()
    };
    assert_eq!(due_at("date"), Some(json!("2026-12-01T21:00:00Z")), "midnight after the day, in Moscow");
    assert_eq!(due_at("moment"), Some(json!("2026-12-01T09:00:00Z")));
    assert_eq!(due_at("undated"), None);

    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "subscribe", "id": "t", "topic": "tasks"})).await;
    until(&mut ws, "subscribed", Duration::from_secs(2)).await;
    app.patch("/api/tasks/1", json!({"due_date": "2026-12-24"})).await;
    let (change, _) = until(&mut ws, "change", Duration::from_secs(2)).await;
    assert_eq!(change["after"]["due_at"], "2026-12-24T21:00:00Z", "{change}");
    app.stop().await;
}
