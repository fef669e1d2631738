//! The storage contract (ARCHITECTURE.md, "How a write becomes durable" and "Invariants") through the real server and real files.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{self, ServerProcess, TestApp, USERS_CSV, run_check};

/// The header a Russian-locale Excel keeps after a person reorders columns and adds one.
const EXCEL_TASKS: &str = "\u{feff}title;id;status;priority;estimate;description;assigned_to;created_by;due_date;created_at;updated_at\r\n\
Купить сервер;1;new;high;3,5;\"Две строки:\r\nвторая; с точкой с запятой\";1;1;2026-12-01;2026-11-01T09:00:00Z;2026-11-01T09:00:00Z\r\n\
\"Отчёт \"\"Q4\"\"\";2;in_progress;medium;;;2;1;;2026-11-02T09:00:00Z;2026-11-02T09:00:00Z\r\n\
Третья;3;done;low;1;;;;;2026-11-03T09:00:00Z;2026-11-03T09:00:00Z\r\n";

#[tokio::test]
async fn excel_saved_tasks_file_round_trips_changing_only_the_updated_cells() {
    let app = TestApp::spawn_with(
        |data| {
            std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
            std::fs::write(data.join("tasks.csv"), EXCEL_TASKS).unwrap();
        },
        |_| {},
    )
    .await;
    let task = app.get_json("/api/tasks/1").await;
    assert_eq!(task["title"], "Купить сервер");
    assert_eq!(task["description"], "Две строки:\r\nвторая; с точкой с запятой");
    assert_eq!(task["estimate"], "3,5", "an unknown column is served with its value");
    assert_eq!(app.get_json("/api/tasks/2").await["title"], "Отчёт \"Q4\"");

    let r = app.patch("/api/tasks/2", json!({"status": "done"})).await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    let new_stamp = updated["updated_at"].as_str().unwrap().to_string();
    let dir = app.stop().await;

    let after = std::fs::read_to_string(dir.path().join("data/tasks.csv")).unwrap();
    // The column the server keeps (completed_at) is added at the end of every row,
    // empty but for the task just finished; every other byte stays.
    let widened = EXCEL_TASKS.replace("updated_at\r\n", "updated_at;completed_at\r\n").replace("Z\r\n", "Z;\r\n");
    let expected = widened.replace(
        ";2;in_progress;medium;;;2;1;;2026-11-02T09:00:00Z;2026-11-02T09:00:00Z;",
        &format!(";2;done;medium;;;2;1;;2026-11-02T09:00:00Z;{new_stamp};{new_stamp}"),
    );
    assert_ne!(expected, widened);
    assert_eq!(after, expected, "only the changed cells of row 2 differ");
}

/// One broken file each: (file, its content, the location, a part of the message).
fn broken_corpus() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let header = "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n";
    let good = "1,Ship it,,new,high,1,1,2026-12-01,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n";
    let tasks = |bad: &str| format!("{header}{good}{bad}\n");
    let users = |bad: &str| format!("{USERS_CSV}{bad}\n");
    vec![
        ("tasks.csv", tasks("2,\"Ship it,,new,high,1,1,,,\n3,x,,new,high,,,,,"), "tasks.csv:3:3:", "unbalanced quote"),
        ("tasks.csv", tasks("2,Ship it,,new,high"), "tasks.csv:3:1:", "this row has 5 fields but the header has 10"),
        ("tasks.csv", tasks("1,Again,,new,high,1,1,,,"), "tasks.csv:3:1:", "duplicate id 1: line 2 has it already"),
        (
            "tasks.csv",
            tasks("2,Ship it,,finished,high,1,1,,,"),
            "tasks.csv:3:12:",
            "\"finished\" is not a status; expected one of new, in_progress, done, cancelled",
        ),
        ("tasks.csv", tasks("2,Ship it,,new,urgent,1,1,,,"), "tasks.csv:3:16:", "\"urgent\" is not a priority"),
        ("tasks.csv", tasks("2,Ship it,,new,high,1,1,31.12.2026,,"), "tasks.csv:3:25:", "\"31.12.2026\" is not a date"),
        (
            "tasks.csv",
            tasks("2,Ship it,,new,high,99,1,,,"),
            "tasks.csv:3:21:",
            "assigned_to 99 does not exist in users.csv",
        ),
        ("users.csv", users("3,carl,,boss,,,true"), "users.csv:4:9:", "\"boss\" is not a role"),
        ("users.csv", users("3,carl,,member,,,maybe"), "users.csv:4:18:", "\"maybe\" is not a boolean"),
    ]
}

#[tokio::test]
async fn each_broken_file_is_reported_precisely_by_check_and_left_unchanged() {
    for (file, content, location, message) in broken_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
        std::fs::write(data.join(file), &content).unwrap();
        let (code, out) = run_check(data);
        assert_eq!(code, 1, "check must fail for {location} {message}\n{out}");
        let line = out.lines().find(|l| l.starts_with(location)).unwrap_or_else(|| panic!("no {location} in:\n{out}"));
        assert!(line.contains(message), "{line:?} should say {message:?}");
        assert_eq!(std::fs::read_to_string(data.join(file)).unwrap(), content, "check never writes");
    }
}

#[tokio::test]
async fn a_table_whose_file_is_broken_is_not_written_and_its_writes_get_503() {
    let (_, content, location, _) = broken_corpus().into_iter().nth(3).unwrap();
    let app = TestApp::spawn_with(
        |data| {
            std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
            std::fs::write(data.join("tasks.csv"), &content).unwrap();
        },
        |_| {},
    )
    .await;
    let r = app.post("/api/tasks", json!({"title": "new one"})).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains(location), "{body}");
    assert_eq!(app.patch("/api/tasks/1", json!({"status": "done"})).await.status(), 503);
    assert_eq!(app.get("/api/tasks").await.status(), 503);
    let health = app.get_json("/api/health").await;
    assert_eq!(health["status"], "degraded");
    let tasks = health["tables"].as_array().unwrap().iter().find(|t| t["table"] == "tasks").unwrap().clone();
    assert_eq!(tasks["readable"], false);
    assert!(tasks["problems"][0].as_str().unwrap().starts_with(location));
    // Other tables go on working.
    assert_eq!(app.post("/api/users", json!({"username": "carl"})).await.status(), 201);
    let dir = app.stop().await;
    assert_eq!(std::fs::read_to_string(dir.path().join("data/tasks.csv")).unwrap(), content);
}

#[tokio::test]
async fn missing_files_are_created_with_their_headers() {
    let app = TestApp::spawn().await;
    let data = app.data();
    let expected = [
        (
            "users.csv",
            "id,username,telegram_id,role,created_at,updated_at,is_active,full_name,phone,email,telegram_username,language\n",
        ),
        (
            "tasks.csv",
            "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at,completed_at\n",
        ),
        ("events.csv", "id,type,entity,entity_id,user_id,source,message,data,created_at\n"),
        ("docs.csv", "id,title,filename,content_type,size_bytes,sha256,task_id,uploaded_by,created_at,updated_at\n"),
        ("comments.csv", "id,task_id,user_id,message,created_at,updated_at\n"),
        ("credentials.csv", "user_id,password_hash,password_changed_at\n"),
    ];
    for (file, content) in expected {
        assert_eq!(std::fs::read_to_string(data.join(file)).unwrap(), content, "{file}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("credentials.csv")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials.csv is private");
    }
    let (code, out) = run_check(&data);
    assert_eq!(code, 0, "{out}");
    app.stop().await;
}

/// A tiny deterministic generator, so a failing run can be repeated.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[derive(Default, Debug, Clone)]
struct Acked {
    title: String,
    /// The last description acknowledged, and one sent after it whose answer never came.
    description: Option<String>,
    in_flight: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_at_random_moments() {
    let rounds: u64 = std::env::var("TB_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
    let acked: Arc<Mutex<BTreeMap<u64, Acked>>> = Arc::default();
    let mut rng = Lcg(0x5eed);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut total_acks = 0usize;
    for round in 0..rounds {
        let server = ServerProcess::start(&data);
        let deadline = Instant::now() + Duration::from_millis(50 + rng.next(1400));
        let mut writers = Vec::new();
        for w in 0..16u64 {
            let (client, base, acked) = (client.clone(), server.base.clone(), acked.clone());
            let dir_logs = dir.path().join("logs");
            writers.push(tokio::spawn(async move {
                let mut mine: Vec<u64> = Vec::new();
                let mut n = 0u64;
                let mut acks = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    if mine.is_empty() || n.is_multiple_of(3) {
                        let title = format!("r{round}-w{w}-{n}");
                        let Ok(r) =
                            client.post(format!("{base}/api/tasks")).json(&json!({"title": title})).send().await
                        else {
                            break;
                        };
                        let status = r.status();
                        let Ok(body) = r.json::<Value>().await else { break };
                        let id = body["id"].as_u64().unwrap_or_else(|| {
                            let log = std::fs::read_to_string(dir_logs.join("errors.log")).unwrap_or_default();
                            panic!("not created: {status} {body}\nerrors.log:\n{log}")
                        });
                        acked.lock().unwrap().insert(id, Acked { title, ..Default::default() });
                        mine.push(id);
                    } else {
                        let id = mine[(n as usize) % mine.len()];
                        let value = format!("r{round}-w{w}-v{n}");
                        acked.lock().unwrap().get_mut(&id).unwrap().in_flight = Some(value.clone());
                        let sent = client
                            .patch(format!("{base}/api/tasks/{id}"))
                            .json(&json!({"description": value}))
                            .send()
                            .await;
                        let Ok(r) = sent else { break };
                        if r.status() != 200 || r.bytes().await.is_err() {
                            break;
                        }
                        let mut a = acked.lock().unwrap();
                        let entry = a.get_mut(&id).unwrap();
                        entry.description = Some(value);
                        entry.in_flight = None;
                    }
                    acks += 1;
                }
                acks
            }));
        }
        tokio::time::sleep_until(deadline.into()).await;
        server.kill9();
        for w in writers {
            total_acks += w.await.unwrap();
        }
    }
    assert!(total_acks > 100, "the load was real: {total_acks} acknowledged writes");
    // A temporary file such as a crash leaves must not be taken for data.
    let decoy = data.join(".tmp-tasks.csv-fold");
    std::fs::write(&decoy, "id,title\n999999,decoy\n").unwrap();
    let (code, out) = run_check(&data);
    assert_eq!(code, 0, "the files parse after {rounds} kills:\n{out}");
    let status = ServerProcess::start(&data).terminate();
    assert!(status.success(), "a clean stop exits 0");
    assert!(!decoy.exists(), "leftover temporaries are removed at start");

    let mut reader = csv::Reader::from_path(data.join("tasks.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id_col, title_col, desc_col) = (col("id"), col("title"), col("description"));
    let rows: HashMap<u64, (String, String)> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[id_col].parse().unwrap(), (r[title_col].to_string(), r[desc_col].to_string())))
        .collect();
    assert!(!rows.contains_key(&999999));
    let acked = acked.lock().unwrap();
    for (id, want) in acked.iter() {
        let (title, description) = rows.get(id).unwrap_or_else(|| panic!("acknowledged task {id} is missing"));
        assert_eq!(title, &want.title);
        // The last acknowledged value (empty if none), or the one in flight at the kill.
        let mut allowed = vec![want.description.as_deref().unwrap_or("")];
        allowed.extend(want.in_flight.as_deref());
        assert!(allowed.contains(&description.as_str()), "task {id}: {description:?} not in {allowed:?}");
    }
    let torn = std::fs::read_to_string(data.join(".taskboard/events-torn.csv")).map(|t| t.lines().count()).unwrap_or(0);
    eprintln!(
        "{rounds} kills, {total_acks} acknowledged writes, {} tasks verified, {torn} torn journal lines kept aside",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_end_in_the_state_of_their_acknowledged_sequence() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    for i in 0..10 {
        assert_eq!(app.post("/api/tasks", json!({"title": format!("t{i}")})).await.status(), 201);
    }
    let app = Arc::new(app);
    let mut writers = Vec::new();
    for w in 0..32u64 {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..30u64 {
                // Half the writes go to task 1 (shared by all), half to a row shared by a few.
                let id = if i % 2 == 0 { 1 } else { 2 + w % 9 };
                let value = format!("w{w}-{i}");
                let r = app.patch(&format!("/api/tasks/{id}"), json!({"description": value})).await;
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["description"], value.as_str(), "the answer shows this write");
                acked.push((id, value));
            }
            acked
        }));
    }
    let mut acked: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for w in writers {
        for (id, v) in w.await.unwrap() {
            acked.entry(id).or_default().push(v);
        }
    }
    let live: BTreeMap<u64, String> = {
        let mut m = BTreeMap::new();
        for id in 1..=10u64 {
            m.insert(
                id,
                app.get_json(&format!("/api/tasks/{id}")).await["description"].as_str().unwrap_or("").to_string(),
            );
        }
        m
    };
    let app = Arc::into_inner(app).unwrap();
    let dir = app.stop().await;
    // The journal holds every acknowledged write once, in commit order.
    let mut reader = csv::Reader::from_path(dir.path().join("data/events.csv")).unwrap();
    let mut journaled: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for r in reader.records() {
        let r = r.unwrap();
        if &r[1] != "task.updated" {
            continue;
        }
        let data: Value = serde_json::from_str(&r[7]).unwrap();
        if let Some(v) = data["after"]["description"].as_str() {
            journaled.entry(r[3].parse().unwrap()).or_default().push(v.to_string());
        }
    }
    let mut reader = csv::Reader::from_path(dir.path().join("data/tasks.csv")).unwrap();
    let in_file: BTreeMap<u64, String> =
        reader.records().map(|r| r.unwrap()).map(|r| (r[0].parse().unwrap(), r[2].to_string())).collect();
    for (id, values) in &acked {
        let mut a = values.clone();
        let mut j = journaled[id].clone();
        let last = j.last().unwrap().clone();
        a.sort();
        j.sort();
        assert_eq!(a, j, "task {id}: every acknowledged write is journaled exactly once");
        assert_eq!(in_file[id], last, "task {id}: the file holds the last committed write");
        assert_eq!(live[id], last, "task {id}: the server served the last committed write");
    }
}

#[tokio::test]
async fn with_the_cache_off_every_read_comes_from_the_file() {
    let app = TestApp::spawn_with(
        |data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(),
        |c| c.performance.cache_enabled = false,
    )
    .await;
    assert_eq!(app.post("/api/tasks", json!({"title": "from the api"})).await.status(), 201);
    assert_eq!(app.patch("/api/tasks/1", json!({"status": "in_progress"})).await.status(), 200);
    // Read straight after the write: the journal has it even before the file is folded.
    assert_eq!(app.get_json("/api/tasks/1").await["status"], "in_progress");
    // Once folded, a person's edit of the file shows on the next read.
    let path = app.data().join("tasks.csv");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&path).unwrap().contains("in_progress") {
        assert!(Instant::now() < deadline, "the change is folded into tasks.csv");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&path).unwrap().replace("from the api", "edited in a spreadsheet");
    std::fs::write(&path, text).unwrap();
    assert_eq!(app.get_json("/api/tasks/1").await["title"], "edited in a spreadsheet");
    app.stop().await;
}

#[tokio::test]
async fn dropping_the_cache_loses_nothing() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    for i in 0..20 {
        app.post("/api/tasks", json!({"title": format!("t{i}"), "assigned_to": 2})).await;
    }
    app.patch("/api/tasks/7", json!({"priority": "critical"})).await;
    app.client.delete(app.url("/api/tasks/3")).send().await.unwrap();
    let before = app.get_json("/api/tasks?per_page=100").await;
    app.store().store.drop_cache();
    let after = app.get_json("/api/tasks?per_page=100").await;
    assert_eq!(before, after);
    assert_eq!(after["total"], 19);
    assert_eq!(app.get_json("/api/tasks/7").await["priority"], "critical");
    app.stop().await;
}

#[tokio::test]
async fn every_commit_reaches_the_change_feed_and_events_csv() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    let mut feed = app.store().store.subscribe();
    app.post("/api/tasks", json!({"title": "watch me"})).await;
    app.patch("/api/tasks/1", json!({"status": "done"})).await;
    let created = feed.recv().await.unwrap();
    let updated = feed.recv().await.unwrap();
    assert_eq!((created.op, created.id, created.event_id), (taskboard::store::ChangeOp::Create, 1, 1));
    assert_eq!(updated.event_id, 2);
    assert_eq!(updated.before.as_ref().unwrap()["status"], "new");
    assert_eq!(updated.after.as_ref().unwrap()["status"], "done");
    assert_eq!(updated.source, taskboard::store::Source::Api);
    let events = std::fs::read_to_string(app.data().join("events.csv")).unwrap();
    let line = events.lines().nth(2).unwrap();
    assert!(line.starts_with("2,task.updated,task,1,,api,,"), "{line}");
    let data: Value =
        serde_json::from_str(&csv::Reader::from_reader(events.as_bytes()).records().nth(1).unwrap().unwrap()[7])
            .unwrap();
    assert_eq!(data["before"]["status"], "new");
    assert_eq!(data["after"]["status"], "done");
    assert!(data["after"].get("title").is_none(), "only the changed fields are recorded");
    app.stop().await;
}

#[tokio::test]
async fn event_ids_keep_growing_across_restarts_and_roll_over() {
    let app = TestApp::spawn_with(
        |data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(),
        |c| c.performance.max_file_size_mb = 1,
    )
    .await;
    let long = "x".repeat(2000);
    let mut created = 0;
    let archive = app.data().join("archive");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Writes go on until events.csv has rolled over (it may happen before the loop has
    // written 1.1 MB when the writes are slow: the fold keeps up between them).
    let archived = loop {
        // Only a finished archive counts: while it is written, a temporary file of the
        // writer's own sits in the folder beside it.
        let found: Vec<String> = std::fs::read_dir(&archive)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        if let Some(name) = found.into_iter().find(|n| n.starts_with("events-") && n.ends_with(".csv.gz")) {
            break name;
        }
        assert!(Instant::now() < deadline, "events.csv rolls over once past max_file_size_mb");
        if std::fs::metadata(app.data().join("events.csv")).unwrap().len() < 1_100_000 {
            assert_eq!(app.post("/api/tasks", json!({"title": "big", "description": long})).await.status(), 201);
            created += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let last: usize =
        archived.strip_prefix("events-1-").and_then(|r| r.strip_suffix(".csv.gz")).unwrap().parse().unwrap();
    assert!(last > 0 && last <= created, "{archived} after {created} tasks");
    let gz = std::fs::File::open(archive.join(&archived)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).unwrap();
    assert_eq!(text.lines().count(), last + 1, "the archive holds every event and the header");
    // The archive is in place a moment before events.csv is rewritten without what it
    // holds: the file shrinks soon after, not necessarily at once.
    let bound = 1000 + 2100 * (created - last) as u64;
    while std::fs::metadata(app.data().join("events.csv")).unwrap().len() >= bound {
        assert!(Instant::now() < deadline, "events.csv keeps only what the archive does not hold");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.post("/api/tasks", json!({"title": "after roll-over"})).await;
    let config = common::test_config(&app.data());
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, config).await;
    let mut feed = app.store().store.subscribe();
    app.post("/api/tasks", json!({"title": "after restart"})).await;
    let change = feed.recv().await.unwrap();
    assert_eq!(change.event_id, created as u64 + 2, "ids go on counting across roll-over and restart");
    assert_eq!(app.get_json("/api/tasks?per_page=1").await["total"], created + 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_while_stopped_wins_over_unfolded_journal_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
    let client = reqwest::Client::new();
    // Run 1 ends cleanly: both tasks are in tasks.csv.
    let server = ServerProcess::start(&data);
    for title in ["one", "two"] {
        let r = client.post(format!("{}/api/tasks", server.base)).json(&json!({"title": title})).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    assert!(server.terminate().success());
    // Run 2 dies before its changes are folded into tasks.csv (they are in events.csv).
    let server = ServerProcess::start(&data);
    for (id, body) in [(1, json!({"status": "done"})), (2, json!({"title": "server title"}))] {
        let r = client.patch(format!("{}/api/tasks/{id}", server.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    server.kill9();
    let path = data.join("tasks.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("done") && !text.contains("server title"), "the changes were not folded yet:\n{text}");
    // A person edits the file while the server is stopped.
    let edited = text.replace("1,one,,", "1,one,added by hand,").replace("2,two,", "2,person title,");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    // Run 3 replays the journal into the edited file, field by field.
    let server = ServerProcess::start(&data);
    let t1: Value = client.get(format!("{}/api/tasks/1", server.base)).send().await.unwrap().json().await.unwrap();
    let t2: Value = client.get(format!("{}/api/tasks/2", server.base)).send().await.unwrap().json().await.unwrap();
    assert!(server.terminate().success());
    assert_eq!(t1["status"], "done", "the journaled change the person did not touch is applied");
    assert_eq!(t1["description"], "added by hand", "the person's edit stays");
    assert_eq!(t2["title"], "person title", "on the same field, the person's edit wins");
    let events = std::fs::read_to_string(data.join("events.csv")).unwrap();
    let conflict = events.lines().find(|l| l.contains("conflict.merged")).expect("the conflict is recorded");
    assert!(conflict.contains("server title"), "the journal's value is kept in the event: {conflict}");
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.contains("1,one,added by hand,done,") && file.contains("2,person title,"), "{file}");
}

#[tokio::test]
async fn a_persons_save_while_running_is_merged_never_overwritten() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    app.post("/api/tasks", json!({"title": "first"})).await;
    app.post("/api/tasks", json!({"title": "second"})).await;
    let path = app.data().join("tasks.csv");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&path).unwrap().contains("second") {
        assert!(Instant::now() < deadline, "the creates are folded into tasks.csv");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A person saves the file while the server runs, then the API changes another task.
    let edited = std::fs::read_to_string(&path).unwrap().replace("1,first,", "1,hand edit,");
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(app.patch("/api/tasks/2", json!({"status": "done"})).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("2,second,,done,") {
            assert!(text.contains("1,hand edit,"), "the person's save is kept: {text}");
            break;
        }
        assert!(Instant::now() < deadline, "the server's change is written in beside the person's: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.get_json("/api/tasks/1").await["title"], "hand edit");
    let config = common::test_config(&app.data());
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, config).await;
    assert_eq!(app.get_json("/api/tasks/1").await["title"], "hand edit");
    assert_eq!(app.get_json("/api/tasks/2").await["status"], "done");
    app.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = ServerProcess::start(&data);
    let out = common::taskboard_in(dir.path())
        .args(["--config", "/nonexistent.yaml", "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is using the data folder"), "{stderr}");
    assert!(stderr.contains(&first.child.id().to_string()), "names the holder: {stderr}");
    assert!(first.terminate().success());
    // Once stopped, the folder is free again.
    assert!(ServerProcess::start(&data).terminate().success());
}

/// SIGKILL can land in the middle of a journal append (the kernel writes a large append
/// page by page). The cut row was never acknowledged; it must not swallow the rows after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_row_cut_short_by_a_crash_does_not_stop_the_next_start() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    assert_eq!(app.post("/api/tasks", json!({"title": "before the crash"})).await.status(), 201);
    let dir = app.stop().await;
    let data = dir.path().join("data");
    // The crash: half of a row, cut inside its quoted data cell.
    let events = data.join("events.csv");
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.push_str("99,task.updated,task,1,,api,task 1 updated,\"{\"\"before\"\":{\"\"title\"\":\"\"bef");
    std::fs::write(&events, text).unwrap();

    let (code, out) = run_check(&data);
    assert_eq!(code, 0, "an unacknowledged cut row is not a broken file:\n{out}");
    let server = ServerProcess::start(&data);
    let client = reqwest::Client::new();
    let r = client.post(format!("{}/api/tasks", server.base)).json(&json!({"title": "after"})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    server.kill9();
    // The row written after the cut is whole: the next start reads the journal and replays it.
    let server = ServerProcess::start(&data);
    let tasks: Value = client.get(format!("{}/api/tasks", server.base)).send().await.unwrap().json().await.unwrap();
    assert!(server.terminate().success());
    let titles: Vec<&str> = tasks["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["before the crash", "after"]);
    let aside = std::fs::read_to_string(data.join(".taskboard/events-torn.csv")).unwrap();
    assert!(aside.starts_with("99,task.updated"), "the cut bytes are kept aside: {aside}");
    assert_eq!(run_check(&data).0, 0);
}
