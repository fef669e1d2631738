//! The REST resources (README.md, "The API"; the OpenAPI document), success and error
//! paths, against the real server.

use serde_json::{Value, json};

use crate::common::{TestApp, USERS_CSV};

const TASKS_HEADER: &str =
    "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n";
const AT: &str = "2026-11-01T09:00:00Z";

async fn app_with_users() -> TestApp {
    TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await
}

async fn problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status);
    body
}

#[tokio::test]
async fn tasks_crud_with_etags_and_validation() {
    let app = app_with_users().await;
    let r = app.post("/api/tasks", json!({"title": "Write docs", "assigned_to": 2, "due_date": "2026-12-01"})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/api/tasks/1");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let task: Value = r.json().await.unwrap();
    assert_eq!(
        (task["status"].as_str(), task["priority"].as_str(), task["assigned_to"].as_u64()),
        (Some("new"), Some("medium"), Some(2))
    );

    // PATCH with the current ETag, then a stale one.
    let r = app
        .client
        .patch(app.url("/api/tasks/1"))
        .header("if-match", &etag)
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .patch(app.url("/api/tasks/1"))
        .header("if-match", &etag)
        .json(&json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    problem(r, 412).await;

    // PUT demands every writable field.
    let r = app.client.put(app.url("/api/tasks/1")).json(&json!({"title": "x"})).send().await.unwrap();
    let body = problem(r, 422).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"status") && fields.contains(&"priority") && fields.contains(&"due_date"), "{fields:?}");
    let full = json!({"title": "Rewritten", "description": "", "status": "done", "priority": "low", "assigned_to": null, "due_date": null});
    let r = app.client.put(app.url("/api/tasks/1")).json(&full).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let task: Value = r.json().await.unwrap();
    assert_eq!((task["title"].as_str(), task["assigned_to"].is_null()), (Some("Rewritten"), true));

    // Bad input: malformed JSON 400, unknown field and bad values 422 (one entry each), 404.
    let r = app.client.post(app.url("/api/tasks")).body("{\"title\": ").send().await.unwrap();
    problem(r, 400).await;
    let body = problem(app.post("/api/tasks", json!({"title": "t", "colour": "red"})).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "colour");
    let body =
        problem(app.post("/api/tasks", json!({"title": "", "priority": "urgent", "assigned_to": 99})).await, 422).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["title", "priority", "assigned_to"]);
    problem(app.get("/api/tasks/42").await, 404).await;
    problem(app.patch("/api/tasks/42", json!({"title": "x"})).await, 404).await;

    // DELETE, then it is gone.
    assert_eq!(app.client.delete(app.url("/api/tasks/1")).send().await.unwrap().status(), 204);
    problem(app.get("/api/tasks/1").await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_413_and_nothing_is_stored() {
    let app = TestApp::spawn_with(|_| {}, |c| c.performance.max_file_size_mb = 1).await;
    let big = "x".repeat(1024 * 1024 + 10);
    problem(app.post("/api/tasks", json!({"title": big})).await, 413).await;
    let raw =
        app.client.post(app.url("/api/docs?filename=big.bin")).body(vec![0u8; 1024 * 1024 + 10]).send().await.unwrap();
    problem(raw, 413).await;
    assert_eq!(app.get_json("/api/tasks").await["total"], 0);
    assert_eq!(app.get_json("/api/docs").await["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn lists_page_filter_search_sort_and_trim() {
    let app = app_with_users().await;
    for i in 1..=12 {
        let status = if i % 3 == 0 { "done" } else { "new" };
        let body = json!({"title": format!("task {i}"), "status": status, "priority": if i % 2 == 0 {"high"} else {"low"},
            "description": if i == 7 {"find the NEEDLE here"} else {""}, "due_date": format!("2020-01-{i:02}")});
        assert_eq!(app.post("/api/tasks", body).await.status(), 201);
    }
    let page = app.get_json("/api/tasks?per_page=5&page=3").await;
    assert_eq!(
        (page["total"].as_u64(), page["page"].as_u64(), page["items"].as_array().unwrap().len()),
        (Some(12), Some(3), 2)
    );
    let page = app.get_json("/api/tasks?limit=4&offset=8&fields=id").await;
    assert_eq!(page["items"], json!([{"id": 9}, {"id": 10}, {"id": 11}, {"id": 12}]));
    assert_eq!(app.get_json("/api/tasks?status=done").await["total"], 4);
    assert_eq!(app.get_json("/api/tasks?status=done,new").await["total"], 12);
    assert_eq!(app.get_json("/api/tasks?q=needle").await["items"][0]["id"], 7);
    assert_eq!(app.get_json("/api/tasks?overdue=true").await["total"], 8, "due in the past and not done");
    assert_eq!(app.get_json("/api/tasks?due_before=2020-01-05").await["total"], 4);
    assert_eq!(app.get_json("/api/tasks?due_after=2020-01-10").await["total"], 2);
    let sorted = app.get_json("/api/tasks?sort=-priority,-id&fields=id,priority&per_page=3").await;
    assert_eq!(
        sorted["items"],
        json!([{"id": 12, "priority": "high"}, {"id": 10, "priority": "high"}, {"id": 8, "priority": "high"}])
    );
    let body = problem(app.get("/api/tasks?per_page=501&due_before=soon").await, 422).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["due_before", "per_page"]);
    assert_eq!(problem(app.get("/api/tasks?sort=colour").await, 422).await["errors"][0]["field"], "sort");
    problem(app.get("/api/tasks?colour=red").await, 422).await;
    app.stop().await;
}

#[tokio::test]
async fn a_cached_list_never_outlives_a_change() {
    let app = app_with_users().await;
    for i in 0..5 {
        app.post("/api/tasks", json!({"title": format!("t{i}")})).await;
    }
    let url = "/api/tasks?status=new&sort=-id&fields=id";
    assert_eq!(app.get_json(url).await["total"], 5);
    assert_eq!(app.get_json(url).await["total"], 5, "served again (from the cached selection)");
    app.patch("/api/tasks/5", json!({"status": "done"})).await;
    let after = app.get_json(url).await;
    assert_eq!(after["total"], 4);
    assert_eq!(after["items"][0]["id"], 4);
    app.client.delete(app.url("/api/tasks/4")).send().await.unwrap();
    assert_eq!(app.get_json(url).await["items"][0]["id"], 3);
    app.stop().await;
}

#[tokio::test]
async fn users_are_deactivated_not_deleted() {
    let app = app_with_users().await;
    let r = app.client.delete(app.url("/api/users/2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["is_active"], false);
    assert_eq!(app.get_json("/api/users/2").await["username"], "boris");
    problem(app.post("/api/users", json!({"username": "x", "role": "boss"})).await, 422).await;
    app.stop().await;
}

#[tokio::test]
async fn comments_history_events_and_stats() {
    let app = app_with_users().await;
    app.post("/api/tasks", json!({"title": "T", "assigned_to": 1})).await;
    let r = app.post("/api/tasks/1/comments", json!({"message": "first"})).await;
    assert_eq!(r.status(), 201);
    let comment: Value = r.json().await.unwrap();
    assert_eq!(comment["task_id"], 1);
    problem(app.post("/api/tasks/9/comments", json!({"message": "x"})).await, 404).await;
    problem(app.post("/api/tasks/1/comments", json!({"message": ""})).await, 422).await;
    assert_eq!(app.patch("/api/comments/1", json!({"message": "edited"})).await.status(), 200);
    assert_eq!(app.get_json("/api/tasks/1/comments").await["items"][0]["message"], "edited");
    app.patch("/api/tasks/1", json!({"status": "done"})).await;

    let history = app.get_json("/api/tasks/1/history").await;
    let types: Vec<&str> = history["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["task.created", "task.updated"]);
    assert_eq!(history["items"][1]["data"]["after"]["status"], "done", "data is a JSON object");
    problem(app.get("/api/tasks/77/history").await, 404).await;

    let events = app.get_json("/api/events?entity=comment").await;
    assert_eq!(events["total"], 2);
    assert_eq!(app.get_json("/api/events?after_id=3").await["total"], 1);
    assert_eq!(app.get_json("/api/events?type=task.created,task.updated").await["total"], 2);

    let stats = app.get_json("/api/stats").await;
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["by_status"]["done"], 1);
    assert_eq!(stats["by_assignee"]["1"], 1);
    assert_eq!(stats["completed_per_day"].as_object().unwrap().values().next().unwrap(), 1);

    // Deleting the task takes its comments with it.
    assert_eq!(app.client.delete(app.url("/api/tasks/1")).send().await.unwrap().status(), 204);
    problem(app.get("/api/comments/1").await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn documents_upload_serve_and_refuse_path_traversal() {
    let app = app_with_users().await;
    app.post("/api/tasks", json!({"title": "T"})).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"hello, world".to_vec())
                .file_name("note.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
        .text("title", "A note")
        .text("task_id", "1");
    let r = app.client.post(app.url("/api/docs")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["size_bytes"], 12);
    assert_eq!(doc["sha256"], "09ca7e4eaa6e8ae9c7d261167129184883644d07dfba7cbfbc4c8a2e08360d5b");
    // On the CSV backend the file is in the folder (PostgreSQL keeps it in the database).
    if !crate::common::pg::shared_suites_on_postgres() {
        assert_eq!(std::fs::read(app.data().join("docs/1/note.txt")).unwrap(), b"hello, world");
    }
    let r = app.get("/api/docs/1/content").await;
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello, world");

    // Raw body upload.
    let r = app
        .client
        .post(app.url("/api/docs?filename=Отчёт.pdf"))
        .header("content-type", "application/pdf")
        .body("%PDF")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Path traversal in either form is refused and nothing lands outside data/docs.
    for name in ["../../evil.txt", "..\\evil.txt", "a/b.txt", ".hidden"] {
        let r = app
            .client
            .post(app.url(&format!("/api/docs?filename={}", urlencode(name))))
            .body("x")
            .send()
            .await
            .unwrap();
        let body = problem(r, 422).await;
        assert_eq!(body["errors"][0]["field"], "filename");
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name(name.to_string()));
        let r = app.client.post(app.url("/api/docs")).multipart(form).send().await.unwrap();
        problem(r, 422).await;
    }
    assert!(!app.dir.path().join("evil.txt").exists() && !app.data().join("evil.txt").exists());
    assert_eq!(app.get_json("/api/docs").await["total"], 2);
    problem(app.patch("/api/docs/1", json!({"filename": "other.txt"})).await, 422).await;
    assert_eq!(app.patch("/api/docs/1", json!({"title": "Renamed"})).await.status(), 200);
    assert_eq!(app.client.delete(app.url("/api/docs/1")).send().await.unwrap().status(), 204);
    assert!(!app.data().join("docs/1").exists(), "the file goes with its row");
    assert_eq!(app.get("/api/docs/1/content").await.status(), 404, "the content goes with its row");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn export_streams_filtered_csv_and_neutralises_formulas() {
    // A formula can reach the files only by someone typing it there (the API refuses
    // it at the door); the export still neutralises it.
    let app = TestApp::spawn_with(
        |data| {
            std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
            std::fs::write(
                data.join("tasks.csv"),
                format!(
                    "{TASKS_HEADER}1,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",,new,high,,,,{AT},{AT}\n"
                ),
            )
            .unwrap();
        },
        |_| {},
    )
    .await;
    let refused = app.post("/api/tasks", json!({"title": "=HYPERLINK(\"http://evil.example\",\"click\")"})).await;
    assert_eq!(refused.status(), 422, "a formula is refused at the door");
    app.post("/api/tasks", json!({"title": "plain", "description": "two\nlines, comma"})).await;
    let r = app.get("/api/export/tasks.csv?fields=id,title,priority").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["x-total-count"], "2");
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        "id,title,priority\r\n1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",high\r\n2,plain,medium\r\n"
    );
    let text = app.get("/api/export/tasks.csv?priority=high&fields=id").await.text().await.unwrap();
    assert_eq!(text, "id\r\n1\r\n");
    let r = app.get("/api/export/tasks.csv?bom=true&fields=description&q=plain").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), "\u{feff}description\r\n\"two\nlines, comma\"\r\n".as_bytes());
    problem(app.get("/api/export/credentials.csv").await, 403).await;
    problem(app.get("/api/export/passwords.csv").await, 404).await;
    problem(app.get("/api/export/tasks.csv?colour=red").await, 422).await;
    app.stop().await;

    let app = TestApp::spawn_with(
        |_| {},
        |c| {
            c.export.max_export_records = 3;
        },
    )
    .await;
    for i in 0..5 {
        app.post("/api/tasks", json!({"title": format!("t{i}")})).await;
    }
    let r = app.get("/api/export/tasks.csv?fields=id").await;
    assert_eq!(
        (r.headers()["x-total-count"].to_str().unwrap(), r.headers()["x-export-truncated"].to_str().unwrap()),
        ("5", "true")
    );
    assert_eq!(r.text().await.unwrap(), "id\r\n1\r\n2\r\n3\r\n");
    app.stop().await;

    let app = TestApp::spawn_with(|_| {}, |c| c.export.csv_export_enabled = false).await;
    problem(app.get("/api/export/tasks.csv").await, 403).await;
    app.stop().await;
}

#[tokio::test]
async fn export_from_the_command_line_reads_the_files() {
    if crate::common::pg::skip_on_postgres("export_from_the_command_line_reads_the_files", "the command reads a folder")
    {
        return;
    }
    let app = TestApp::spawn_with(
        |data| {
            std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
            std::fs::write(data.join("tasks.csv"), format!("{TASKS_HEADER}1,@SUM(A1:A9),,done,medium,,,,{AT},{AT}\n"))
                .unwrap();
        },
        |_| {},
    )
    .await;
    app.post("/api/tasks", json!({"title": "open"})).await;
    let dir = app.stop().await;
    let out = crate::common::taskboard_in(dir.path())
        .args([
            "--config",
            "/nonexistent.yaml",
            "export",
            "tasks",
            "--filter",
            "status=done",
            "--filter",
            "fields=id,title",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "id,title\r\n1,'@SUM(A1:A9)\r\n");
    let out = crate::common::taskboard_in(dir.path())
        .args(["--config", "/nonexistent.yaml", "export", "credentials", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/health")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app.get("/api/nothing-here").await;
    assert!(!r.headers()["x-request-id"].is_empty());
    problem(r, 404).await;
    // A known path with a method it does not take.
    problem(app.client.put(app.url("/api/events")).send().await.unwrap(), 405).await;
    app.stop().await;
}

#[tokio::test]
async fn every_operation_in_the_openapi_document_is_answered() {
    let app = app_with_users().await;
    app.post("/api/tasks", json!({"title": "T"})).await;
    app.post("/api/tasks/1/comments", json!({"message": "m"})).await;
    app.client.post(app.url("/api/docs?filename=a.txt")).body("a").send().await.unwrap();
    let doc = app.get_json("/api/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["Task"]["properties"]["status"]["enum"].as_array().unwrap().len() == 4);
    let page = app.get("/").await.text().await.unwrap();
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        assert!(page.contains(&format!("<code>{path}</code>")), "{path} on the page");
        for method in methods.as_object().unwrap().keys() {
            operations.push((
                method.to_uppercase(),
                path.replace("{id}", "1")
                    .replace("{table}", "tasks")
                    .replace("{user_id}", "1")
                    .replace("{telegram_id}", "1"),
            ));
        }
    }
    assert!(operations.len() >= 30, "{operations:?}");
    operations.sort_by_key(|(m, _)| m == "DELETE"); // deletes last
    for (method, path) in operations {
        let r = app
            .client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(!(status == 404 && body.contains("no such resource")), "{method} {path} is documented but not mounted");
    }
    app.stop().await;
}

/// `GET /api/tasks/{id}` is answered before the filter chain (api/fast.rs); the same
/// request with a query string goes through the chain. Both must answer alike.
#[tokio::test]
async fn the_fast_read_of_a_task_answers_exactly_as_the_filter_chain() {
    let app = app_with_users().await;
    let r = app.post("/api/tasks", json!({"title": "Fast <read>", "assigned_to": 2})).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let fetch = |path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move { client.get(url).header("x-request-id", "same-id").send().await.unwrap() }
    };
    for (fast, chain) in [
        (format!("/api/tasks/{id}"), format!("/api/tasks/{id}?via=chain")),
        ("/api/tasks/9999".to_string(), "/api/tasks/9999?via=chain".to_string()),
        ("/api/tasks/00001".to_string(), "/api/tasks/00001?via=chain".to_string()),
    ] {
        let (a, b) = (fetch(fast.clone()).await, fetch(chain).await);
        assert_eq!(a.status(), b.status(), "{fast}");
        let names = |r: &reqwest::Response| {
            let mut h: Vec<(String, String)> = r
                .headers()
                .iter()
                .filter(|(k, _)| *k != "date")
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(names(&a), names(&b), "{fast}");
        assert_eq!(a.headers()["x-request-id"], "same-id");
        assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap(), "{fast}");
    }
    // A path the fast read does not take still reaches its route.
    assert_eq!(app.get(&format!("/api/tasks/{id}/history")).await.status(), 200);
    assert_eq!(app.get("/api/tasks/").await.status(), app.get("/api/tasks/?per_page=50").await.status());
    // HEAD and an Origin go through the chain as before.
    let head = app.client.head(app.url(&format!("/api/tasks/{id}"))).send().await.unwrap();
    assert_eq!(head.status(), 405);
    let cors = app
        .client
        .get(app.url(&format!("/api/tasks/{id}")))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cors.status(), 403, "a foreign origin is still judged by CORS");
}

/// Statistics over a date range (by creation), with each technician's finished work.
#[tokio::test]
async fn statistics_take_a_date_range_and_count_done_work_per_assignee() {
    let app = TestApp::spawn_with(
        |data| {
            std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
            let tasks = format!(
                "{TASKS_HEADER}1,Old,,done,low,2,,,2026-10-01T09:00:00Z,{AT}\n2,In range,,done,low,2,,,2026-11-05T09:00:00Z,{AT}\n\
                 3,In range too,,new,low,1,,,2026-11-20T09:00:00Z,{AT}\n4,Later,,done,low,1,,,2026-12-02T09:00:00Z,{AT}\n"
            );
            std::fs::write(data.join("tasks.csv"), tasks).unwrap();
        },
        |_| {},
    )
    .await;
    let all = app.get_json("/api/stats").await;
    assert_eq!(all["total"], 4);
    assert_eq!(all["done_by_assignee"], json!({"1": 1, "2": 2}));
    let november = app.get_json("/api/stats?since=2026-11-01&until=2026-11-30").await;
    assert_eq!(november["total"], 2);
    assert_eq!(november["by_status"], json!({"done": 1, "new": 1}));
    assert_eq!(november["done_by_assignee"], json!({"2": 1}));
    assert_eq!(app.get_json("/api/stats?since=2026-12-01").await["total"], 1);
    for (path, field) in [
        ("/api/stats?since=yesterday", "since"),
        ("/api/stats?since=2026-12-01&until=2026-11-01", "until"),
        ("/api/stats?from=2026-12-01", "from"),
    ] {
        let body = problem(app.get(path).await, 422).await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    app.stop().await;
}

/// A checklist on either backend (this suite also runs on PostgreSQL): items in order,
/// ticked, and gone with their task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tasks_checklist_is_kept_in_order_and_goes_with_its_task() {
    let app = TestApp::spawn().await;
    let task: Value = app.post("/api/tasks", json!({"title": "Boiler"})).await.json().await.unwrap();
    let list = format!("/api/tasks/{}/checklist", task["id"]);
    for text in ["one", "two"] {
        assert_eq!(app.post(&list, json!({"text": text})).await.status(), 201);
    }
    let page = app.get_json(&list).await;
    let second = format!("/api/checklist/{}", page["items"][1]["id"]);
    assert_eq!(app.patch(&second, json!({"done": true, "position": 0})).await.status(), 200);
    let page = app.get_json(&list).await;
    assert_eq!(page["items"][0]["text"], "two");
    assert_eq!(page["items"][0]["done"], true);
    let gone = app.client.delete(app.url(&format!("/api/tasks/{}", task["id"]))).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(app.get(&second).await.status(), 404);
    app.stop().await;
}
