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

/// Reads until the server closes the connection (or `limit` passes): how long it took,
/// and what came.
fn wait_for_close(stream: &mut std::net::TcpStream, limit: Duration) -> (Duration, String) {
    use std::io::Read;
    let started = std::time::Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (started.elapsed(), String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_idle_connections_are_closed_and_one_address_cannot_take_every_slot() {
    use std::io::Write;
    let app = TestApp::spawn_with(
        |_| {},
        |c| {
            c.server.header_read_timeout = 1;
            c.server.max_connections_per_address = 5;
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let connect = || std::net::TcpStream::connect(&addr).unwrap();
        // Says nothing at all.
        let mut silent = connect();
        // Starts a request and stalls in its headers.
        let mut half = connect();
        half.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nx-slow: ").unwrap();
        // Asks once, then keeps the connection open and idle.
        let mut idle = connect();
        idle.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let closes = [
            wait_for_close(&mut silent, Duration::from_secs(5)),
            wait_for_close(&mut half, Duration::from_secs(5)),
            wait_for_close(&mut idle, Duration::from_secs(5)),
        ];
        // The client saw the three close; the server lets their slots go a moment later.
        std::thread::sleep(Duration::from_millis(300));
        // Five connections from one address; a sixth is refused at once, naming why.
        let held: Vec<_> = (0..5).map(|_| connect()).collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut sixth = connect();
        sixth.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let refused = wait_for_close(&mut sixth, Duration::from_secs(3));
        drop(held);
        (closes, refused)
    })
    .await
    .unwrap();
    let (closes, refused) = outcome;
    for (what, (took, _)) in ["silent", "half-sent", "idle keep-alive"].iter().zip(&closes) {
        assert!(*took < Duration::from_secs(4), "the {what} connection is closed by the server (after {took:?})");
    }
    assert!(closes[2].1.starts_with("HTTP/1.1 200"), "the idle connection was answered first: {}", closes[2].1);
    assert!(refused.1.starts_with("HTTP/1.1 503"), "{}", refused.1);
    assert!(refused.1.contains("max_connections_per_address"), "{}", refused.1);
    assert!(refused.0 < Duration::from_secs(1), "refused at once, not queued");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/api/health").await.status(), 200, "the address's places come back");
    app.stop().await;
}

/// Issue 24, item 8: a full house of slow clients (each trickling a request's headers)
/// keeps nobody out: a newcomer takes the place of the one idle longest, while a
/// connection answering a request is never closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_holding_every_place_do_not_keep_anyone_out() {
    use std::io::Write;
    const PLACES: usize = 40;
    let app = TestApp::spawn_with(
        |_| {},
        |c| {
            c.server.max_connections = PLACES;
            c.server.max_connections_per_address = 0;
            c.server.header_read_timeout = 60;
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let slow: Vec<std::net::TcpStream> = (0..PLACES)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(format!("GET /api/health HTTP/1.1\r\nhost: x\r\nx-slow-{i}: ").as_bytes()).unwrap();
            s
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut statuses = Vec::new();
    for _ in 0..26 {
        // A new connection each time, as a person's phone would make after a while.
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        statuses.push(client.get(app.url("/api/health")).send().await.unwrap().status().as_u16());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(refused, 0, "{refused} of 26 requests refused while slow clients held every place: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    drop(slow);
    app.stop().await;
}

#[tokio::test]
async fn wrong_types_blank_or_huge_text_server_set_columns_and_duplicate_keys_are_refused() {
    let app = app_with_users().await;
    let refused = |body: &'static str| {
        let request = app.client.post(app.url("/api/tasks")).header("content-type", "application/json").body(body);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (body, field) in [
        (r#"{"title": 123}"#, "title"),
        (r#"{"title": false}"#, "title"),
        (r#"{"title": "   "}"#, "title"),
        (r#"{"title": "x", "assigned_to": "two"}"#, "assigned_to"),
        (r#"{"title": "x", "assigned_to": 1.5}"#, "assigned_to"),
        (r#"{"title": "x", "created_at": "2020-01-01T00:00:00Z"}"#, "created_at"),
        (r#"{"title": "x", "id": 77}"#, "id"),
    ] {
        let (status, problem) = refused(body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let long = format!(r#"{{"title": "{}"}}"#, "t".repeat(10_000));
    let r = app.client.post(app.url("/api/tasks")).header("content-type", "application/json").body(long);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.json::<Value>().await.unwrap()["errors"][0]["message"].as_str().unwrap().contains("at most 500"));
    let (status, problem) = refused(r#"{"title": "a", "title": "b"}"#).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("given twice"), "{problem}");
    assert_eq!(app.get_json("/api/tasks").await["total"], 0, "nothing was stored");
    // The right types still work, a number's digits as a string included.
    assert_eq!(app.post("/api/tasks", json!({"title": "ok", "assigned_to": "2"})).await.status(), 201);
    // A user's is_active is true or false, never emptied by null.
    let r = app.patch("/api/users/2", json!({"is_active": null})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.get_json("/api/users/2").await["is_active"], true);
    // A whole record sent back unchanged (created_at included) is fine.
    let task = app.get_json("/api/tasks/1").await;
    let r = app.patch("/api/tasks/1", json!({"title": "renamed", "created_at": task["created_at"]})).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_changed_by_a_persons_save_gets_a_new_updated_at_unless_they_set_one() {
    let app = app_with_users().await;
    for title in ["first", "second"] {
        assert_eq!(app.post("/api/tasks", json!({"title": title})).await.status(), 201);
    }
    let path = app.data().join("tasks.csv");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&path).unwrap().contains("second") {
        assert!(std::time::Instant::now() < deadline, "the tasks reach the file");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let before = app.get_json("/api/tasks/1").await["updated_at"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await; // timestamps have seconds
    let text = std::fs::read_to_string(&path).unwrap();
    // Task 1 retitled by hand; task 2 retitled with an updated_at the person chose.
    let second_stamp = app.get_json("/api/tasks/2").await["updated_at"].as_str().unwrap().to_string();
    let edited = text.replace("1,first,", "1,first (edited),").replace(
        &format!("2,second,,new,medium,,,,{second_stamp},{second_stamp}"),
        &format!("2,second (edited),,new,medium,,,,{second_stamp},2026-01-02T03:04:05Z"),
    );
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t = app.get_json("/api/tasks/1").await;
        if t["title"] == "first (edited)" {
            let after = t["updated_at"].as_str().unwrap();
            assert!(after > before.as_str(), "{after} is later than {before}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the save is merged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let since = app.get_json(&format!("/api/tasks?updated_since={before}&fields=id")).await;
    assert_eq!(since["items"], json!([{"id": 1}]), "{since}");
    assert_eq!(app.get_json("/api/tasks/2").await["updated_at"], "2026-01-02T03:04:05Z", "theirs, when they set it");
    app.stop().await;
}

#[tokio::test]
async fn a_405_names_the_allowed_methods_and_the_document_declares_bearer_only_with_security() {
    let app = app_with_users().await;
    let r = app.client.request(reqwest::Method::PUT, app.url("/api/comments/3")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "DELETE, GET, PATCH");
    let r = app.client.delete(app.url("/api/tasks")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let doc = app.get_json("/api/openapi.json").await;
    assert!(doc["components"].get("securitySchemes").is_none(), "security is off: no bearer scheme");
    assert!(doc["paths"]["/api/tasks"]["get"].get("security").is_none());
    app.stop().await;
}

#[test]
fn check_reports_every_problem_of_a_file_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
    let at = "2026-11-01T09:00:00Z";
    let header = "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at";
    // A stray quote, a row one field short, an unknown status and a bad priority (an
    // unclosed quote, by contrast, runs to the end of the file: one problem).
    let tasks = format!(
        "{header}\n1,ok,,new,low,,,,{at},{at}\n2,bro\"ken,,new,low,,,,{at},{at}\n3,short,,new,low,,,,{at}\n4,odd,,finished,low,,,,{at},{at}\n5,odd,,new,urgent-ish,,,,{at},{at}\n"
    );
    std::fs::write(data.join("tasks.csv"), tasks).unwrap();
    let (code, out) = crate::common::run_check(&data);
    assert_eq!(code, 1, "{out}");
    for wanted in ["tasks.csv:3:", "tasks.csv:4:", "tasks.csv:5:", "tasks.csv:6:"] {
        assert!(out.contains(wanted), "{wanted} in one run:\n{out}");
    }
}

#[tokio::test]
async fn text_list_parameters_left_empty_are_as_if_absent() {
    let app = app_with_users().await;
    assert_eq!(app.post("/api/tasks", json!({"title": "one"})).await.status(), 201);
    let page = app.get_json("/api/tasks?fields=&sort=&q=").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["title"], "one", "an empty fields= is not an empty record: {page}");
    // An empty number or date is still refused, as the OpenAPI document says.
    assert_eq!(app.get("/api/tasks?page=").await.status(), 422);
    assert_eq!(app.get("/api/tasks?updated_since=").await.status(), 422);
    // An empty filter on a column still means "is empty".
    assert_eq!(app.get_json("/api/tasks?assigned_to=").await["total"], 1);
    assert_eq!(app.get_json("/api/tasks?title=").await["total"], 0);
    app.stop().await;
}

/// Saves task 1's description in the file the way editors do: through a temporary
/// file and a rename, or in place.
fn save_description(path: &std::path::Path, value: &str, in_place: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let edited: String = text
        .lines()
        .map(|line| {
            if line.starts_with("1,") {
                let mut cells: Vec<&str> = line.split(',').collect();
                cells[2] = value;
                cells.join(",")
            } else {
                line.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    if in_place {
        std::fs::write(path, edited).unwrap();
    } else {
        let temp = path.with_file_name("tasks.csv.editor-tmp");
        std::fs::write(&temp, edited).unwrap();
        std::fs::rename(&temp, path).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_made_while_the_server_folds_the_same_file_are_never_lost() {
    let app = app_with_users().await;
    for title in ["saved by a person", "changed by the API"] {
        assert_eq!(app.post("/api/tasks", json!({"title": title})).await.status(), 201);
    }
    let path = app.data().join("tasks.csv");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&path).unwrap().contains("changed by the API") {
        assert!(std::time::Instant::now() < deadline, "the tasks reach the file");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Each round: an API change makes a fold due in half a second; the person saves
    // around that moment; their value must come through every time.
    for round in 0..20u64 {
        let r = app.patch("/api/tasks/2", json!({"title": format!("changed by the API {round}")})).await;
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(430 + (round % 6) * 25)).await;
        let value = format!("save {round}");
        save_description(&path, &value, round % 2 == 1);
        let seen = std::time::Instant::now();
        while app.get_json("/api/tasks/1").await["description"] != value.as_str() {
            assert!(seen.elapsed() < Duration::from_secs(3), "save {round} was lost");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let dir = app.stop().await;
    let text = std::fs::read_to_string(dir.path().join("data/tasks.csv")).unwrap();
    assert!(text.contains("save 19") && text.contains("changed by the API 19"), "{text}");
}

/// A multipart body written by hand, as a client that does not escape sends it.
fn raw_form(disposition: &str, content: &str, extra: &str) -> (String, String) {
    let boundary = "b0und4ry";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n{content}\r\n{extra}--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_raw_quote_in_an_uploaded_file_name_is_kept_not_cut() {
    let app = app_with_users().await;
    for (disposition, wanted) in [
        (r#"form-data; name="file"; filename="q"uote.txt""#, "q\"uote.txt"),
        (r#"form-data; name="file"; filename="q\"uote2.txt""#, "q\"uote2.txt"),
        (r#"form-data; name="file"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.txt"#, "отчёт.txt"),
    ] {
        let (content_type, body) = raw_form(disposition, "quoted", "");
        let r =
            app.client.post(app.url("/api/docs")).header("content-type", content_type).body(body).send().await.unwrap();
        let (status, doc) = status_and_body(r).await;
        assert_eq!(status, 201, "{doc}");
        assert_eq!(doc["filename"], wanted);
        let id = doc["id"].as_u64().unwrap();
        assert_eq!(std::fs::read(app.data().join(format!("docs/{id}/{wanted}"))).unwrap(), b"quoted");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_upload_takes_its_fields_from_parts_or_query_and_says_what_is_missing() {
    let app = app_with_users().await;
    assert_eq!(app.post("/api/tasks", json!({"title": "T"})).await.status(), 201);
    // The query stands in for a part the form lacks; a part wins over the query.
    let task_part = "--b0und4ry\r\nContent-Disposition: form-data; name=\"task_id\"\r\n\r\n1\r\n";
    let (content_type, body) = raw_form(r#"form-data; name="file"; filename="a.txt""#, "a", task_part);
    let r = app
        .client
        .post(app.url("/api/docs?title=From%20the%20query&filename=ignored.txt"))
        .header("content-type", content_type.clone())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, doc) = status_and_body(r).await;
    assert_eq!(
        (status, &doc["title"], &doc["filename"], &doc["task_id"]),
        (201, &json!("From the query"), &json!("a.txt"), &json!(1))
    );
    // A query value is checked even where a part wins.
    let r = app
        .client
        .post(app.url("/api/docs?task_id=0"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, problem) = status_and_body(r).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("task_id")), "{problem}");
    // No body and no type is nothing to upload; a raw upload with no name is `upload`.
    let r = app.client.post(app.url("/api/docs")).header("content-length", "0").send().await.unwrap();
    let (status, problem) = status_and_body(r).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("nothing to upload"), "{problem}");
    let r = app.client.post(app.url("/api/docs")).header("content-type", "text/plain").body("x").send().await.unwrap();
    let (status, doc) = status_and_body(r).await;
    assert_eq!((status, &doc["filename"]), (201, &json!("upload")));
    // The formula rule holds at the upload door as at PATCH: a title or a file name a
    // spreadsheet would run is refused, and nothing is stored.
    for (query, field) in
        [("title=%3DHYPERLINK(%22x%22)", "title"), ("title=%2B1%2B1", "title"), ("title=%40SUM(A1)", "title")]
    {
        let r = app
            .client
            .post(app.url(&format!("/api/docs?{query}")))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        let (status, problem) = status_and_body(r).await;
        assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!(field)), "{query}: {problem}");
    }
    let (content_type, body) = raw_form(r#"form-data; name="file"; filename="=cmd.txt""#, "a", "");
    let r = app.client.post(app.url("/api/docs")).header("content-type", content_type).body(body).send().await.unwrap();
    let (status, problem) = status_and_body(r).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("filename")), "{problem}");
    let docs = std::fs::read_to_string(app.data().join("docs.csv")).unwrap();
    assert!(!docs.contains("HYPERLINK") && !docs.contains("=cmd"), "{docs}");
    app.stop().await;
}

#[tokio::test]
async fn what_is_wrong_whatever_the_version_is_said_before_a_stale_if_match() {
    let app = app_with_users().await;
    assert_eq!(app.post("/api/tasks", json!({"title": "T"})).await.status(), 201);
    let send = |body: Value, tag: &'static str| {
        app.client.patch(app.url("/api/tasks/1")).header("if-match", tag).json(&body).send()
    };
    // An unknown field, a wrong value or a dangling reference: 422 even with a stale ETag.
    for (body, field) in [
        (json!({"title": "x", "nope": 1}), "nope"),
        (json!({"due_date": "soon"}), "due_date"),
        (json!({"assigned_to": 999}), "assigned_to"),
    ] {
        let (status, problem) = status_and_body(send(body, "\"stale\"").await.unwrap()).await;
        assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!(field)), "{problem}");
    }
    // A valid change with a stale ETag is a 412, and an empty If-Match a 400 naming it.
    assert_eq!(send(json!({"title": "y"}), "\"stale\"").await.unwrap().status(), 412);
    let (status, problem) = status_and_body(send(json!({"title": "y"}), "").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(problem["detail"].as_str().unwrap().contains("If-Match"), "{problem}");
    let r = app.client.delete(app.url("/api/tasks/1")).header("if-match", " ").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.get_json("/api/tasks/1").await["title"], "T", "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn a_whole_number_written_with_a_fraction_of_zero_is_a_whole_number() {
    let app = app_with_users().await;
    let r = app.post("/api/tasks", json!({"title": "T", "assigned_to": 1.0})).await;
    let (status, task) = status_and_body(r).await;
    assert_eq!((status, &task["assigned_to"]), (201, &json!(1)), "{task}");
    let (status, problem) =
        status_and_body(app.post("/api/tasks", json!({"title": "T", "assigned_to": 1.5})).await).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("assigned_to")));
    app.stop().await;
}

#[tokio::test]
async fn paging_values_made_moot_by_limit_and_offset_are_still_checked() {
    let app = app_with_users().await;
    for query in ["page=0&offset=1", "per_page=1000&limit=5", "per_page=0&offset=0"] {
        let (status, problem) = status_and_body(app.get(&format!("/api/tasks?{query}")).await).await;
        assert_eq!(status, 422, "{query}: {problem}");
    }
    // A page so far out that page × per_page overflows is an empty page, not a crash.
    let page = app.get_json(&format!("/api/tasks?page={}&per_page=500", u64::MAX)).await;
    assert_eq!(page["items"], json!([]));
    app.stop().await;
}

/// One NUL in a text field was written raw into tasks.csv (and failed the batch on
/// PostgreSQL): a control character is refused at the door, naming the field; a tab
/// and a line break stay text.
#[tokio::test]
async fn a_control_character_in_any_field_is_refused_at_the_door() {
    let app = app_with_users().await;
    for body in [
        json!({"title": "a\u{0}b"}),
        json!({"title": "ok", "description": "bell\u{7}"}),
        json!({"title": "esc\u{1b}[31m"}),
    ] {
        let r = app.post("/api/tasks", body.clone()).await;
        let (status, problem) = status_and_body(r).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("control character"), "{problem}");
    }
    let r = app.post("/api/tasks", json!({"title": "Fine", "description": "two\tcolumns\r\nand lines"})).await;
    assert_eq!(r.status(), 201);
    let file = std::fs::read_to_string(app.data().join("tasks.csv")).unwrap_or_default();
    assert!(!file.contains('\u{0}') && !file.contains('\u{7}'), "{file:?}");
    app.stop().await;
}
