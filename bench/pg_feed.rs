//! Two servers on one PostgreSQL database: how long a change made through server A
//! takes to reach a WebSocket client of server B.
//!
//! Run: `cargo bench --bench pg_feed [-- --patches 500 --gap-ms 20]`, with
//! `BENCH_DATABASE_URL` naming a PostgreSQL server (default
//! `postgres://postgres@127.0.0.1:5432/test`); a database `tb_bench_feed` is made
//! afresh on it. PATCHes on A follow one another `--gap-ms` apart; the latency is from
//! each PATCH's response (and from its request) to B's client receiving the change.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::Message;

#[path = "support.rs"]
mod support;
use support::{arg, percentile};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let patches = arg(&args, "--patches", 500);
    let gap = Duration::from_millis(arg(&args, "--gap-ms", 20) as u64);
    let server = std::env::var("BENCH_DATABASE_URL").unwrap_or("postgres://postgres@127.0.0.1:5432/test".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let mut admin = sqlx::PgConnection::connect(&server).await.expect("the PostgreSQL server answers");
        for sql in ["DROP DATABASE IF EXISTS tb_bench_feed WITH (FORCE)", "CREATE DATABASE tb_bench_feed"] {
            sqlx::raw_sql(sql).execute(&mut admin).await.unwrap();
        }
        let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut admin).await.unwrap();
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut admin).await.unwrap();
        let authority = server.rsplit_once('/').map_or(server.as_str(), |(a, _)| a).to_string();
        let url = format!("{authority}/tb_bench_feed");
        println!(
            "machine: {} cores; PostgreSQL {version}, synchronous_commit {sync}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let on_database = |c: &mut taskboard::config::Config| {
            c.db_postgresql.enabled = true;
            c.db_postgresql.url = taskboard::config::Secret(url.clone());
            c.cron.enabled = false;
        };
        let (a, _dir_a) = support::start(0, |i| format!("task {i}"), on_database).await;
        let (b, _dir_b) = support::start(0, |i| format!("task {i}"), on_database).await;
        let (base_a, ws_b) = (format!("http://{}", a.addr), format!("ws://{}/ws", b.addr));
        let client = reqwest::Client::new();
        let r = client.post(format!("{base_a}/api/tasks")).json(&json!({"title": "moved about"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_b).await.unwrap();
        ws.send(Message::text(json!({"type": "subscribe", "id": "s", "topic": "tasks"}).to_string())).await.unwrap();
        let receipts = tokio::spawn(async move {
            let mut got: HashMap<String, Instant> = HashMap::new();
            while got.len() < patches {
                match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "change"
                            && let Some(d) = v["after"]["description"].as_str()
                        {
                            got.insert(d.to_string(), Instant::now());
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            got
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut sent = HashMap::new();
        for i in 0..patches {
            let mark = format!("patch {i}");
            let at = Instant::now();
            let r =
                client.patch(format!("{base_a}/api/tasks/1")).json(&json!({"description": mark})).send().await.unwrap();
            assert!(r.status().is_success());
            sent.insert(mark, (at, Instant::now()));
            tokio::time::sleep(gap).await;
        }
        let got = receipts.await.unwrap();
        let (mut from_response, mut from_request) = (Vec::new(), Vec::new());
        for (mark, at) in &got {
            if let Some((request, response)) = sent.get(mark) {
                from_response.push(at.saturating_duration_since(*response));
                from_request.push(at.saturating_duration_since(*request));
            }
        }
        from_response.sort();
        from_request.sort();
        println!(
            "\n{} of {patches} changes reached B's client; PATCHes on A {} ms apart\n",
            got.len(),
            gap.as_millis()
        );
        println!("| measured from | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|");
        for (label, l) in [("the PATCH's response (A)", &from_response), ("the PATCH's request (A)", &from_request)] {
            println!(
                "| {label} | {:.2} | {:.2} | {:.2} |",
                percentile(l, 0.5),
                percentile(l, 0.99),
                l.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
            );
        }
        a.stop().await;
        b.stop().await;
    });
}
