//! PostgreSQL: several servers on one database, the migration both ways, and a
//! database that goes away. Each test makes its own database on the server
//! `TASKBOARD_TEST_DATABASE_URL` names, and says it was skipped without one. (The REST
//! and WebSocket suites run on PostgreSQL too, through the same harness, with
//! `TASKBOARD_TEST_BACKEND=postgres`: see `common/pg.rs`.)

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use taskboard::config::{Config, Secret};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{ServerProcess, TestApp, pg, test_config};
use crate::security::{PASSWORD, SECRET, call, prepare};

pub(crate) fn secure(c: &mut Config) {
    c.security.enabled = true;
    c.security.validation_method = taskboard::config::ValidationMethod::Both;
    c.security.rate_limiting.requests_per_minute = 100_000;
    c.secret_key = Secret(SECRET.into());
}

/// Server A on a new database holding the folder `prepare_folder` wrote, and server
/// B on the same database with a folder of its own.
pub(crate) async fn two_servers(
    prepare_folder: impl FnOnce(&Path),
    configure: impl Fn(&mut Config),
) -> (TestApp, TestApp, String) {
    let dir_a = tempfile::tempdir().unwrap();
    let data_a = dir_a.path().join("data");
    std::fs::create_dir_all(&data_a).unwrap();
    prepare_folder(&data_a);
    let mut config_a = test_config(&data_a);
    configure(&mut config_a);
    pg::move_folder_into_database(&data_a, &mut config_a).await;
    let url = config_a.db_postgresql.url.expose().to_string();
    let a = TestApp::start_in(dir_a, config_a).await;
    let dir_b = tempfile::tempdir().unwrap();
    let data_b = dir_b.path().join("data");
    std::fs::create_dir_all(&data_b).unwrap();
    let mut config_b = test_config(&data_b);
    configure(&mut config_b);
    pg::use_database(&mut config_b, &url);
    let b = TestApp::start_in(dir_b, config_b).await;
    (a, b, url)
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post("/api/auth/login", json!({"username": username, "password": password})).await
}

async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
    kind: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next()).await.expect("a message in time");
        if let Some(Ok(Message::Text(text))) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of `app`, logged in with `token`, subscribed to tasks.
async fn subscribed_to_tasks(app: &TestApp, token: &str) -> Socket {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "subscribe", "id": "t", "topic": "tasks"}).to_string())).await.unwrap();
    next_message(&mut ws, "subscribed").await;
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_server_reaches_the_websocket_clients_sessions_and_documents_of_another() {
    if pg::or_skip("a_change_on_one_server_reaches_the_websocket_clients_sessions_and_documents_of_another").is_none() {
        return;
    }
    let (a, b, _) = two_servers(prepare, secure).await;
    // A session started on A is good on B.
    let tokens: Value = login(&a, "anna", PASSWORD).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let (status, created) = call(&a, "POST", "/api/tasks", Some(&token), Some(json!({"title": "made on A"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();

    let mut ws = subscribed_to_tasks(&b, &token).await;

    let started = Instant::now();
    let r = a
        .client
        .patch(a.url(&format!("/api/tasks/{id}")))
        .bearer_auth(&token)
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut change = next_message(&mut ws, "change").await;
    if change["op"] == "create" {
        // B's client subscribed before B had read the create: it comes first.
        change = next_message(&mut ws, "change").await;
    }
    assert_eq!(change["after"]["status"], "in_progress", "{change}");
    let seen = change["event_id"].as_u64().unwrap();
    assert_eq!(change["source"], "api");
    assert!(started.elapsed() < Duration::from_secs(2), "A's change reached B's client in {:?}", started.elapsed());
    // B serves the new state at once, with the ETag A gave.
    let on_b = b.client.get(b.url(&format!("/api/tasks/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(on_b.headers()["etag"], r.headers()["etag"]);

    // A client of B that was away resumes from the event it saw.
    drop(ws);
    let (status, _) =
        call(&a, "PATCH", &format!("/api/tasks/{id}"), Some(&token), Some(json!({"title": "renamed on A"}))).await;
    assert_eq!(status, 200);
    let mut ws = subscribed_to_tasks(&b, &token).await;
    ws.send(Message::text(json!({"type": "resume", "after_event_id": seen}).to_string())).await.unwrap();
    let missed = next_message(&mut ws, "change").await;
    assert_eq!(missed["after"]["title"], "renamed on A", "{missed}");
    assert_eq!(missed["event_id"].as_u64(), Some(seen + 1));

    // A document uploaded through A is served by B (its content is in the database).
    let r = a
        .client
        .post(a.url(&format!("/api/docs?filename=note.txt&task_id={id}")))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("kept in the database")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    // B learns of the new row within moments (it is not read through to the database).
    let deadline = Instant::now() + Duration::from_secs(2);
    let content = loop {
        let r =
            b.client.get(b.url(&format!("/api/docs/{}/content", doc["id"]))).bearer_auth(&token).send().await.unwrap();
        if r.status() != 404 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(content.status(), 200);
    assert_eq!(content.text().await.unwrap(), "kept in the database");

    // A logout on A ends the session on B too.
    let r = a.client.post(a.url("/api/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = b.client.get(b.url("/api/tasks")).bearer_auth(&token).send().await.unwrap();
        if r.status() == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the logout reaches B");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_lockout_on_one_server_holds_on_the_other() {
    if pg::or_skip("a_login_lockout_on_one_server_holds_on_the_other").is_none() {
        return;
    }
    let (a, b, _) = two_servers(prepare, secure).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let status = login(&a, "boris", "Wrong-Guess1!").await.status().as_u16();
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "A locks boris: {statuses:?}");
    // The failures reach B through the events table within moments.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = login(&b, "boris", PASSWORD).await;
    assert_eq!(r.status(), 429, "locked on B too, even for the right password");
    assert!(r.headers().contains_key("retry-after"));
    // Another account is not locked on either.
    assert_eq!(login(&b, "anna", PASSWORD).await.status(), 200);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheduled_run_happens_once_across_the_servers() {
    if pg::or_skip("each_scheduled_run_happens_once_across_the_servers").is_none() {
        return;
    }
    let every_second = |c: &mut Config| {
        c.cron.jobs.clear();
        c.cron.jobs.insert(
            "ticker".into(),
            taskboard::config::Job {
                schedule: None,
                interval: Some("1s".into()),
                enabled: true,
                task: "check_deadlines".into(),
                description: String::new(),
            },
        );
    };
    let (a, b, url) = two_servers(|_| {}, every_second).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    // One server goes; the other goes on running every period.
    a.stop().await;
    let a_gone = chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    b.stop().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let finished: Vec<String> =
        sqlx::query_scalar("SELECT fields->>'data' FROM events WHERE fields->>'type' = 'job.finished' ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let claims: Vec<(String, String)> =
        sqlx::query_as("SELECT due, server FROM taskboard_job_runs WHERE job = 'ticker'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(finished.len() >= 3, "the job ran every second: {finished:?}");
    // Each period of the interval was run by one server only.
    let periods: BTreeSet<&String> = claims.iter().map(|(due, _)| due).collect();
    assert_eq!(periods.len(), claims.len());
    assert_eq!(finished.len(), claims.len(), "one run per claim: {finished:?} {claims:?}");
    let servers: BTreeSet<&String> = claims.iter().map(|(_, s)| s).collect();
    let period = |due: &str| due.rsplit('#').next().and_then(|p| p.parse::<i64>().ok()).unwrap_or(0);
    let after: Vec<&(String, String)> = claims.iter().filter(|(due, _)| period(due) > a_gone).collect();
    assert!(after.len() >= 2, "the remaining server runs the periods after the other stopped: {claims:?}");
    println!("{} runs, claimed by {} server(s)", claims.len(), servers.len());
}

/// A config file for a server process on database `url` (security off).
fn config_file(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "security:\n  enabled: false\ndb_postgresql:\n  enabled: true\n  url: {url}\ncron:\n  enabled: false\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_server_under_write_load_loses_no_acknowledged_write() {
    if pg::or_skip("kill_9_of_one_server_under_write_load_loses_no_acknowledged_write").is_none() {
        return;
    }
    let url = pg::new_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &url);
    let (data_a, data_b) = (dir.path().join("a/data"), dir.path().join("b/data"));
    std::fs::create_dir_all(&data_a).unwrap();
    std::fs::create_dir_all(&data_b).unwrap();
    let a = ServerProcess::start_with(&config, &data_a, &[]);
    let b = ServerProcess::start_with(&config, &data_b, &[]);
    let client = reqwest::Client::new();
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (client, acknowledged, stop) = (client.clone(), acknowledged.clone(), stop.clone());
        let base = if writer % 2 == 0 { a.base.clone() } else { b.base.clone() };
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            // Bounded: at most 400 writes each, and never past the stop.
            while !stop.load(Ordering::Relaxed) && n < 400 {
                n += 1;
                let title = format!("writer {writer} write {n}");
                let sent = client.post(format!("{base}/api/tasks")).json(&json!({"title": title})).send().await;
                if let Ok(r) = sent
                    && r.status() == 201
                    && let Ok(body) = r.json::<Value>().await
                {
                    acknowledged.lock().unwrap().push((body["id"].as_u64().unwrap(), title));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.kill9();
    let at_kill = acknowledged.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(at_kill > 20, "writes were under way when A died: {at_kill}");
    assert!(acknowledged.len() > at_kill, "B kept taking writes after A died");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, fields->>'title' FROM tasks").fetch_all(&mut conn).await.unwrap();
    let stored: std::collections::HashMap<u64, String> = rows.into_iter().map(|(id, t)| (id as u64, t)).collect();
    // B serves them all.
    let list: Value = client.get(format!("{}/api/tasks?fields=id", b.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"].as_u64(), Some(stored.len() as u64), "{list}");
    for (id, title) in &acknowledged {
        assert_eq!(stored.get(id), Some(title), "acknowledged write {id} is kept");
    }
    println!("{} acknowledged writes ({at_kill} before the kill), all kept", acknowledged.len());
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_goes_into_the_database_and_comes_back_byte_for_byte() {
    if pg::or_skip("a_folder_goes_into_the_database_and_comes_back_byte_for_byte").is_none() {
        return;
    }
    // A folder written by taskboard: a spreadsheet's own column and a declared custom
    // field, semicolons and CRLF, rows changed through the API, a document, a session.
    let custom = |c: &mut Config| {
        c.tasks.fields = vec![taskboard::domain::fields::FieldDecl {
            name: "techtype".into(),
            kind: "enum".into(),
            values: vec!["washer".into(), "fridge".into()],
            ..Default::default()
        }];
        secure(c);
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    prepare(&data);
    std::fs::write(
        data.join("tasks.csv"),
        "id;title;description;status;priority;assigned_to;created_by;due_date;created_at;updated_at;notes\r\n\
         1;Fix the washer;\"two\r\nlines\";new;high;4;1;2026-12-10;2026-12-01T09:00:00Z;2026-12-01T09:00:00Z;call first\r\n",
    )
    .unwrap();
    let mut config = test_config(&data);
    custom(&mut config);
    let app = TestApp::start_in(dir, config.clone()).await;
    let token = login(&app, "anna", PASSWORD).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        app.client.request(method, app.url(path)).bearer_auth(&token).json(&body).send()
    };
    assert_eq!(
        send(reqwest::Method::PATCH, "/api/tasks/1", json!({"techtype": "washer", "status": "in_progress"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(reqwest::Method::POST, "/api/tasks", json!({"title": "Fridge, \"noisy\"", "techtype": "fridge"}))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        send(reqwest::Method::POST, "/api/tasks/2/comments", json!({"message": "on my way"})).await.unwrap().status(),
        201
    );
    let r = app
        .client
        .post(app.url("/api/docs?filename=photo.bin&task_id=1"))
        .bearer_auth(&token)
        .body(vec![0u8, 159, 146, 150, 255])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let dir = app.stop().await;
    let data = dir.path().join("data");

    let url = pg::new_database().await;
    let settings = taskboard::store::PgSettings { url, max_connections: 2 };
    let vocabulary = taskboard::store::StoreConfig::from_config(&config).vocabulary;
    let quiet = taskboard::store::pg::migrate::Quiet;
    let there = taskboard::store::pg::migrate::to_postgres(&data, &vocabulary, &settings, &quiet).await.unwrap();
    assert_eq!(there.tables["tasks"].0, 2);
    assert_eq!(there.documents, 1);
    // Into an empty folder only, and never twice into one database.
    let again = taskboard::store::pg::migrate::to_postgres(&data, &vocabulary, &settings, &quiet).await;
    assert!(again.unwrap_err().contains("not empty"));
    let back_dir = tempfile::tempdir().unwrap();
    let back = back_dir.path().join("data");
    let report = taskboard::store::pg::migrate::to_csv(&back, &vocabulary, &settings, &quiet).await.unwrap();
    assert_eq!(report.tables, there.tables);
    for file in [
        "users.csv",
        "tasks.csv",
        "events.csv",
        "docs.csv",
        "comments.csv",
        "credentials.csv",
        "feedback.csv",
        "api_keys.csv",
        "telegram.csv",
        "docs/1/photo.bin",
        ".taskboard/sessions.csv",
    ] {
        assert_eq!(
            std::fs::read(data.join(file)).unwrap(),
            std::fs::read(back.join(file)).unwrap_or_default(),
            "{file} comes back byte for byte"
        );
    }
    let tasks = std::fs::read_to_string(back.join("tasks.csv")).unwrap();
    assert!(
        tasks.starts_with("id;title;") && tasks.contains("\r\n") && tasks.contains(";notes;completed_at;techtype"),
        "{tasks}"
    );
    assert!(
        taskboard::store::pg::migrate::to_csv(&back, &vocabulary, &settings, &quiet)
            .await
            .unwrap_err()
            .contains("already holds")
    );

    // The CSV server opens what came back.
    let mut config = test_config(&back);
    custom(&mut config);
    let app = TestApp::start_in(back_dir, config).await;
    let token = login(&app, "anna", PASSWORD).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let task: Value =
        app.client.get(app.url("/api/tasks/1")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(task["techtype"], "washer");
    assert_eq!(task["notes"], "call first");
    app.stop().await;
}

/// A TCP relay to the test's PostgreSQL server that the test can cut and restore:
/// the database going away and coming back, as the server sees it.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let accepting = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::Acquire) {
                    continue; // dropped: refused
                }
                let (target, mut cuts) = (target.clone(), cuts.clone());
                // Only a cut after this connection was made ends it.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Relay { port, open, cut }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::Release);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.open.store(true, Ordering::Release);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_gets_503s_and_the_server_recovers_by_itself() {
    let Some(server) = pg::or_skip("a_database_that_goes_away_gets_503s_and_the_server_recovers_by_itself") else {
        return;
    };
    let direct = pg::new_database().await;
    let name = direct.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let authority = server.split("://").nth(1).unwrap().split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap().to_string();
    let relay = Relay::start(host_port.clone()).await;
    let through_relay = pg::database_url(&server.replace(&host_port, &format!("127.0.0.1:{}", relay.port)), &name);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut config = test_config(&data);
    pg::use_database(&mut config, &through_relay);
    let app = TestApp::start_in(dir, config).await;
    assert_eq!(app.post("/api/tasks", json!({"title": "before"})).await.status(), 201);

    relay.cut();
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let r = app.get("/api/tasks").await;
        if r.status() == 503 {
            let body: Value = r.json().await.unwrap();
            assert!(body["detail"].as_str().unwrap_or("").contains("database"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "reads answer 503 while the database is away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.post("/api/tasks", json!({"title": "while away"})).await.status(), 503);
    let health: Value = app.get_json("/api/health").await;
    assert!(health.to_string().contains("database"), "{health}");
    assert!(!health.to_string().contains("root@"), "no URL in health: {health}");

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.post("/api/tasks", json!({"title": "after"})).await;
        if r.status() == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "the server recovers by itself: {}", r.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let titles: Vec<String> = app.get_json("/api/tasks?fields=title").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["before", "after"], "nothing refused was stored, nothing acknowledged lost");
    app.stop().await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    if pg::or_skip("a_database_migrated_by_a_newer_version_is_refused").is_none() {
        return;
    }
    let url = pg::new_database().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut config = test_config(&data);
    pg::use_database(&mut config, &url);
    let app = TestApp::start_in(dir, config.clone()).await;
    app.stop().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO taskboard_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let refused = taskboard::app::start(config).await.err().expect("the server refuses a newer database");
    let message = format!("{refused:#}");
    assert!(message.contains("newer taskboard") && message.contains("9999"), "{message}");
}

/// The state of a server's bot, as its health says (`ok` polls, `standby` waits).
async fn bot_state(app: &TestApp, admin: &str) -> String {
    let (_, health) = call(app, "GET", "/api/health", Some(admin), None).await;
    health["components"]["telegram"]["state"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_polls_telegram_and_tells_people_once_and_another_takes_over() {
    if pg::or_skip("one_server_polls_telegram_and_tells_people_once_and_another_takes_over").is_none() {
        return;
    }
    use crate::common::fake_telegram::FakeTelegram;
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    let api = fake.url.clone();
    let (a, b, _) = two_servers(crate::telegram::prepare, |c| crate::telegram::configure(c, &api)).await;
    let admin_a = crate::security::token(&a, "anna").await;
    let admin_b = crate::security::token(&b, "anna").await;
    // One polls, the other stands by.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (leader, follower, leader_token, follower_token) = loop {
        let (state_a, state_b) = (bot_state(&a, &admin_a).await, bot_state(&b, &admin_b).await);
        match (state_a.as_str(), state_b.as_str()) {
            ("ok", "standby") => break (a, b, admin_a, admin_b),
            ("standby", "ok") => break (b, a, admin_b, admin_a),
            _ => {}
        }
        assert!(Instant::now() < deadline, "one polls, one stands by: {state_a} / {state_b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A change through the server that does not poll reaches boris once.
    let (status, _) =
        call(&follower, "PATCH", "/api/tasks/3", Some(&follower_token), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(status, 200);
    fake.wait_text(1003, "Assigned to you").await;
    // A message is answered once.
    let reply = crate::telegram::say(&fake, 1003, None, "/tasks").await;
    assert!(reply.to_string().contains("Dryer does not start"), "{reply}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.sent_to(1003).len(), 2, "one notice and one reply: {:?}", fake.sent_to(1003));

    // The poller stops; the other takes over and answers.
    drop(leader_token);
    leader.stop().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while bot_state(&follower, &follower_token).await != "ok" {
        assert!(Instant::now() < deadline, "the other server takes the bot over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = crate::telegram::say(&fake, 1003, None, "/tasks").await;
    assert!(reply.to_string().contains("Dryer does not start"), "{reply}");
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_on_postgresql_holds_the_tables_the_journal_and_the_documents() {
    if pg::or_skip("a_backup_on_postgresql_holds_the_tables_the_journal_and_the_documents").is_none() {
        return;
    }
    let (a, b, _) = two_servers(|_| {}, |c| c.backup.dir = c.storage.data_dir.join("../backups")).await;
    assert_eq!(a.post("/api/tasks", json!({"title": "kept in the backup"})).await.status(), 201);
    let r = a.client.post(a.url("/api/docs?filename=n.txt&task_id=1")).body("the document").send().await.unwrap();
    assert_eq!(r.status(), 201);
    // Taken through B, which learnt both from the database.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = b.client.post(b.url("/api/system/backups")).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let backups = b.data().join("../backups");
    let archive = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".tar.gz"))
        .unwrap()
        .path();
    let report = taskboard::backup::verify(&archive).expect("the backup verifies");
    assert!(report.files.iter().any(|f| f.path == "data/docs/1/n.txt"), "{:?}", report.files);
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("data");
    taskboard::backup::restore(&archive, &data, None, false).expect("it restores into a folder");
    assert!(std::fs::read_to_string(data.join("tasks.csv")).unwrap().contains("kept in the backup"));
    assert!(std::fs::read_to_string(data.join("events.csv")).unwrap().contains("task.created"));
    assert_eq!(std::fs::read(data.join("docs/1/n.txt")).unwrap(), b"the document");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_adds_lists_exports_and_backs_up_through_the_database() {
    if pg::or_skip("the_command_line_adds_lists_exports_and_backs_up_through_the_database").is_none() {
        return;
    }
    let url = pg::new_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("db_postgresql:\n  enabled: true\n  url: {url}\nbackup:\n  dir: ./backups\n"))
        .unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = crate::common::taskboard_in(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("SECRET_KEY", SECRET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        run(&["user", "add", "--username", "lead", "--role", "admin", "--password-stdin"], &format!("{PASSWORD}\n"))
            .contains("added user 1")
    );
    assert!(run(&["user", "list"], "").contains("1\tlead\tadmin\ttrue\t\tset"));
    // The server on that database lets the new admin in.
    let data = dir.path().join("data");
    let mut server_config = test_config(&data);
    secure(&mut server_config);
    pg::use_database(&mut server_config, &url);
    let app = TestApp::start_in(tempfile::tempdir().unwrap(), server_config).await;
    assert_eq!(login(&app, "lead", PASSWORD).await.status(), 200);
    app.stop().await;
    assert!(run(&["export", "users"], "").contains(",lead,,admin,"));
    let archive = run(&["backup"], "");
    assert!(archive.trim().ends_with(".tar.gz"), "{archive}");
    let manifest = taskboard::backup::verify(&dir.path().join(archive.trim())).unwrap();
    assert!(manifest.files.iter().any(|f| f.path == "data/users.csv"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_the_servers() {
    if pg::or_skip("a_rate_limit_holds_across_the_servers").is_none() {
        return;
    }
    let (a, b, _) = two_servers(prepare, |c| {
        secure(c);
        c.security.rate_limiting.requests_per_minute = 10;
    })
    .await;
    let token = crate::security::token(&a, "boris").await;
    let get = |app: &TestApp| app.client.get(app.url("/api/tasks")).bearer_auth(&token).send();
    for n in 0..8 {
        assert_eq!(get(&a).await.unwrap().status(), 200, "request {n} on A");
    }
    // The counts are shared about once a second.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut on_b = Vec::new();
    for _ in 0..6 {
        on_b.push(get(&b).await.unwrap().status().as_u16());
    }
    assert_eq!(on_b, [200, 200, 429, 429, 429, 429], "B counts A's 8 requests with its own");
    a.stop().await;
    b.stop().await;
}

#[test]
fn a_configuration_on_postgresql_without_a_usable_url_is_refused_when_read() {
    for (url, expected) in [("", "names no database"), ("mysql://x@y/z", "is not a PostgreSQL URL")] {
        let mut config = Config::default();
        config.db_postgresql.enabled = true;
        config.db_postgresql.url = Secret(url.into());
        let refused = taskboard::app::check_config(config).expect_err("refused");
        assert!(refused.to_string().contains(expected), "{url:?}: {refused}");
    }
}
