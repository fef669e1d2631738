//! Telegram bot benchmark, against the fake Bot API of the tests
//! (tests/it/common/fake_telegram.rs) and 200 linked users.
//!
//! Run: `cargo bench --bench telegram_bot`. Arguments: `--users 200 --patches 200`.
//!
//! 1. From a commit to its notification: PATCHes assign tasks, each to another user
//!    (20 a second, within Telegram's limits); the latency is from each PATCH's
//!    response to the fake's receipt of the `sendMessage` for that user.
//! 2. The daily report for every user: from the job's run to every personal message
//!    being queued (and, for the record, to the last one sent at Telegram's 30 a second).
//! 3. A flood of 10,000 updates: the process's resident memory before, at its peak while
//!    the bot works through them, and when the flood is handled.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support.rs"]
mod support;
use support::{arg, percentile, rss_mib};

#[path = "../tests/it/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;
use fake_telegram::FakeTelegram;

const TOKEN: &str = "7777:bench-token";
const CHAT_BASE: i64 = 500_000;

async fn health(client: &reqwest::Client, base: &str) -> Value {
    client.get(format!("{base}/api/health")).send().await.unwrap().json().await.unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let users = arg(&args, "--users", 200);
    let patches = arg(&args, "--patches", 200).min(users);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let fake = FakeTelegram::start(TOKEN).await;
        let url = fake.url.clone();
        let (running, dir) = support::start(2000, |i| format!("Repair order {i}"), move |c| {
            c.telegram.bot_token = taskboard::config::Secret(TOKEN.into());
            c.telegram.api_url = url;
            c.cron.enabled = true;
        })
        .await;
        // 200 users, each linked to a Telegram account; tasks spread over them.
        let client = reqwest::Client::new();
        let base = format!("http://{}", running.addr);
        for u in 1..=users {
            let role = if u <= 5 { "manager" } else { "member" };
            let body = json!({"username": format!("user{u}"), "role": role, "telegram_id": (CHAT_BASE + u as i64).to_string()});
            let r = client.post(format!("{base}/api/users")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
        fake.wait_for("getUpdates", Duration::from_secs(20), |_| true).await;

        // 1. Commit → notification.
        let mut latencies = Vec::new();
        for i in 0..patches {
            let user = i + 1;
            let task = 1 + i;
            let chat = CHAT_BASE + user as i64;
            let asked = Instant::now();
            let r = client
                .patch(format!("{base}/api/tasks/{task}"))
                .json(&json!({"assigned_to": user}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let sent = fake.wait_text(chat, "Assigned to you").await;
            // From the PATCH being sent: its commit is inside it, and the message may
            // well leave before the response is read.
            latencies.push(sent.at.saturating_duration_since(asked));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        latencies.sort();
        println!(
            "PATCH sent → its sendMessage received, {} assignments to {} users at 20/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len(),
            patches,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
        // Let the outbox settle (each chat's next message waits a second).
        tokio::time::sleep(Duration::from_secs(2)).await;

        // 2. The daily report.
        let before = health(&client, &base).await["components"]["telegram"].clone();
        let start_count = before["messages_sent"].as_u64().unwrap() + before["queued"].as_u64().unwrap();
        let sent_before = fake.calls("sendMessage").len();
        let started = Instant::now();
        let r = client.post(format!("{base}/api/system/scheduler/jobs/daily_report/run")).send().await.unwrap();
        assert!(r.status().is_success());
        let queued_in = loop {
            let t = health(&client, &base).await["components"]["telegram"].clone();
            let count = t["messages_sent"].as_u64().unwrap() + t["queued"].as_u64().unwrap();
            if count >= start_count + users as u64 {
                break started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the report was not queued: {t}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        while fake.calls("sendMessage").len() < sent_before + users {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all_sent = started.elapsed();
        let sends: Vec<Instant> = fake.calls("sendMessage")[sent_before..].iter().map(|c| c.at).collect();
        let busiest = sends
            .iter()
            .map(|t| sends.iter().filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1)).count())
            .max()
            .unwrap_or(0);
        println!(
            "daily report for {users} users: generated and queued in {:.0} ms; all sent in {:.1} s; at most {busiest} sends in any second",
            queued_in.as_secs_f64() * 1e3,
            all_sent.as_secs_f64()
        );

        // 3. Floods of updates, one after the other: the second finds the outbox full.
        for round in 1..=2 {
            let rss_before = rss_mib();
            let handled_before =
                health(&client, &base).await["components"]["telegram"]["updates_handled"].as_u64().unwrap();
            let flood = 10_000;
            let started = Instant::now();
            for i in 0..flood {
                fake.message(CHAT_BASE + 1 + (i % users) as i64, None, "/tasks");
            }
            let mut peak = rss_before;
            loop {
                peak = peak.max(rss_mib());
                let t = health(&client, &base).await["components"]["telegram"].clone();
                if t["updates_handled"].as_u64().unwrap() >= handled_before + flood as u64 {
                    println!(
                        "flood {round}: {flood} updates handled in {:.1} s; outbox then {} queued (cap {}), {} dropped in all",
                        started.elapsed().as_secs_f64(),
                        t["queued"],
                        taskboard::bot::outbox::QUEUE_LIMIT,
                        t["messages_failed"]
                    );
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(300), "the flood was not handled: {t}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!(
                "flood {round}: resident memory of the process (server, bot and the fake Bot API) {rss_before:.1} MiB before, {peak:.1} MiB at the peak, {:.1} MiB after",
                rss_mib()
            );
        }
        running.stop().await;
        drop(dir);
    });
}
