//! What the in-process benchmarks share (`#[path]`-included by each): their command-line
//! numbers, percentiles, and a server started on a folder of generated tasks.
// Each benchmark includes this file and uses some of it.
#![allow(dead_code)]

use std::time::Duration;

/// The number after `name` on the command line, or `default`.
pub fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// This process's resident memory, in MiB (Linux).
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// The `p` percentile of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// taskboard on port 0 with `rows` tasks titled by `title` (in a temporary folder,
/// removed when the second value drops), every client from this machine allowed,
/// after `configure` has had its say.
pub async fn start(
    rows: usize,
    title: impl Fn(usize) -> String,
    configure: impl FnOnce(&mut taskboard::config::Config),
) -> (taskboard::app::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut text =
        String::from("id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n");
    for i in 1..=rows {
        text.push_str(&format!(
            "{i},{},\"Prepare the figures, check them with finance\",new,medium,,,2026-12-01,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n",
            title(i)
        ));
    }
    std::fs::write(data.join("tasks.csv"), text).unwrap();
    let mut config = taskboard::config::Config::default();
    config.storage.data_dir = data;
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    config.server.max_connections = 20_000;
    // Every client comes from this machine.
    config.server.max_connections_per_address = 0;
    config.logging.file_path = dir.path().join("logs/task_system.log");
    configure(&mut config);
    (taskboard::app::start(config).await.unwrap(), dir)
}
