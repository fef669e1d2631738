//! Live-feed benchmark: how fast committed changes reach WebSocket clients.
//!
//! Run: `ulimit -n 8192; cargo bench --bench live_feed` (each client is a socket at
//! both ends). Arguments: `--clients 1000 --patches 50 --saves 20`.
//!
//! 1. N clients subscribe to `tasks`; PATCHes follow one another (50 ms apart); the
//!    latency is from each PATCH's response to each client's receipt of its change.
//! 2. One client; a person's save of a 10k-row tasks.csv (a temporary file renamed over
//!    it, one row changed); the latency is from the rename to the change's receipt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[path = "support.rs"]
mod support;
use support::{arg, percentile};

async fn start(rows: usize) -> (taskboard::app::Running, tempfile::TempDir) {
    support::start(rows, |i| format!("Task {i} about the quarterly plan"), |_| {}).await
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribed(url: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    ws.send(Message::text(json!({"type": "subscribe", "id": "s", "topic": "tasks"}).to_string())).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await
            && serde_json::from_str::<Value>(&t).unwrap()["type"] == "subscribed"
        {
            return ws;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients = arg(&args, "--clients", 1000);
    let patches = arg(&args, "--patches", 50);
    let saves = arg(&args, "--saves", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        // 1. Fan-out to many clients.
        let (running, _dir) = start(100).await;
        let url = format!("ws://{}/ws", running.addr);
        let base = format!("http://{}", running.addr);
        let mut sockets = Vec::with_capacity(clients);
        for _ in 0..clients {
            sockets.push(subscribed(&url).await);
        }
        // When each PATCH was answered, by event id; clients record their receipts.
        let answered: Arc<Mutex<std::collections::HashMap<u64, (Instant, Instant)>>> = Arc::default();
        let receipts: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let mut readers = Vec::new();
        for mut ws in sockets {
            let receipts = receipts.clone();
            readers.push(tokio::spawn(async move {
                let mut got = 0;
                while got < patches {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t).unwrap();
                            if v["type"] == "change" {
                                receipts.lock().await.push((v["event_id"].as_u64().unwrap(), Instant::now()));
                                got += 1;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }));
        }
        let client = reqwest::Client::new();
        let mut last_event = taskboard::store::Storage::last_event_id(running.store.as_ref());
        for i in 0..patches {
            let sent = Instant::now();
            let r = client
                .patch(format!("{base}/api/tasks/1"))
                .json(&json!({"description": format!("patch {i}")}))
                .send()
                .await
                .unwrap();
            let at = Instant::now();
            assert!(r.status().is_success());
            last_event += 1;
            answered.lock().await.insert(last_event, (sent, at));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for r in readers {
            let _ = tokio::time::timeout(Duration::from_secs(30), r).await;
        }
        let answered = answered.lock().await;
        let receipts = receipts.lock().await;
        let mut from_response: Vec<Duration> = Vec::new();
        let mut from_request: Vec<Duration> = Vec::new();
        let mut before_response = 0;
        for (id, at) in receipts.iter() {
            if let Some((sent, answered_at)) = answered.get(id) {
                if at < answered_at {
                    before_response += 1;
                }
                from_response.push(at.saturating_duration_since(*answered_at));
                from_request.push(at.saturating_duration_since(*sent));
            }
        }
        from_response.sort();
        from_request.sort();
        println!("\n## {clients} subscribed clients, {patches} PATCHes 50 ms apart\n");
        println!(
            "{} of {} deliveries; {before_response} arrived before the PATCH's own response (counted as 0 below)\n",
            from_response.len(),
            clients * patches
        );
        println!("| measured from | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|");
        for (label, l) in [("the PATCH's response", &from_response), ("the PATCH's request", &from_request)] {
            println!(
                "| {label} | {:.2} | {:.2} | {:.2} |",
                percentile(l, 0.5),
                percentile(l, 0.99),
                l.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
            );
        }
        running.stop().await;

        // 2. A person's save of a 10k-row file.
        let (running, dir) = start(10_000).await;
        let url = format!("ws://{}/ws", running.addr);
        let mut ws = subscribed(&url).await;
        let path = dir.path().join("data/tasks.csv");
        let mut latencies = Vec::new();
        for i in 0..saves {
            let text = std::fs::read_to_string(&path).unwrap();
            let row = 1 + (i * 397) % 10_000;
            let edited = text.replacen(&format!("\n{row},Task {row} "), &format!("\n{row},Saved {i} Task {row} "), 1);
            let temp = dir.path().join("data/tasks.csv~");
            std::fs::write(&temp, edited).unwrap();
            let saved = Instant::now();
            std::fs::rename(&temp, &path).unwrap();
            loop {
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "change" && v["id"] == row as u64 {
                            latencies.push(saved.elapsed());
                            break;
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    other => panic!("no change for the save of row {row}: {other:?}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(700)).await; // let the fold of the previous save pass
        }
        latencies.sort();
        println!("\n## a person's save of tasks.csv (10,000 rows) to the change at a client, {saves} saves\n");
        println!("| p50 ms | p99 ms | max ms |");
        println!("|---:|---:|---:|");
        println!(
            "| {:.1} | {:.1} | {:.1} |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
        running.stop().await;
    });
}
