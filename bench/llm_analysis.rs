//! AI analysis benchmark: the cache, the sharing of one upstream call, and the rest of
//! the server while analyses wait. taskboard and a fake OpenAI-compatible server run in
//! this process (2 tokio workers), the load from reqwest clients in the same process.
//!
//! Run: `cargo bench --bench llm_analysis` (arguments: `--rows 2000 --secs 5`).
//!
//! 1. A cached analysis: 64 clients ask for the same analysed task in a loop; req/s,
//!    p50 and p99 from the clients' side.
//! 2. 100 concurrent requests for the same uncached task: how many upstream calls.
//! 3. `GET /api/tasks/{id}` from 32 clients, alone and then while 50 analyses of
//!    different tasks wait on an upstream that answers after 20 s: the ratio of the two.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use warp::Filter;

#[path = "support.rs"]
mod support;
use support::{arg, percentile};

fn answer() -> String {
    json!({"summary": "s", "suggested_priority": "high", "priority_rationale": "r", "risk_flags": [],
        "subtasks": [{"title": "t", "estimate_hours": 1}], "effort": {"size": "S", "hours_min": 1, "hours_max": 2, "confidence": 0.5},
        "possible_duplicates": [], "clarifying_questions": []})
    .to_string()
}

/// A fake chat-completions server that answers after `delay` (in ms, changeable) and
/// counts the calls.
async fn fake(calls: Arc<AtomicU64>, delay_ms: Arc<AtomicU64>) -> String {
    let route = warp::path!("v1" / "chat" / "completions").and(warp::post()).then(move || {
        let (calls, delay_ms) = (calls.clone(), delay_ms.clone());
        async move {
            calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(delay_ms.load(Ordering::Relaxed))).await;
            warp::reply::json(
                &json!({"model": "fake", "choices": [{"message": {"role": "assistant", "content": answer()}}]}),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}/v1")
}

async fn start(rows: usize, llm_url: String) -> (taskboard::app::Running, tempfile::TempDir) {
    let title = |i: usize| format!("Repair printer {} on floor {}", i % 97, i % 7);
    support::start(rows, title, |config| {
        config.llm.base_url = llm_url;
        config.llm.api_key = taskboard::config::Secret("sk-bench".into());
        config.llm.timeout_seconds = 60;
        config.security.rate_limiting.llm_requests_per_day = 1_000_000;
    })
    .await
}

/// `clients` loops of `request` for `secs`: req/s and the sorted latencies.
async fn load<F, Fut>(clients: usize, secs: u64, request: F) -> (f64, Vec<Duration>)
where
    F: Fn(reqwest::Client, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for n in 0..clients {
        let (client, request) = (client.clone(), request.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = n;
            while Instant::now() < end {
                let t = Instant::now();
                assert!(request(client.clone(), i).await, "a request failed");
                seen.push(t.elapsed());
                i += clients;
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    (all.len() as f64 / secs as f64, all)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = arg(&args, "--rows", 2000);
    let secs = arg(&args, "--secs", 5) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        println!("machine: {} cores; {rows} tasks; {secs} s per load", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let (calls, delay) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(50)));
        let url = fake(calls.clone(), delay.clone()).await;
        let (running, _dir) = start(rows, url).await;
        let base = format!("http://{}", running.addr);
        let analyze = |base: String, id: usize| {
            move |client: reqwest::Client, _: usize| {
                let url = format!("{base}/api/tasks/{id}/analyze");
                async move {
                    let r = client.post(url).send().await.unwrap();
                    // A byte search, not a parse: the load comes from this process too.
                    let ok = r.status() == 200;
                    let body = r.bytes().await.unwrap();
                    ok && body.windows(14).any(|w| w == br#""source":"llm""#)
                }
            }
        };

        // 1. Cached.
        assert!(analyze(base.clone(), 1)(reqwest::Client::new(), 0).await);
        let before = calls.load(Ordering::Relaxed);
        let (rps, lat) = load(64, secs, analyze(base.clone(), 1)).await;
        println!(
            "\n1. cached analysis, 64 clients: {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, upstream calls during it: {}",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            calls.load(Ordering::Relaxed) - before
        );

        // 2. 100 at once for one uncached task (upstream answers after 200 ms).
        delay.store(200, Ordering::Relaxed);
        let before = calls.load(Ordering::Relaxed);
        let client = reqwest::Client::builder().pool_max_idle_per_host(100).build().unwrap();
        let asks: Vec<_> = (0..100).map(|_| tokio::spawn(analyze(base.clone(), 2)(client.clone(), 0))).collect();
        let mut ok = 0;
        for a in asks {
            ok += a.await.unwrap() as usize;
        }
        println!("2. 100 concurrent requests for one uncached task: {ok} answered from the model, {} upstream call(s)", calls.load(Ordering::Relaxed) - before);

        // 3. Reads alone, then while 50 analyses wait on a slow upstream.
        let read = |base: String| {
            move |client: reqwest::Client, i: usize| {
                let url = format!("{base}/api/tasks/{}", i % rows + 1);
                async move { client.get(url).send().await.unwrap().status() == 200 }
            }
        };
        let (alone, lat_alone) = load(32, secs, read(base.clone())).await;
        delay.store(20_000, Ordering::Relaxed);
        let waiting: Vec<_> = (0..50).map(|i| tokio::spawn(analyze(base.clone(), 100 + i)(reqwest::Client::new(), 0))).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (busy, lat_busy) = load(32, secs, read(base.clone())).await;
        println!(
            "3. GET /api/tasks/{{id}}, 32 clients: alone {alone:.0} req/s (p99 {:.2} ms); with 50 analyses waiting {busy:.0} req/s (p99 {:.2} ms); ratio {:.2}",
            percentile(&lat_alone, 0.99),
            percentile(&lat_busy, 0.99),
            busy / alone
        );
        // The 50 are still waiting on the upstream; a stop would wait for them.
        for w in waiting {
            w.abort();
        }
        drop(running);
        std::process::exit(0);
    });
}
