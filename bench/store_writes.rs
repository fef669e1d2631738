//! Storage benchmark: durable writes through the real server, and loading large tables.
//!
//! Run: `cargo bench --bench store_writes` (all scenarios), or with arguments:
//!   --writes-rows 10000,100000   tables to write against
//!   --writers 64,1               concurrent HTTP writers
//!   --seconds 10                 per scenario
//!   --load-rows 100000,1000000   tables to load
//!
//! Every write is acknowledged only after its fsync (group commit). Writers are HTTP
//! clients in this process (reqwest, keep-alive) talking to the server over loopback;
//! half of the requests create a task, half update a random existing one. Load figures
//! come from a child process per table size, so the peak memory is that load's alone.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskboard::store::{CsvStore, StoreConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure-load") {
        measure_load(Path::new(&args[i + 1]));
        return;
    }
    let list = |name: &str, default: &str| -> Vec<u64> {
        let value = args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str);
        value.unwrap_or(default).split(',').filter_map(|v| v.parse().ok()).collect()
    };
    let seconds = list("--seconds", "10")[0];
    let write_rows = list("--writes-rows", "10000,100000");
    let writers = list("--writers", "64,1");
    let load_rows = list("--load-rows", "100000,1000000");

    println!("machine: {} cores; {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), kernel());
    if !write_rows.is_empty() {
        println!("\n## durable writes over HTTP ({seconds} s each, 50% create / 50% update)\n");
        println!("| tasks | writers | writes/s | p50 ms | p99 ms | max ms | mean batch | mean fsync ms |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for rows in &write_rows {
            for w in &writers {
                runtime.block_on(write_scenario(*rows as usize, *w as usize, Duration::from_secs(seconds)));
            }
        }
    }
    if !load_rows.is_empty() {
        println!("\n## loading tasks.csv (start-up: parse, check every cell and reference)\n");
        println!("| tasks | file MB | load s | resident MB after | peak MB | peak / file |");
        println!("|---:|---:|---:|---:|---:|---:|");
        for rows in load_rows {
            let dir = tempfile::tempdir().unwrap();
            generate(dir.path(), rows as usize);
            let out = std::process::Command::new(&args[0]).arg("--measure-load").arg(dir.path()).output().unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default()
}

/// Writes users.csv (100 users) and tasks.csv with `rows` tasks of about 340 bytes.
fn generate(dir: &Path, rows: usize) {
    use std::io::Write;
    let mut users = String::from("id,username,telegram_id,role,created_at,updated_at,is_active\n");
    for i in 1..=100 {
        users.push_str(&format!("{i},user{i},,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n"));
    }
    std::fs::write(dir.join("users.csv"), users).unwrap();
    let file = std::fs::File::create(dir.join("tasks.csv")).unwrap();
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at")
        .unwrap();
    let statuses = ["new", "in_progress", "done", "cancelled"];
    let priorities = ["low", "medium", "high", "critical"];
    for i in 1..=rows {
        writeln!(
            out,
            "{i},Task number {i} about the quarterly plan,\"Prepare the figures, check them with finance and write the summary; \
             attach the spreadsheet and the notes from the meeting so that the team can review item {i} before the deadline\",\
             {},{},{},{},2026-12-{:02},2026-11-01T09:00:00Z,2026-11-{:02}T10:30:00Z",
            statuses[i % 4],
            priorities[i % 4],
            1 + i % 100,
            1 + (i * 7) % 100,
            1 + i % 28,
            1 + i % 21
        )
        .unwrap();
    }
    out.flush().unwrap();
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn measure_load(dir: &Path) {
    let file_bytes = std::fs::metadata(dir.join("tasks.csv")).unwrap().len();
    let rows = std::fs::read_to_string(dir.join("tasks.csv")).map(|s| s.lines().count() - 1).unwrap_or(0);
    let base_kb = status_kb("VmRSS:");
    let started = Instant::now();
    let store = CsvStore::open(StoreConfig::new(dir)).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let rss_kb = status_kb("VmRSS:").saturating_sub(base_kb);
    let peak_kb = status_kb("VmHWM:").saturating_sub(base_kb);
    let file_mb = file_bytes as f64 / 1e6;
    println!(
        "| {rows} | {file_mb:.1} | {seconds:.2} | {:.0} | {:.0} | {:.2} |",
        rss_kb as f64 / 1e3,
        peak_kb as f64 / 1e3,
        peak_kb as f64 * 1024.0 / file_bytes as f64
    );
    drop(store);
}

async fn write_scenario(rows: usize, writers: usize, duration: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    generate(&data, rows);
    let mut config = taskboard::config::Config::default();
    config.storage.data_dir = data.clone();
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    let running = taskboard::app::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let stats_before = (
        running.store.stats().batches.load(std::sync::atomic::Ordering::Relaxed),
        running.store.stats().commits.load(std::sync::atomic::Ordering::Relaxed),
        running.store.stats().fsync_micros_total.load(std::sync::atomic::Ordering::Relaxed),
    );
    let client = reqwest::Client::builder().pool_max_idle_per_host(writers).build().unwrap();
    let deadline = Instant::now() + duration;
    let mut handles = Vec::new();
    for w in 0..writers {
        let (client, base) = (client.clone(), base.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut seed = 0x9e3779b97f4a7c15u64 ^ (w as u64 + 1);
            let mut n = 0u64;
            while Instant::now() < deadline {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                n += 1;
                let started = Instant::now();
                let response = if n.is_multiple_of(2) {
                    let id = 1 + (seed >> 33) as usize % rows;
                    client
                        .patch(format!("{base}/api/tasks/{id}"))
                        .json(&json!({"description": format!("updated by writer {w} ({n})"), "priority": "high"}))
                        .send()
                        .await
                } else {
                    client
                        .post(format!("{base}/api/tasks"))
                        .json(&json!({"title": format!("created by writer {w} ({n})"), "assigned_to": 1 + w % 100}))
                        .send()
                        .await
                };
                let ok = matches!(response, Ok(r) if r.status().is_success());
                assert!(ok, "a write failed");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = duration.as_secs_f64();
    let stats = running.store.stats();
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed) - stats_before.0;
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed) - stats_before.1;
    let fsync_us = stats.fsync_micros_total.load(std::sync::atomic::Ordering::Relaxed) - stats_before.2;
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "| {rows} | {writers} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.2} |",
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().unwrap().as_secs_f64() * 1e3,
        commits as f64 / batches.max(1) as f64,
        fsync_us as f64 / 1e3 / batches.max(1) as f64,
    );
    running.stop().await;
    let _ = Arc::new(dir);
}
