//! Recurring work: occurrences across month ends and a DST change, one task per
//! occurrence across runs, a restart and two servers on one database; managers and
//! admins only.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::security::{call, secured_app, token};

async fn occurrences(app: &TestApp, id: &Value, after: &str, count: usize) -> Vec<(String, String)> {
    let body = app.get_json(&format!("/api/recurring/{id}/occurrences?after={after}&count={count}")).await;
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|i| (i["at"].as_str().unwrap().to_string(), i["due_date"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occurrences_fall_on_the_31st_only_where_a_month_has_one_and_once_across_a_dst_change() {
    let app = TestApp::spawn_with(|_| {}, |c| c.scheduler.timezone = "Europe/Berlin".into()).await;
    let r = app.post("/api/recurring", json!({"title": "Month end", "schedule": "0 9 31 * *", "due_in_days": 2})).await;
    assert_eq!(r.status(), 201);
    let month_end: Value = r.json().await.unwrap();
    let got = occurrences(&app, &month_end["id"], "2027-01-01T00:00:00Z", 4).await;
    let want = [
        ("2027-01-31T08:00:00Z", "2027-02-02"), // 09:00 in Berlin, winter time
        ("2027-03-31T07:00:00Z", "2027-04-02"), // summer time since March 28
        ("2027-05-31T07:00:00Z", "2027-06-02"),
        ("2027-07-31T07:00:00Z", "2027-08-02"),
    ];
    assert_eq!(got, want.map(|(a, d)| (a.to_string(), d.to_string())));

    // 02:30 does not exist on 2027-03-28 in Berlin: that day's run comes once, right
    // after the gap; the day after at 02:30 summer time.
    let r = app.post("/api/recurring", json!({"title": "Night", "schedule": "30 2 * * *"})).await;
    let night: Value = r.json().await.unwrap();
    let got = occurrences(&app, &night["id"], "2027-03-27T12:00:00Z", 2).await;
    assert_eq!(got[0].0, "2027-03-28T01:00:00Z", "{got:?}");
    assert_eq!(got[1].0, "2027-03-29T00:30:00Z", "{got:?}");

    // A schedule that is not one is refused, naming the field.
    let r = app.post("/api/recurring", json!({"title": "Bad", "schedule": "61 * * * *"})).await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "schedule", "{problem}");
    app.stop().await;
}

/// The ids of the tasks titled `title` (what a recurring row makes).
async fn made_from(app: &TestApp, title: &str) -> Vec<u64> {
    let tasks = app.get_json("/api/tasks?per_page=500").await;
    tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["title"] == title)
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

async fn run_job(app: &TestApp) {
    // A run is told apart by its time, to the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = app.get_json("/api/system/scheduler/jobs/recurring").await["last_run"].clone();
    let r = app.client.post(app.url("/api/system/scheduler/jobs/recurring/run")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = app.get_json("/api/system/scheduler/jobs/recurring").await;
        if job["last_run"] != before && job["running"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "the job ran: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_occurrence_makes_exactly_one_task_across_runs_a_lost_step_and_a_restart() {
    let app = TestApp::spawn_with(|_| {}, |c| c.cron.enabled = false).await;
    let r =
        app.post("/api/recurring", json!({"title": "Boiler check", "schedule": "* * * * *", "priority": "high"})).await;
    assert_eq!(r.status(), 201);
    let row: Value = r.json().await.unwrap();
    let id = row["id"].as_u64().unwrap();
    // As if it had been made five minutes ago.
    let five_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = app.patch(&format!("/api/recurring/{id}"), json!({"last_run_at": five_ago})).await;
    assert_eq!(r.status(), 200);

    run_job(&app).await;
    let first = made_from(&app, "Boiler check").await;
    let job = app.get_json("/api/system/scheduler/jobs/recurring").await;
    assert!((4..=6).contains(&first.len()), "one task a minute for five minutes: {first:?} {job}");
    let tasks = app.get_json("/api/tasks?per_page=500").await;
    let one = tasks["items"].as_array().unwrap().iter().find(|t| t["title"] == "Boiler check").unwrap().clone();
    assert_eq!((one["title"].as_str(), one["priority"].as_str()), (Some("Boiler check"), Some("high")));
    assert!(one["due_date"].is_string());

    // Run again at once: nothing new is due.
    run_job(&app).await;
    let again = made_from(&app, "Boiler check").await;
    assert!(again.len() <= first.len() + 1 && again.starts_with(&first), "{again:?}");

    // After a restart nothing is made again.
    let config = crate::common::test_config(&app.data());
    let dir = app.stop().await;
    let mut config = config;
    config.cron.enabled = false;
    let app = TestApp::start_in(dir, config).await;
    run_job(&app).await;
    let after = made_from(&app, "Boiler check").await;
    assert!(after.len() <= again.len() + 1 && after.starts_with(&again), "{after:?}");

    // A row last run long ago (a typo, a restore) is not walked minute by minute: the
    // occurrences older than misfire_grace_time are missed at once.
    let r = app.patch(&format!("/api/recurring/{id}"), json!({"last_run_at": "1970-01-01T00:00:00Z"})).await;
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    run_job(&app).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let job = app.get_json("/api/system/scheduler/jobs/recurring").await;
    assert!(job["last_result"].as_str().unwrap().contains("missed"), "{job}");

    // A row switched off makes nothing.
    let r = app.patch(&format!("/api/recurring/{id}"), json!({"is_active": false, "last_run_at": five_ago})).await;
    assert_eq!(r.status(), 200);
    let count = made_from(&app, "Boiler check").await.len();
    run_job(&app).await;
    assert_eq!(made_from(&app, "Boiler check").await.len(), count);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_managers_and_admins_keep_recurring_work() {
    let app = secured_app().await;
    for (who, status) in [("anna", 201), ("mike", 201), ("sue", 403), ("boris", 403), ("carl", 403)] {
        let t = token(&app, who).await;
        let body = json!({"title": format!("by {who}"), "schedule": "0 9 1 * *"});
        let (s, answer) = call(&app, "POST", "/api/recurring", Some(&t), Some(body)).await;
        assert_eq!(s, status, "{who}: {answer}");
        let (s, _) = call(&app, "GET", "/api/recurring", Some(&t), None).await;
        assert_eq!(s, if status == 201 { 200 } else { 403 }, "{who} lists");
    }
    app.stop().await;
}

/// Two servers on one database, both running the job every second: each occurrence
/// makes one task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_make_each_occurrence_once() {
    if crate::common::pg::or_skip("two_servers_on_one_database_make_each_occurrence_once").is_none() {
        return;
    }
    let every_second = |c: &mut taskboard::config::Config| {
        if let Some(job) = c.cron.jobs.get_mut("recurring") {
            job.interval = Some("1s".into());
        }
    };
    let (a, b, _) = crate::postgres::two_servers(|_| {}, every_second).await;
    let five_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = a.post("/api/recurring", json!({"title": "Filters", "schedule": "* * * * *"})).await;
    let row: Value = r.json().await.unwrap();
    let id = row["id"].as_u64().unwrap();
    assert_eq!(a.patch(&format!("/api/recurring/{id}"), json!({"last_run_at": five_ago})).await.status(), 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (on_a, on_b) = (made_from(&a, "Filters").await, made_from(&b, "Filters").await);
    assert!((5..=7).contains(&on_a.len()), "one task a minute for five minutes, none twice: {on_a:?}");
    assert_eq!(on_a, on_b, "both servers see the same tasks");
    a.stop().await;
    b.stop().await;
}
