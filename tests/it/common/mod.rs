//! Test helpers: start the real server (in this process, or as a child process) on
//! port 0 with its own temporary data folder, and speak HTTP to it.
#![allow(dead_code)]

pub mod fake_telegram;
pub mod pg;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use taskboard::config::Config;

/// A server running inside the test process.
pub struct TestApp {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    running: Option<taskboard::app::Running>,
}

pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = data_dir.to_path_buf();
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    // A test that sets a bot token never reaches out: where no fake Bot API is named,
    // the bot finds nothing listening here (port 9, discard) and keeps retrying.
    config.telegram.api_url = "http://127.0.0.1:9".into();
    // A folder the harness moved into a database is served from there (a restart of
    // the folder is a restart on the database).
    if let Some(url) = pg::database_of(data_dir) {
        pg::use_database(&mut config, &url);
    }
    config
}

impl TestApp {
    /// Starts on a fresh, empty data folder.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}, |_| {}).await
    }

    /// Starts after `prepare` has written files into the data folder and `configure`
    /// has changed the configuration.
    pub async fn spawn_with(prepare: impl FnOnce(&Path), configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        prepare(&data);
        let mut config = test_config(&data);
        configure(&mut config);
        if pg::shared_suites_on_postgres() && !config.db_postgresql.enabled {
            pg::move_folder_into_database(&data, &mut config).await;
        }
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> TestApp {
        let running = taskboard::app::start(config).await.expect("server starts");
        TestApp {
            base: format!("http://{}", running.addr),
            dir,
            client: reqwest::Client::new(),
            running: Some(running),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn store(&self) -> &taskboard::app::Running {
        self.running.as_ref().unwrap()
    }

    /// Stops gracefully (every change folded into the files); keeps the folder.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.dir
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.patch(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }
}

/// The server as a child process, for kill -9.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_taskboard")
}

/// The binary, run in `workdir`: its default log folder (./logs) is then the test's
/// own, never the project's.
pub fn taskboard_in(workdir: &Path) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(workdir);
    command
}

impl ServerProcess {
    pub fn start(data_dir: &Path) -> ServerProcess {
        Self::start_with(Path::new("/nonexistent/taskboard-test.yaml"), data_dir, &[])
    }

    /// Starts with a configuration file and extra environment variables.
    pub fn start_with(config: &Path, data_dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        // The default log folder (./logs) is then the test's own, beside its data.
        let mut child = taskboard_in(data_dir.parent().unwrap_or(data_dir))
            .arg("--config")
            .arg(config)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .arg("--data-dir")
            .arg(data_dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap_or_default().to_string();
        assert!(!addr.is_empty(), "server printed no address: {line:?}");
        ServerProcess { child, base: format!("http://{addr}") }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }
}

/// Runs `taskboard check --data-dir DIR`; returns exit code and stdout.
pub fn run_check(data_dir: &Path) -> (i32, String) {
    let out = taskboard_in(data_dir.parent().unwrap_or(data_dir))
        .args(["--config", "/nonexistent/taskboard-test.yaml", "check", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

pub const USERS_CSV: &str = "id,username,telegram_id,role,created_at,updated_at,is_active\n\
1,anna,,admin,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
2,boris,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n";
