//! "A broken file stops nobody": a person saves tasks.csv with a line that does not
//! parse; the team goes on writing (journal and memory), the file is left byte for
//! byte, the admins are told where, and the person's fix is merged with everything
//! written meanwhile. Also across a kill -9 while the file is still broken.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_telegram::FakeTelegram;
use crate::common::{ServerProcess, TestApp, USERS_CSV};
use crate::telegram::{TOKEN, bot_app_with};

/// What the issue saw typed: a comma inside an address, no quotes.
const BROKEN_LINE: &str = "2002,Fridge not cooling - Mira 3, apt 14,\n";
const FIXED_LINE: &str = "2002,\"Fridge not cooling - Mira 3, apt 14\",,new,medium,,,,,,\n";

fn on_postgres(name: &str) -> bool {
    crate::common::pg::skip_on_postgres(name, "a person's edit of a CSV file")
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_writes_while_the_file_is_broken_all_land_with_the_persons_fix() {
    if on_postgres("fifty_writes_while_the_file_is_broken_all_land_with_the_persons_fix") {
        return;
    }
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    for i in 1..=2 {
        assert_eq!(app.post("/api/tasks", json!({"title": format!("task {i}")})).await.status(), 201);
    }
    let path = app.data().join("tasks.csv");
    wait_until("the tasks reach the file", || async { read(&path).contains("2,task 2,") }).await;
    let opened = read(&path);
    let broken = format!("{opened}{BROKEN_LINE}");
    std::fs::write(&path, &broken).unwrap();
    wait_until("the save is refused", || async { app.get_json("/api/events?type=file.rejected").await["total"] == 1 })
        .await;

    // 50 writes while it is broken: every one acknowledged.
    let mut created = Vec::new();
    for i in 0..25 {
        let r = app.post("/api/tasks", json!({"title": format!("while broken {i}")})).await;
        assert_eq!(r.status(), 201, "a write while the file is broken");
        created.push(r.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
        let r = app.patch("/api/tasks/1", json!({"description": format!("visit {i}")})).await;
        assert_eq!(r.status(), 200);
    }
    // Served from memory; the person's file is left exactly as saved.
    assert_eq!(app.get_json(&format!("/api/tasks/{}", created[24])).await["title"], "while broken 24");
    let health = app.get_json("/api/health").await;
    assert_eq!(health["status"], "degraded");
    let broken_files = health["broken_files"].as_array().unwrap();
    assert_eq!(broken_files.len(), 1, "{health}");
    assert!(broken_files[0]["problem"].as_str().unwrap().starts_with("tasks.csv:4:"), "{health}");
    assert_eq!(broken_files[0]["writable"], true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(read(&path), broken, "no byte written to the broken file");

    // The person fixes their line and changes task 2 in the same save.
    let fixed = format!("{}{FIXED_LINE}", opened.replace("2,task 2,", "2,task 2 (checked),"));
    std::fs::write(&path, &fixed).unwrap();
    wait_until("the fix is merged", || async { app.get("/api/tasks/2002").await.status() == 200 }).await;
    assert_eq!(app.get_json("/api/tasks/2002").await["title"], "Fridge not cooling - Mira 3, apt 14");
    assert_eq!(app.get_json("/api/tasks/2").await["title"], "task 2 (checked)");
    assert_eq!(app.get_json("/api/tasks/1").await["description"], "visit 24");
    for (i, id) in created.iter().enumerate() {
        assert_eq!(app.get_json(&format!("/api/tasks/{id}")).await["title"], format!("while broken {i}"));
    }
    // The file gets everything, and writes go on as ever.
    wait_until("the writes made meanwhile reach the file", || async {
        let text = read(&path);
        text.contains("while broken 24") && text.contains("visit 24") && text.contains("task 2 (checked)")
    })
    .await;
    assert_eq!(app.get_json("/api/health").await["status"], "ok");
    assert!(app.get_json("/api/health").await["broken_files"].as_array().unwrap().is_empty());
    assert_eq!(app.post("/api/tasks", json!({"title": "after the fix"})).await.status(), 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_the_file_is_broken_loses_nothing() {
    if on_postgres("a_kill_9_while_the_file_is_broken_loses_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
    let client = reqwest::Client::new();
    let path = data.join("tasks.csv");

    let server = ServerProcess::start(&data);
    let base = server.base.clone();
    let post = |title: String| {
        let (client, base) = (client.clone(), base.clone());
        async move { client.post(format!("{base}/api/tasks")).json(&json!({"title": title})).send().await.unwrap() }
    };
    assert_eq!(post("before".into()).await.status(), 201);
    wait_until("the task reaches the file", || async { read(&path).contains("1,before,") }).await;
    let opened = read(&path);
    let broken = format!("{opened}{BROKEN_LINE}");
    std::fs::write(&path, &broken).unwrap();
    wait_until("the save is refused", || async {
        let events: Value =
            client.get(format!("{base}/api/events?type=file.rejected")).send().await.unwrap().json().await.unwrap();
        events["total"] == 1
    })
    .await;
    for i in 0..20 {
        assert_eq!(post(format!("kept {i}")).await.status(), 201);
    }
    server.kill9();

    // Started again with the file still broken: everything acknowledged is there, and
    // writes go on.
    let server = ServerProcess::start(&data);
    let base = server.base.clone();
    let tasks: Value = client.get(format!("{base}/api/tasks?limit=100")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tasks["total"], 21, "{tasks}");
    let r = client.post(format!("{base}/api/tasks")).json(&json!({"title": "after restart"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(read(&path), broken, "the broken file is still the person's");

    // Fixed: the file gets all of it.
    std::fs::write(&path, format!("{opened}{FIXED_LINE}")).unwrap();
    wait_until("everything reaches the fixed file", || async {
        let text = read(&path);
        text.contains("kept 19")
            && text.contains("after restart")
            && text.contains("\"Fridge not cooling - Mira 3, apt 14\"")
    })
    .await;
    assert!(!data.join(".taskboard/held/tasks.csv").exists(), "the held copy goes once the file loads");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_are_told_where_the_file_broke_in_their_language() {
    if on_postgres("the_admins_are_told_where_the_file_broke_in_their_language") {
        return;
    }
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |c| c.ui.default_language = taskboard::i18n::Lang::Ru).await;
    let path = app.data().join("tasks.csv");
    std::fs::write(&path, format!("{}{BROKEN_LINE}", read(&path))).unwrap();
    let told = fake.wait_text(1001, "tasks.csv не читается").await;
    let text = told.body["text"].as_str().unwrap_or("");
    assert!(text.contains("tasks.csv:"), "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fake.sent_to(1003).iter().all(|m| !m.body["text"].as_str().unwrap_or("").contains("tasks.csv")),
        "only admins are told"
    );
    app.stop().await;
}
