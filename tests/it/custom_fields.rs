//! Custom columns of tasks.csv: declared ones (`tasks.fields`) are typed, checked in
//! the file and over the API (a 422 naming the field), added to a file that lacks them
//! without touching any other byte; declared or not, they are fields like any other:
//! filtered, sorted, exported, grouped in the stats, in the WebSocket filters and in
//! the OpenAPI document.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;

/// A repair service's tasks.csv before `tasks.fields` was written: a team's own
/// `project` column, a quoted cell, no declared columns yet.
const TASKS: &str = "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at,project\n\
1,\"Washer, Bosch\",,new,high,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,Flat 12\n\
2,Fridge noise,,new,low,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,\n";

async fn app() -> TestApp {
    TestApp::spawn_with(
        |data| std::fs::write(data.join("tasks.csv"), TASKS).unwrap(),
        |c| {
            let yaml = "- {name: techtype, type: enum, values: [washer, fridge]}\n- {name: hours, type: number}\n- {name: visit, type: date}\n";
            c.tasks.fields = yaml_serde::from_str(yaml).unwrap();
        },
    )
    .await
}

async fn wait_for_file(app: &TestApp, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(app.data().join("tasks.csv")).unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "tasks.csv never got {needle:?}: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn declared_columns_are_added_typed_and_fields_like_any_other() {
    let app = app().await;
    // Added to the file at start-up; every other byte as it was.
    let file = wait_for_file(&app, ",project,completed_at,techtype,hours,visit\n").await;
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines[1], "1,\"Washer, Bosch\",,new,high,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,Flat 12,,,,");
    assert_eq!(lines[2], "2,Fridge noise,,new,low,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,,,,,");

    // Typed: a 422 naming the field, nothing stored.
    for (bad, field) in [
        (json!({"title": "x", "techtype": "oven"}), "techtype"),
        (json!({"title": "x", "hours": "three"}), "hours"),
        (json!({"title": "x", "visit": "01.12.2026"}), "visit"),
        (json!({"title": "x", "project": "=HYPERLINK(\"x\")"}), "project"),
    ] {
        let r = app.post("/api/tasks", bad.clone()).await;
        assert_eq!(r.status(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    let r = app
        .post(
            "/api/tasks",
            json!({"title": "Dryer", "techtype": "washer", "hours": 2.5, "visit": "2026-12-03", "project": "anything"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(
        (made["techtype"].as_str(), made["hours"].as_str(), made["project"].as_str()),
        (Some("washer"), Some("2.5"), Some("anything"))
    );
    let r = app.patch("/api/tasks/1", json!({"techtype": "fridge"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.patch("/api/tasks/2", json!({"techtype": "toaster"})).await.status(), 422);

    // Filtered, sorted, exported, grouped.
    let list = app.get_json("/api/tasks?techtype=washer,fridge&sort=-techtype&fields=id,techtype").await;
    let got: Vec<(u64, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t["techtype"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [(3, "washer"), (1, "fridge")]);
    let csv = app.get("/api/export/tasks.csv?techtype=washer").await.text().await.unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",project,completed_at,techtype,hours,visit"), "{csv}");
    assert!(csv.contains("Dryer") && !csv.contains("Fridge noise"), "{csv}");
    let stats = app.get_json("/api/stats?group_by=techtype").await;
    assert_eq!(stats["by_field"]["techtype"], json!({"": 1, "fridge": 1, "washer": 1}), "{stats}");
    assert_eq!(app.get("/api/stats?group_by=colour").await.status(), 422);

    // The WebSocket filters on it.
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let subscribe =
        json!({"type": "subscribe", "id": "w", "topic": "tasks", "filter": {"techtype": "washer"}, "snapshot": true});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    let snapshot: Value = loop {
        let Some(Ok(Message::Text(t))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "snapshot" {
            break v;
        }
    };
    let ids: Vec<u64> = snapshot["items"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [3]);

    // The OpenAPI document knows them.
    let doc = app.get_json("/api/openapi.json").await;
    assert_eq!(
        doc["components"]["schemas"]["Task"]["properties"]["techtype"]["anyOf"][0]["enum"],
        json!(["washer", "fridge", ""])
    );
    let list_params = doc["paths"]["/api/tasks"]["get"]["parameters"].as_array().unwrap();
    assert!(list_params.iter().any(|p| p["name"] == "hours"));

    // The column order stays the file's.
    let file = wait_for_file(&app, "Dryer").await;
    assert_eq!(
        file.lines().next().unwrap(),
        // completed_at (a column the server keeps) is added where files lack it, after
        // what the file had.
        "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at,project,completed_at,techtype,hours,visit"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_declared_cell_in_the_file_is_named_by_line_and_column() {
    let app = app().await;
    wait_for_file(&app, ",visit\n").await;
    let text = std::fs::read_to_string(app.data().join("tasks.csv")).unwrap();
    std::fs::write(
        app.data().join("tasks.csv"),
        text.replace(
            "Fridge noise,,new,low,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,,,,,",
            "Fridge noise,,new,low,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,,,toaster,,",
        ),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let health = app.get_json("/api/health").await;
        let tasks = health["tables"].as_array().unwrap().iter().find(|t| t["table"] == "tasks").unwrap().clone();
        if tasks["readable"] == false {
            let problem = tasks["problems"][0].as_str().unwrap();
            assert!(problem.starts_with("tasks.csv:3:"), "{problem}");
            assert!(
                problem.contains("\"toaster\" is not a techtype value; expected one of washer, fridge"),
                "{problem}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the bad cell was not reported: {tasks}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[test]
fn a_wrong_declaration_stops_the_configuration_with_its_place() {
    let err =
        taskboard::config::Config::from_yaml("tasks:\n  fields:\n    - {name: status, type: text}\n", "config.yaml")
            .unwrap_err();
    assert!(err.to_string().contains("tasks.fields[0].name: \"status\" is a documented column"), "{err}");
    let err =
        taskboard::config::Config::from_yaml("tasks:\n  fields:\n    - {name: kind, type: enum}\n", "config.yaml")
            .unwrap_err();
    assert!(err.to_string().contains("an enum lists its values"), "{err}");
}
