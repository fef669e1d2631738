//! Start-up configuration errors and the log files, with the real binary.

use std::path::Path;

use crate::common::{ServerProcess, taskboard_in};

/// Runs `taskboard --config FILE serve` and returns (exit code, standard error).
fn start_fails(config_text: &str) -> (i32, String) {
    start_fails_with(config_text, &[])
}

fn start_fails_with(config_text: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, config_text).unwrap();
    let out = taskboard_in(dir.path())
        .env_remove("SECRET_KEY")
        .env_remove("FLASK_SECRET_KEY")
        .envs(env.iter().copied())
        .arg("--config")
        .arg(&config)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn configuration_errors_stop_start_up_naming_the_key() {
    let cases = [
        ("server:\n  port: 8080\n  prot: 1\n", ":3: server.prot: unknown field `prot`"),
        ("performance:\n  cache_enabled: sometimes\n", ":2: performance.cache_enabled: invalid type"),
        ("cron:\n  jobs:\n    x: {schedule: '* * * * *', task: t, colour: red}\n", "cron.jobs.x.colour: unknown field"),
        ("logging:\n  level: LOUD\n", "logging.level: \"LOUD\" is not a level"),
        ("logging:\n  format: '%(process)d %(message)s'\n", "logging.format: %(process) must end in s"),
        ("logging:\n  format: '%(lineno)s %(message)s'\n", "logging.format: %(lineno)s is not supported"),
        ("scheduler:\n  jobstore: redis\n", "scheduler.jobstore: \"redis\" is not a job store"),
        ("security:\n  enabled: true\n", "SECRET_KEY is not set"),
        ("server: [1, 2\n", "not valid YAML"),
        (
            "cron:\n  jobs:\n    x: {schedule: '0 25 * * *', task: t}\n",
            "cron.jobs.x.schedule: hour: 25 is out of range 0-23 (at character 3)",
        ),
        ("cron:\n  jobs:\n    x: {interval: 15x, task: t}\n", "cron.jobs.x.interval:"),
        ("scheduler:\n  timezone: Mars/Olympus\n", "scheduler.timezone: \"Mars/Olympus\" is not a time zone"),
    ];
    for (text, expected) in cases {
        let (code, stderr) = start_fails(text);
        assert_eq!(code, 2, "{text:?} must stop start-up: {stderr}");
        assert!(stderr.contains(expected), "{text:?}: expected {expected:?} in {stderr:?}");
    }
    // A placeholder secret (also under the older system's name) stops start-up too.
    for (name, value, expected) in [
        ("SECRET_KEY", "your-secure-secret-key-here", "placeholder"),
        ("FLASK_SECRET_KEY", "change-me", "placeholder"),
        ("SECRET_KEY", "short", "shorter than 16"),
    ] {
        let (code, stderr) = start_fails_with("security:\n  enabled: true\n", &[(name, value)]);
        assert_eq!(code, 2, "{name}={value} must stop start-up: {stderr}");
        assert!(stderr.contains(expected), "{name}={value}: expected {expected:?} in {stderr:?}");
        assert!(!stderr.contains(value) || value == "short", "the value itself is not printed: {stderr}");
    }
}

#[test]
fn a_configuration_in_which_nobody_can_log_in_stops_start_up() {
    let key = [("SECRET_KEY", "a-long-enough-secret-for-tests")];
    // The default validation method is Telegram only; without a bot nobody gets in.
    let (code, stderr) = start_fails_with("security:\n  enabled: true\n", &key);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nobody could log in") && stderr.contains("validation_method: password"), "{stderr}");
    let (code, stderr) = start_fails_with("security:\n  enabled: true\n  validation_method: telegram_username\n", &key);
    assert_eq!(code, 2, "{stderr}");
}

/// A temporary folder with config.yaml holding `text`, `LOGS` replaced by its logs
/// folder: (the folder, the logs folder, the config file).
fn config_with_logs(text: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, text.replace("LOGS", &logs.display().to_string())).unwrap();
    (dir, logs, config)
}

fn log_files(dir: &Path, stem: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(stem))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_by_size_follow_the_format_and_hold_no_secret() {
    let (dir, logs, config) = config_with_logs(
        "logging:\n  file_path: LOGS/task_system.log\n  max_size_mb: 0.01\n  format: '%(levelname)s|%(name)s|%(message)s'\n\
         telegram:\n  bot_token: ${TELEGRAM_BOT_TOKEN}\n  api_url: http://127.0.0.1:9\nllm:\n  api_key: ${OPENAI_API_KEY:-sk-default-secret}\n",
    );
    let secret = "123456:SECRET-token-never-logged";
    let server = ServerProcess::start_with(&config, &dir.path().join("data"), &[("TELEGRAM_BOT_TOKEN", secret)]);
    let client = reqwest::Client::new();
    for i in 0..500 {
        let r = client
            .get(format!("{}/api/tasks/{i}", server.base))
            .header("x-request-id", format!("req-{i}"))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 404 || r.status() == 200);
    }
    // A job run writes its line to scheduler.log.
    let r = client
        .post(format!("{}/api/system/scheduler/jobs/deadline_notifications/run", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(server.terminate().success());
    let scheduler = std::fs::read_to_string(logs.join("scheduler.log")).unwrap();
    assert!(scheduler.contains("INFO|taskboard::scheduler|finished: 0 reminders sent"), "{scheduler}");
    assert!(!scheduler.contains("|access|"), "only the scheduler's lines");

    let main = log_files(&logs, "task_system.log");
    assert!(main.len() >= 3, "10 KB files rotate under 500 access lines: {main:?}");
    let all: String = main.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(all.contains("INFO|access|GET /api/tasks/7 404 "), "the format and the access line");
    assert!(all.contains("request_id=req-7 user=anonymous"));
    for path in &main {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size < 12 * 1024, "{} is {size} bytes", path.display());
    }
    let errors = std::fs::read_to_string(logs.join("errors.log")).unwrap();
    assert!(errors.contains("WARNING|taskboard::app|security.enabled is false"), "{errors}");
    assert!(!errors.contains("INFO|"), "errors.log holds warnings and errors only");
    let every_file: String = log_files(&logs, "").iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(
        !every_file.contains("SECRET-token") && !every_file.contains("sk-default-secret"),
        "no secret in any log line"
    );
}

#[test]
fn start_up_says_loudly_when_no_user_could_log_in_yet() {
    let (dir, logs, config) = config_with_logs(
        "security:\n  enabled: true\n  validation_method: password\nlogging:\n  file_path: LOGS/task_system.log\n",
    );
    let server = ServerProcess::start_with(
        &config,
        &dir.path().join("data"),
        &[("SECRET_KEY", "a-long-enough-secret-for-tests")],
    );
    assert!(server.terminate().success());
    let errors = std::fs::read_to_string(logs.join("errors.log")).unwrap();
    assert!(errors.contains("nobody can log in yet: users.csv has no active user"), "{errors}");
}
