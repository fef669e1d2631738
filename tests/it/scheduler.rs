//! The scheduler through the running server: the jobs API, the file job store across a
//! restart, missed runs, reminders, the daily report. (Fire times, misfires and
//! coalescing are pinned with a free clock in the unit tests of scheduler::schedule and
//! scheduler::plan.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{TestApp, USERS_CSV, test_config};

async fn wait_for_event(app: &TestApp, query: &str, count: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = app.get_json(&format!("/api/events?{query}")).await;
        if events["total"].as_u64().unwrap_or(0) >= count {
            return events;
        }
        assert!(Instant::now() < deadline, "no {count} events for {query}: {events}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_jobs_api_lists_changes_runs_pauses_and_rejects_bad_schedules() {
    let app = TestApp::spawn_with(
        |_| {},
        |c| c.backup.dir = std::env::temp_dir().join(format!("tb-sched-{}", std::process::id())),
    )
    .await;
    let jobs = app.get_json("/api/system/scheduler").await;
    let ids: Vec<&str> = jobs["items"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["backup_job", "daily_report", "deadline_notifications", "key_notices", "key_status", "recurring"]);
    assert!(jobs["items"][0]["next_run"].is_string());
    assert_eq!(jobs["items"][1]["schedule"], "0 18 * * 1-5");

    let r = app
        .client
        .put(app.url("/api/system/scheduler/jobs/deadline_notifications"))
        .json(&json!({"schedule": "0 25 * * *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "schedule");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("hour: 25 is out of range 0-23 (at character 3)"),
        "{body}"
    );
    let r = app
        .client
        .put(app.url("/api/system/scheduler/jobs/deadline_notifications"))
        .json(&json!({"colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .put(app.url("/api/system/scheduler/jobs/deadline_notifications"))
        .json(&json!({"schedule": "30 8 * * 1-5", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let job = app.get_json("/api/system/scheduler/jobs/deadline_notifications").await;
    assert_eq!((job["schedule"].as_str(), job["enabled"].as_bool()), (Some("30 8 * * 1-5"), Some(false)));
    assert_eq!(app.get("/api/system/scheduler/jobs/nope").await.status(), 404);

    let r = app.client.post(app.url("/api/system/scheduler/jobs/backup_job/run")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let finished = wait_for_event(&app, "type=job.finished", 1).await;
    assert_eq!(finished["items"][0]["data"]["task"], "backup_data");
    assert!(finished["items"][0]["data"]["duration_ms"].is_u64());
    let job = app.get_json("/api/system/scheduler/jobs/backup_job").await;
    assert!(job["last_result"].as_str().unwrap().starts_with("ok: "), "{job}");

    assert_eq!(
        app.client.post(app.url("/api/system/scheduler/pause")).send().await.unwrap().json::<Value>().await.unwrap()["state"],
        "paused"
    );
    assert_eq!(app.get_json("/api/system/scheduler/status").await["state"], "paused");
    assert_eq!(
        app.client.post(app.url("/api/system/scheduler/resume")).send().await.unwrap().json::<Value>().await.unwrap()["state"],
        "running"
    );
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("tb-sched-{}", std::process::id())));
    app.stop().await;
}

#[tokio::test]
async fn with_the_file_jobstore_api_changes_and_last_runs_survive_a_restart() {
    let app = TestApp::spawn_with(|_| {}, |c| c.scheduler.jobstore = "file".into()).await;
    let r = app
        .client
        .put(app.url("/api/system/scheduler/jobs/daily_report"))
        .json(&json!({"interval": "2h", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.client.post(app.url("/api/system/scheduler/jobs/deadline_notifications/run")).send().await.unwrap();
    wait_for_event(&app, "type=job.finished", 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(app.data().join("jobs.csv").exists());
    let mut config = test_config(&app.data());
    config.scheduler.jobstore = "file".into();
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, config).await;
    let job = app.get_json("/api/system/scheduler/jobs/daily_report").await;
    assert_eq!(
        (job["trigger"].as_str(), job["schedule"].as_str(), job["enabled"].as_bool()),
        (Some("interval"), Some("2h"), Some(false))
    );
    let job = app.get_json("/api/system/scheduler/jobs/deadline_notifications").await;
    assert!(job["last_run"].is_string() && job["last_result"].as_str().unwrap().starts_with("ok"), "{job}");
    app.stop().await;
}

#[tokio::test]
async fn a_run_missed_while_down_happens_within_the_grace_time_and_is_reported_beyond_it() {
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let jobs_csv = format!(
        "id,trigger,schedule,enabled,description,last_run,last_result,next_run\n\
         deadline_notifications,cron,0 9 * * *,true,,,,{}\n\
         daily_report,cron,0 18 * * 1-5,true,,,,{}\n",
        stamp(now - chrono::Duration::seconds(120)),
        stamp(now - chrono::Duration::hours(2)),
    );
    let app = TestApp::spawn_with(
        move |data| std::fs::write(data.join("jobs.csv"), &jobs_csv).unwrap(),
        |c| c.scheduler.jobstore = "file".into(),
    )
    .await;
    let finished = wait_for_event(&app, "type=job.finished", 1).await;
    assert_eq!(finished["items"][0]["data"]["job"], "deadline_notifications", "2 minutes late: run");
    let missed = wait_for_event(&app, "type=job.missed", 1).await;
    assert_eq!(missed["items"][0]["data"]["job"], "daily_report", "2 hours late, beyond the 600 s grace: missed");
    app.stop().await;
}

#[tokio::test]
async fn reminders_go_once_per_task_and_threshold() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    let soon = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for body in [
        json!({"title": "overdue", "assigned_to": 1, "due_date": day(-1)}),
        json!({"title": "due soon", "assigned_to": 2, "due_date": soon}),
        json!({"title": "later", "assigned_to": 1, "due_date": day(5)}),
        json!({"title": "done late", "assigned_to": 1, "due_date": day(-3), "status": "done"}),
        json!({"title": "nobody's", "due_date": day(-1)}),
    ] {
        assert_eq!(app.post("/api/tasks", body).await.status(), 201);
    }
    app.client.post(app.url("/api/system/scheduler/jobs/deadline_notifications/run")).send().await.unwrap();
    wait_for_event(&app, "type=job.finished", 1).await;
    let reminders = app.get_json("/api/events?type=task.reminder").await;
    let got: Vec<(u64, &str, u64)> = reminders["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["entity_id"].as_u64().unwrap(), e["data"]["threshold"].as_str().unwrap(), e["user_id"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, [(1, "overdue", 1), (2, "due_soon", 2)]);
    app.client.post(app.url("/api/system/scheduler/jobs/deadline_notifications/run")).send().await.unwrap();
    let finished = wait_for_event(&app, "type=job.finished", 2).await;
    assert_eq!(finished["items"][1]["data"]["summary"], "0 reminders sent, 2 already sent before");
    assert_eq!(app.get_json("/api/events?type=task.reminder").await["total"], 2, "no repeats");
    app.stop().await;
}

#[tokio::test]
async fn job_runs_and_reminders_reach_websocket_subscribers_of_jobs() {
    use futures_util::{SinkExt, StreamExt};
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    app.post("/api/tasks", json!({"title": "late", "assigned_to": 1, "due_date": "2020-01-01"})).await;
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"type": "subscribe", "id": "j", "topic": "jobs"}).to_string(),
    ))
    .await
    .unwrap();
    while let Some(Ok(message)) = ws.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = message
            && serde_json::from_str::<Value>(&t).unwrap()["type"] == "subscribed"
        {
            break;
        }
    }
    app.client.post(app.url("/api/system/scheduler/jobs/deadline_notifications/run")).send().await.unwrap();
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while types.len() < 2 {
        let message = tokio::time::timeout_at(deadline, ws.next()).await;
        let Ok(Some(Ok(message))) = message else { panic!("no message: {message:?} after {types:?}") };
        let tokio_tungstenite::tungstenite::Message::Text(t) = message else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "change" {
            assert_eq!(v["topic"], "events");
            types.push(v["after"]["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(types, ["task.reminder", "job.finished"]);
    app.stop().await;
}

#[tokio::test]
async fn the_daily_report_for_a_small_known_data_set() {
    let users = "id,username,telegram_id,role,created_at,updated_at,is_active\n\
                 1,anna,,admin,,,true\n2,boris,,member,,,true\n3,carl,,member,,,false\n";
    let app = TestApp::spawn_with(move |data| std::fs::write(data.join("users.csv"), users).unwrap(), |_| {}).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    for body in [
        json!({"title": "first", "assigned_to": 2}),
        json!({"title": "second", "assigned_to": 2}),
        json!({"title": "late one", "assigned_to": 2, "status": "in_progress", "due_date": yesterday}),
        json!({"title": "finished", "assigned_to": 2}),
        json!({"title": "anna's", "assigned_to": 1}),
    ] {
        app.post("/api/tasks", body).await;
    }
    app.patch("/api/tasks/4", json!({"status": "done"})).await;
    app.client.post(app.url("/api/system/scheduler/jobs/daily_report/run")).send().await.unwrap();
    let generated = wait_for_event(&app, "type=report.generated", 1).await;
    let date = generated["items"][0]["data"]["date"].as_str().unwrap().to_string();
    let dir = app.data().join("reports").join(&date);
    let boris = std::fs::read_to_string(dir.join("boris.md")).unwrap();
    let expected = format!(
        "# Daily report for boris, {date}\n\nHello, boris!\n\n## Your open tasks: 3\n\n- In progress: 1\n- New: 2\n\n\
         ## Overdue: 1\n\n- #3 late one (due {yesterday})\n\n## Done today: 1\n\n- #4 finished\n"
    );
    assert_eq!(boris, expected);
    assert!(!dir.join("carl.md").exists(), "no report for an inactive user");
    let team = std::fs::read_to_string(dir.join("team.md")).unwrap();
    assert!(team.contains("| boris | 3 | 1 | 1 |") && team.contains("| anna | 1 | 0 | 0 |"), "{team}");
    assert!(team.contains("All tasks: 4 open, 1 overdue, 1 done today."), "{team}");
    assert_eq!(generated["items"][0]["data"]["team_summary_for"], json!(["anna"]));
    app.stop().await;
}
