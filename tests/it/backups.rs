//! Backups: take, verify, damage, restore; tampering refused; a running server respected.

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{ServerProcess, TestApp, USERS_CSV, taskboard_in};

fn cli(args: &[&str], data: &Path, config: &Path) -> (i32, String, String) {
    let out = taskboard_in(data.parent().unwrap())
        .arg("--config")
        .arg(config)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "backup:\n  dir: {}\nlogging:\n  file_path: {}/logs/t.log\n",
            dir.join("backups").display(),
            dir.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_damage_then_restore_brings_every_row_back() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    let config_path = write_config(app.dir.path());
    let backups = app.dir.path().join("backups");
    for i in 1..=20 {
        app.post("/api/tasks", json!({"title": format!("task {i}"), "assigned_to": 1 + i % 2})).await;
    }
    app.post("/api/tasks/3/comments", json!({"message": "keep me"})).await;
    app.client.post(app.url("/api/docs?filename=plan.txt&task_id=3")).body("the plan").send().await.unwrap();
    // Through the API, from the store's consistent state (nothing folded needed).
    let mut config = crate::common::test_config(&app.data());
    config.backup.dir = backups.clone();
    config.source_path = Some(config_path.clone());
    let r = taskboard::api::backups::create_backup(&*app.store().store, &config).await.expect("backup");
    assert_eq!(r.status(), 201);
    let list = taskboard::backup::list(&backups);
    assert_eq!(list.len(), 1);
    let manifest = taskboard::backup::verify(&backups.join(&list[0].name)).expect("verifies");
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for wanted in [
        "data/tasks.csv",
        "data/users.csv",
        "data/comments.csv",
        "data/events.csv",
        "data/docs/1/plan.txt",
        "config.yaml",
    ] {
        assert!(paths.contains(&wanted), "{wanted} in {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.contains(".taskboard") || p.contains(".env")), "{paths:?}");
    let data = app.data();
    let dir = app.stop().await;

    // Damage: the tasks are gone and so is the document.
    std::fs::write(
        data.join("tasks.csv"),
        "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n",
    )
    .unwrap();
    std::fs::remove_dir_all(data.join("docs")).unwrap();
    let archive = backups.join(&list[0].name);
    let (code, out, err) = cli(&["restore", archive.to_str().unwrap()], &data, &config_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the previous data folder is at"), "{out}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("data.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged folder is moved aside, not deleted");
    assert!(dir.path().join("config.yaml.from-backup").exists());

    let app = TestApp::start_in(dir, crate::common::test_config(&data)).await;
    assert_eq!(app.get_json("/api/tasks").await["total"], 20);
    assert_eq!(app.get_json("/api/tasks/3/comments").await["items"][0]["message"], "keep me");
    assert_eq!(app.get("/api/docs/1/content").await.text().await.unwrap(), "the plan");
    app.stop().await;
}

/// Rewrites an archive with `change` applied to its entries (path, bytes).
fn rewrite(archive: &Path, out: &Path, change: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut entries = Vec::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap()));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if let Some(bytes) = change(&path, bytes) {
            entries.push((path, bytes));
        }
    }
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(out).unwrap(),
        flate2::Compression::default(),
    ));
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
fn a_tampered_or_incomplete_backup_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("users.csv"), USERS_CSV).unwrap();
    std::fs::write(data.join("tasks.csv"), "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n1,real,,new,low,1,,,,\n").unwrap();
    let config = write_config(dir.path());
    let (code, out, err) = cli(&["backup", "create"], &data, &config);
    assert_eq!(code, 0, "{err}");
    let archive = Path::new(out.trim()).to_path_buf();
    let (code, out, _) = cli(&["backup", "verify", archive.to_str().unwrap()], &data, &config);
    assert_eq!(code, 0);
    assert!(out.contains("match the manifest"));

    let altered = dir.path().join("altered.tar.gz");
    rewrite(&archive, &altered, |path, bytes| {
        Some(if path == "data/tasks.csv" {
            String::from_utf8(bytes).unwrap().replace("real", "fake").into_bytes()
        } else {
            bytes
        })
    });
    let (code, _, err) = cli(&["backup", "verify", altered.to_str().unwrap()], &data, &config);
    assert_eq!(code, 1);
    assert!(err.contains("data/tasks.csv is altered"), "{err}");
    let (code, _, err) = cli(&["restore", altered.to_str().unwrap()], &data, &config);
    assert_eq!(code, 1, "a tampered archive is never restored");
    assert!(err.contains("data/tasks.csv is altered"), "{err}");
    assert!(std::fs::read_to_string(data.join("tasks.csv")).unwrap().contains("1,real,"), "the data is untouched");

    let incomplete = dir.path().join("incomplete.tar.gz");
    rewrite(&archive, &incomplete, |path, bytes| if path == "data/users.csv" { None } else { Some(bytes) });
    let (code, _, err) = cli(&["backup", "verify", incomplete.to_str().unwrap()], &data, &config);
    assert_eq!(code, 1);
    assert!(err.contains("data/users.csv is missing"), "{err}");
}

#[test]
fn dot_env_is_backed_up_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(dir.path().join(".env"), "SECRET_KEY=do-not-copy-me\n").unwrap();
    let paths_of = |include: bool| {
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "backup:\n  dir: {}\n  include_env: {include}\n",
                dir.path().join(format!("b-{include}")).display()
            ),
        )
        .unwrap();
        let (code, out, err) = cli(&["backup", "create"], &data, &config);
        assert_eq!(code, 0, "{err}");
        let manifest = taskboard::backup::verify(Path::new(out.trim())).unwrap();
        manifest.files.into_iter().map(|f| f.path).collect::<Vec<_>>()
    };
    let without = paths_of(false);
    assert!(without.contains(&"config.yaml".to_string()) && !without.contains(&".env".to_string()), "{without:?}");
    let with = paths_of(true);
    assert!(with.contains(&".env".to_string()), "{with:?}");
}

#[tokio::test]
async fn restore_refuses_while_a_server_runs_on_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path());
    std::fs::create_dir_all(&data).unwrap();
    let (code, out, err) = cli(&["backup", "create"], &data, &config);
    assert_eq!(code, 0, "{err}");
    let server = ServerProcess::start(&data);
    let (code, _, err) = cli(&["restore", out.trim()], &data, &config);
    assert_eq!(code, 1);
    assert!(err.contains("is running on") && err.contains("--force"), "{err}");
    assert!(server.terminate().success());
    let (code, _, err) = cli(&["restore", out.trim()], &data, &config);
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn backups_over_http_list_create_and_verify() {
    let app = TestApp::spawn_with(
        |_| {},
        |c| c.backup.dir = std::env::temp_dir().join(format!("tb-bk-{}", std::process::id())),
    )
    .await;
    app.post("/api/tasks", json!({"title": "x"})).await;
    let r = app.client.post(app.url("/api/system/backups")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let name = made["name"].as_str().unwrap().to_string();
    let list = app.get_json("/api/system/backups").await;
    assert!(list["items"].as_array().unwrap().iter().any(|b| b["name"] == name.as_str()));
    let r = app.client.post(app.url(&format!("/api/system/backups/{name}/verify"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], true);
    let r = app.client.post(app.url("/api/system/backups/..%2Fetc%2Fpasswd/verify")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("tb-bk-{}", std::process::id())));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_verify_take_names_and_work_with_the_default_config_path() {
    let app = TestApp::spawn_with(|data| std::fs::write(data.join("users.csv"), USERS_CSV).unwrap(), |_| {}).await;
    app.post("/api/tasks", json!({"title": "kept"})).await;
    let dir = app.stop().await;
    write_config(dir.path());
    // In the folder, as a new user would: no --config (config.yaml by default).
    let run = |args: &[&str]| {
        let out = taskboard_in(dir.path()).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["backup", "create"]);
    assert_eq!(code, 0, "{out}{err}");
    let name = taskboard::backup::list(&dir.path().join("backups"))[0].name.clone();
    let (code, out, err) = run(&["backup", "verify", &name]);
    assert_eq!(code, 0, "verify by the name `backup list` shows: {out}{err}");
    let (code, out, err) = run(&["restore", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("config.yaml.from-backup"), "{out}");
    assert!(dir.path().join("config.yaml.from-backup").exists());
    assert!(std::fs::read_to_string(dir.path().join("data/tasks.csv")).unwrap().contains("kept"));
}
